import { useMemo, useState } from 'react';
import type { TextEntry } from '../api/types';
import { useApi } from '../auth/session';
import { FieldError, FormAlert, useForm } from '../components/form';
import { Async, Empty, PageHeader, useLoad } from '../components/ui';
import { useI18n } from '../i18n/i18n';

const ORDER = ['ru', 'en'];

export function TextsPage() {
  const { t } = useI18n();
  const api = useApi();
  const texts = useLoad(() => api.texts(), []);
  const [q, setQ] = useState('');
  const replace = (e: TextEntry) => texts.setData((texts.data ?? []).map((x) => (x.key === e.key ? e : x)));
  return (
    <>
      <PageHeader title={t('texts.title')} />
      <p className="muted">{t('texts.lead')}</p>
      <div className="field search">
        <input type="search" placeholder={t('texts.search')} aria-label={t('texts.search')} value={q} onChange={(e) => setQ(e.target.value)} />
      </div>
      <Async value={texts}>
        {(list) => {
          const needle = q.trim().toLowerCase();
          const shown = needle
            ? list.filter((e) => e.key.toLowerCase().includes(needle) || e.description.toLowerCase().includes(needle) || Object.values(e.values).some((v) => v.value.toLowerCase().includes(needle)))
            : list;
          return shown.length === 0 ? (
            <Empty>{t('texts.none')}</Empty>
          ) : (
            <ul className="texts" data-testid="texts">
              {shown.map((e) => (
                <TextRow key={e.key} entry={e} onChange={replace} />
              ))}
            </ul>
          );
        }}
      </Async>
    </>
  );
}

function TextRow({ entry, onChange }: { entry: TextEntry; onChange: (e: TextEntry) => void }) {
  const { t } = useI18n();
  const langs = useMemo(() => [...Object.keys(entry.values)].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b)), [entry.values]);
  return (
    <li className="card text-entry" data-key={entry.key}>
      <div className="text-head">
        <code>{entry.key}</code>
        <span className="muted small">{entry.description}</span>
      </div>
      {entry.placeholders?.length > 0 && (
        <div className="placeholders small">
          {t('texts.placeholders')}{' '}
          {entry.placeholders.map((p) => (
            <code key={p} className="chip">{`{${p}}`}</code>
          ))}
        </div>
      )}
      <div className="side-by-side">
        {langs.map((l) => (
          <TextCell key={l} entry={entry} lang={l} onChange={onChange} />
        ))}
      </div>
    </li>
  );
}

function TextCell({ entry, lang, onChange }: { entry: TextEntry; lang: string; onChange: (e: TextEntry) => void }) {
  const { t } = useI18n();
  const api = useApi();
  const v = entry.values[lang];
  const [value, setValue] = useState(v.value);
  const [saved, setSaved] = useState(false);
  const form = useForm(['value']);
  const dirty = value !== v.value;
  const id = `text-${entry.key}-${lang}`;

  const save = async () => {
    setSaved(false);
    const ok = await form.submit(
      () => ({}),
      async () => {
        const next = await api.setText(entry.key, lang, value);
        if (next?.values) onChange(next);
      },
    );
    setSaved(ok);
  };
  const reset = async () => {
    setSaved(false);
    await form.submit(
      () => ({}),
      async () => {
        const next = await api.resetText(entry.key, lang);
        if (next?.values) {
          onChange(next);
          setValue(next.values[lang]?.value ?? v.default);
        } else setValue(v.default);
      },
    );
  };

  return (
    <div className="text-cell" data-lang={lang}>
      <label htmlFor={id}>
        {t(`lang.${lang as 'ru' | 'en'}`)} {v.overridden ? <span className="badge">{t('texts.custom')}</span> : <span className="badge muted">{t('texts.default')}</span>}
      </label>
      <textarea id={id} rows={Math.min(8, Math.max(2, value.split('\n').length + 1))} value={value} aria-invalid={!!form.errors.value} onChange={(e) => { setValue(e.target.value); setSaved(false); }} />
      <FieldError name="value" error={form.errors.value} />
      <FormAlert messages={form.general} />
      <div className="cell-actions">
        <button type="button" className="btn small primary" disabled={!dirty || form.busy} onClick={() => void save()}>
          {t('common.save')}
        </button>
        {v.overridden && (
          <button type="button" className="btn small ghost" disabled={form.busy} onClick={() => void reset()}>
            {t('texts.reset')}
          </button>
        )}
        {saved && !dirty && <span className="ok-text small">{t('common.saved')}</span>}
      </div>
    </div>
  );
}
