import { useEffect, useState } from 'react';
import { Link, Navigate, useLocation, useNavigate, useSearchParams } from 'react-router-dom';
import { ApiError, isApiError } from '../api/problem';
import { homeFor } from '../auth/nav';
import { useSession } from '../auth/session';
import { checks, collect, Field, FormAlert, useForm } from '../components/form';
import { PublicLayout } from '../components/Layout';
import { useI18n } from '../i18n/i18n';
import type { MessageKey } from '../i18n/messages';

const REASONS: Record<string, MessageKey> = {
  logged_out: 'auth.reason.logged_out',
  refresh_reused: 'auth.reason.refresh_reused',
  session_revoked: 'auth.reason.session_revoked',
  refresh_expired: 'auth.reason.expired',
  invalid_refresh_token: 'auth.reason.expired',
};

/** Only same-site paths are followed after login (no open redirect). */
export function safeNext(next: string | null): string | null {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return null;
  return next;
}

export function LoginPage() {
  const { t } = useI18n();
  const { login, state } = useSession();
  const nav = useNavigate();
  const loc = useLocation();
  const [params] = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  // Two-factor sign-in: the server answered totp_required, so ask for the app's code.
  const [needCode, setNeedCode] = useState(false);
  const [waitUntil, setWaitUntil] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  const form = useForm(['email', 'password', 'totp_code']);
  const c = checks(t);
  const reason = (loc.state as { reason?: string } | null)?.reason ?? (state.status === 'anon' ? state.reason : undefined);

  // Count down a throttle (429 Retry-After) so people see when to try again.
  useEffect(() => {
    if (waitUntil <= now) return;
    const id = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(id);
  }, [waitUntil, now]);
  const wait = Math.max(0, Math.ceil((waitUntil - now) / 1000));

  if (state.status === 'authed') {
    return <Navigate to={safeNext(params.get('next')) ?? homeFor(state.user.role)} replace />;
  }

  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    await form.submit(
      () =>
        collect([
          ['email', c.email(email)],
          ['password', password ? '' : t('form.required')],
          ['totp_code', needCode && !/^\d{6}$/.test(code.trim()) ? t('auth.totp.code_rule') : ''],
        ]),
      async () => {
        try {
          const user = await login(email.trim(), password, needCode ? code.trim() : undefined);
          nav(safeNext(params.get('next')) ?? homeFor(user.role), { replace: true });
        } catch (err) {
          if (isApiError(err) && err.code === 'totp_required') {
            setNeedCode(true);
            return; // not a mistake: the next step asks for the code
          }
          if (isApiError(err) && err.code === 'invalid_totp') {
            setCode('');
            throw new ApiError({ status: err.status, code: err.code, detail: err.detail, errors: [{ field: 'totp_code', code: err.code, message: err.detail }] });
          }
          if (isApiError(err) && err.status === 429) {
            const secs = err.retryAfter && err.retryAfter > 0 ? err.retryAfter : 60;
            const at = Date.now(); // one clock reading, so the countdown starts at exactly secs
            setNow(at);
            setWaitUntil(at + secs * 1000);
          }
          throw err;
        }
      },
    );
  };

  return (
    <PublicLayout>
      <h1>{t('auth.login.title')}</h1>
      {reason && REASONS[reason] && (
        <div className="alert info" role="status">
          {t(REASONS[reason])}
        </div>
      )}
      <form onSubmit={onSubmit} noValidate>
        <FormAlert messages={form.general} />
        {wait > 0 && (
          <div className="alert warn" role="status" data-testid="throttle">
            {t('auth.login.wait', { n: wait })}
          </div>
        )}
        <Field label={t('field.email')} name="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} error={form.errors.email} />
        <Field label={t('field.password')} name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} error={form.errors.password} />
        {needCode && (
          <>
            <div className="alert info" role="status" data-testid="totp-step">
              {t('auth.totp.asked')}
            </div>
            <Field
              label={t('auth.totp.code')}
              name="totp_code"
              inputMode="numeric"
              autoComplete="one-time-code"
              autoFocus
              maxLength={6}
              value={code}
              onChange={(e) => setCode(e.target.value)}
              error={form.errors.totp_code}
            />
          </>
        )}
        <button className="btn primary block" type="submit" disabled={form.busy || wait > 0}>
          {form.busy ? t('common.wait') : t('auth.login.submit')}
        </button>
      </form>
      <p className="links">
        <Link to="/signup">{t('auth.login.to_signup')}</Link> · <Link to="/reset-password">{t('auth.login.forgot')}</Link>
      </p>
    </PublicLayout>
  );
}
