// Two-factor sign-in on the account page: turn it on (password → QR code
// and secret for an authenticator app → a first code) or off (password and
// a current code). The secret is shown once, while setting up.
import { useState } from 'react';
import type { TotpSetup } from '../api/types';
import { useSession } from '../auth/session';
import { checks, collect, Field, FormAlert, useForm } from '../components/form';
import { isMissingRoute } from '../components/support';
import { Async, useLoad } from '../components/ui';
import { useI18n, type T } from '../i18n/i18n';

const CODE_RE = /^\d{6}$/;
const codeError = (t: T, code: string) => (CODE_RE.test(code.trim()) ? '' : t('auth.totp.code_rule'));

export function TwoFactorCard() {
  const { t, dt } = useI18n();
  const { api } = useSession();
  const status = useLoad(() => api.totpStatus(), []);
  const [setup, setSetup] = useState<TotpSetup | null>(null);
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [note, setNote] = useState('');
  const form = useForm(['password', 'code']);
  const c = checks(t);
  if (status.error && isMissingRoute(status.error)) return null; // a server without two-factor sign-in

  const start = async (e: React.FormEvent) => {
    e.preventDefault();
    setNote('');
    await form.submit(
      () => collect([['password', c.required(password)]]),
      async () => {
        setSetup(await api.totpStart(password));
        setPassword('');
      },
    );
  };
  const confirm = async (e: React.FormEvent) => {
    e.preventDefault();
    const ok = await form.submit(
      () => collect([['code', codeError(t, code)]]),
      () => api.totpConfirm(code.trim()),
    );
    if (ok) {
      setSetup(null);
      setCode('');
      setNote(t('account.totp.turned_on'));
      await status.reload();
    }
  };
  const disable = async (e: React.FormEvent) => {
    e.preventDefault();
    setNote('');
    const ok = await form.submit(
      () => collect([['password', c.required(password)], ['code', codeError(t, code)]]),
      () => api.totpDisable(password, code.trim()),
    );
    if (ok) {
      setPassword('');
      setCode('');
      setNote(t('account.totp.turned_off'));
      await status.reload();
    }
  };
  const codeField = (
    <Field label={t('auth.totp.code')} name="code" inputMode="numeric" autoComplete="one-time-code" maxLength={6}
      value={code} onChange={(e) => setCode(e.target.value)} error={form.errors.code} />
  );
  const passwordField = (
    <Field label={t('field.current_password')} name="password" type="password" autoComplete="current-password"
      value={password} onChange={(e) => setPassword(e.target.value)} error={form.errors.password} />
  );

  return (
    <section className="card" data-testid="totp">
      <h2>{t('account.totp.title')}</h2>
      {note && (
        <div className="alert ok" role="status">
          {note}
        </div>
      )}
      <Async value={status}>
        {(st) =>
          st.enabled ? (
            <form onSubmit={disable} noValidate>
              <p>
                <span className="badge ok">{t('account.totp.on')}</span>{' '}
                {st.enabled_at && <span className="muted small">{t('account.totp.since', { at: dt(st.enabled_at) })}</span>}
              </p>
              <p className="muted small">{t('account.totp.off_lead')}</p>
              <FormAlert messages={form.general} />
              {passwordField}
              {codeField}
              <button className="btn danger" type="submit" disabled={form.busy}>
                {t('account.totp.turn_off')}
              </button>
            </form>
          ) : setup ? (
            <form onSubmit={confirm} noValidate data-testid="totp-setup">
              <p>{t('account.totp.scan')}</p>
              <img className="qr" src={`data:image/png;base64,${setup.qr_png_base64}`} alt={t('account.totp.qr')} width={200} height={200} />
              <p className="muted small">
                {t('account.totp.secret')} <code className="break" data-testid="totp-secret">{setup.secret}</code>
              </p>
              <FormAlert messages={form.general} />
              {codeField}
              <button className="btn primary" type="submit" disabled={form.busy}>
                {t('account.totp.confirm')}
              </button>
            </form>
          ) : (
            <form onSubmit={start} noValidate>
              <p className="muted small">{t('account.totp.lead')}</p>
              <FormAlert messages={form.general} />
              {passwordField}
              <button className="btn" type="submit" disabled={form.busy}>
                {t('account.totp.turn_on')}
              </button>
            </form>
          )
        }
      </Async>
    </section>
  );
}
