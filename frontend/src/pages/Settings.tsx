import { useEffect, useMemo, useState } from 'react';
import { FEATURES, LANGUAGES, type Tenant } from '../api/types';
import { useApi } from '../auth/session';
import { checks, collect, Field, FieldError, FormAlert, useForm } from '../components/form';
import { Async, PageHeader, useLoad } from '../components/ui';
import { useI18n } from '../i18n/i18n';

function timeZones(): string[] {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (k: string) => string[] };
  try {
    return intl.supportedValuesOf?.('timeZone') ?? [];
  } catch {
    return [];
  }
}

export function SettingsPage() {
  const { t } = useI18n();
  const api = useApi();
  const tenant = useLoad(() => api.tenant(), []);
  return (
    <>
      <PageHeader title={t('settings.title')} />
      <Async value={tenant}>{(v) => <SettingsForm tenant={v} onSaved={tenant.setData} />}</Async>
    </>
  );
}

function SettingsForm({ tenant, onSaved }: { tenant: Tenant; onSaved: (t: Tenant) => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [name, setName] = useState(tenant.name);
  const [timezone, setTimezone] = useState(tenant.timezone);
  const [languages, setLanguages] = useState<string[]>(tenant.languages);
  const [defaultLanguage, setDefaultLanguage] = useState(tenant.default_language);
  const [features, setFeatures] = useState<Record<string, boolean>>(tenant.features ?? {});
  const [saved, setSaved] = useState(false);
  const zones = useMemo(timeZones, []);
  // Server field names such as "languages[1]" and "features.crm" are shown under their group.
  const aliases = useMemo(() => {
    const a: Record<string, string> = {};
    for (let i = 0; i < 4; i++) a[`languages[${i}]`] = 'languages';
    for (const f of FEATURES) a[`features.${f}`] = 'features';
    return a;
  }, []);
  const form = useForm(['name', 'timezone', 'languages', 'default_language', 'features'], aliases);
  const c = checks(t);

  useEffect(() => {
    if (!languages.includes(defaultLanguage) && languages.length) setDefaultLanguage(languages[0]);
  }, [languages, defaultLanguage]);

  const toggleLang = (l: string) => setLanguages((ls) => (ls.includes(l) ? ls.filter((x) => x !== l) : [...ls, l]));

  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const ok = await form.submit(
      () =>
        collect([
          ['name', c.required(name)],
          ['timezone', c.required(timezone)],
          ['languages', languages.length ? '' : t('settings.need_language')],
        ]),
      async () => {
        onSaved(await api.updateTenant({ name: name.trim(), timezone: timezone.trim(), languages, default_language: defaultLanguage, features }));
      },
    );
    setSaved(ok);
  };

  return (
    <form onSubmit={onSubmit} noValidate data-testid="settings-form">
      <section className="card">
        <h2>{t('settings.general')}</h2>
        <FormAlert messages={form.general} />
        <Field label={t('field.company')} name="name" value={name} onChange={(e) => setName(e.target.value)} error={form.errors.name} />
        <Field
          label={t('field.timezone')}
          name="timezone"
          list="tz-list"
          value={timezone}
          onChange={(e) => setTimezone(e.target.value)}
          error={form.errors.timezone}
          hint={t('settings.timezone_hint')}
        />
        <datalist id="tz-list">
          {zones.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
        <fieldset className="field">
          <legend>{t('field.languages')}</legend>
          <div className="choices">
            {LANGUAGES.map((l) => (
              <label key={l} className="check">
                <input type="checkbox" name={`lang-${l}`} checked={languages.includes(l)} onChange={() => toggleLang(l)} />
                {t(`lang.${l}`)}
              </label>
            ))}
          </div>
          <FieldError name="languages" error={form.errors.languages} />
        </fieldset>
        <div className="field">
          <label htmlFor="default-language">{t('field.default_language')}</label>
          <select id="default-language" name="default_language" value={defaultLanguage} onChange={(e) => setDefaultLanguage(e.target.value)}>
            {languages.map((l) => (
              <option key={l} value={l}>
                {t(`lang.${l as 'ru' | 'en'}`)}
              </option>
            ))}
          </select>
          <FieldError name="default_language" error={form.errors.default_language} />
        </div>
      </section>
      <section className="card">
        <h2>{t('settings.features')}</h2>
        <p className="muted">{t('settings.features_lead')}</p>
        <ul className="toggles">
          {FEATURES.map((f) => (
            <li key={f}>
              <label className="switch">
                <input
                  type="checkbox"
                  name={`feature-${f}`}
                  checked={!!features[f]}
                  onChange={(e) => setFeatures({ ...features, [f]: e.target.checked })}
                />
                <span className="switch-label">
                  <strong>{t(`feature.${f}`)}</strong>
                  <span className="muted small">{t(`feature.${f}.about`)}</span>
                </span>
              </label>
            </li>
          ))}
        </ul>
        <FieldError name="features" error={form.errors.features} />
      </section>
      <div className="sticky-actions">
        <button className="btn primary" type="submit" disabled={form.busy}>
          {form.busy ? t('common.wait') : t('common.save')}
        </button>
        {saved && (
          <span className="ok-text" role="status">
            {t('common.saved')}
          </span>
        )}
      </div>
    </form>
  );
}
