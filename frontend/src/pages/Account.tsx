import { useState } from 'react';
import { useSession } from '../auth/session';
import { checks, collect, Field, FormAlert, useForm } from '../components/form';
import { Async, ConfirmButton, Empty, ErrorBox, PageHeader, useLoad } from '../components/ui';
import { useI18n } from '../i18n/i18n';
import { TwoFactorCard } from './TwoFactor';

export function AccountPage() {
  const { t } = useI18n();
  const { user } = useSession();
  return (
    <>
      <PageHeader title={t('account.title')} />
      <section className="card">
        <dl className="facts">
          <dt>{t('field.name')}</dt>
          <dd>{user?.name || '—'}</dd>
          <dt>{t('field.email')}</dt>
          <dd>{user?.email}</dd>
          <dt>{t('field.role')}</dt>
          <dd>{user ? t(`role.${user.role}`) : ''}</dd>
        </dl>
      </section>
      <PasswordForm />
      <TwoFactorCard />
      <Sessions />
    </>
  );
}

function PasswordForm() {
  const { t } = useI18n();
  const { api } = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [done, setDone] = useState(false);
  const form = useForm(['current_password', 'new_password']);
  const c = checks(t);
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setDone(false);
    const ok = await form.submit(
      () => collect([['current_password', c.required(current)], ['new_password', c.password(next)]]),
      () => api.changePassword({ current_password: current, new_password: next }),
    );
    if (ok) {
      setDone(true);
      setCurrent('');
      setNext('');
    }
  };
  return (
    <section className="card">
      <h2>{t('account.password')}</h2>
      <form onSubmit={onSubmit} noValidate>
        <FormAlert messages={form.general} />
        {done && (
          <div className="alert ok" role="status">
            {t('account.password_changed')}
          </div>
        )}
        <Field label={t('field.current_password')} name="current_password" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} error={form.errors.current_password} />
        <Field
          label={t('field.new_password')}
          name="new_password"
          type="password"
          autoComplete="new-password"
          value={next}
          onChange={(e) => setNext(e.target.value)}
          error={form.errors.new_password}
          hint={t('form.password_hint')}
        />
        <button className="btn primary" type="submit" disabled={form.busy}>
          {t('account.change_password')}
        </button>
      </form>
    </section>
  );
}

function Sessions() {
  const { t, dt } = useI18n();
  const { api, logout } = useSession();
  const sessions = useLoad(() => api.sessions(), []);
  const [err, setErr] = useState<unknown>(null);
  return (
    <section className="card">
      <h2>{t('account.sessions')}</h2>
      {err ? <ErrorBox error={err} /> : null}
      <Async value={sessions}>
        {(list) =>
          list.length === 0 ? (
            <Empty>{t('account.no_sessions')}</Empty>
          ) : (
            <ul className="rows" data-testid="sessions">
              {list.map((s) => (
                <li key={s.id} className="row">
                  <div className="grow">
                    <strong className="ua">{s.user_agent || t('account.unknown_device')}</strong>{' '}
                    {s.current && <span className="badge ok">{t('account.this_session')}</span>}
                    <div className="muted small">
                      {s.ip} · {t('account.last_used', { when: dt(s.last_used_at) })}
                    </div>
                  </div>
                  <ConfirmButton
                    label={s.current ? t('auth.logout') : t('account.revoke')}
                    confirm={t('account.revoke_confirm')}
                    onConfirm={async () => {
                      setErr(null);
                      if (s.current) return logout();
                      try {
                        await api.revokeSession(s.id);
                      } catch (e) {
                        setErr(e);
                      }
                      await sessions.reload();
                    }}
                  />
                </li>
              ))}
            </ul>
          )
        }
      </Async>
    </section>
  );
}
