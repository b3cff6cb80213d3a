import { useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useSession } from '../auth/session';
import { checks, collect, Field, FormAlert, useForm } from '../components/form';
import { PublicLayout } from '../components/Layout';
import { useI18n } from '../i18n/i18n';

export function ResetRequestPage() {
  const { t } = useI18n();
  const { api } = useSession();
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const form = useForm(['email']);
  const c = checks(t);
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    await form.submit(
      () => collect([['email', c.email(email)]]),
      async () => {
        await api.requestReset(email.trim());
        setSent(true);
      },
    );
  };
  return (
    <PublicLayout>
      <h1>{t('reset.title')}</h1>
      {sent ? (
        <div className="alert ok" role="status">
          {t('reset.sent')}
        </div>
      ) : (
        <form onSubmit={onSubmit} noValidate>
          <p className="muted">{t('reset.lead')}</p>
          <FormAlert messages={form.general} />
          <Field label={t('field.email')} name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={form.errors.email} />
          <button className="btn primary block" type="submit" disabled={form.busy}>
            {t('reset.submit')}
          </button>
        </form>
      )}
      <p className="links">
        <Link to="/login">{t('auth.signup.to_login')}</Link>
      </p>
    </PublicLayout>
  );
}

export function ResetConfirmPage() {
  const { token = '' } = useParams();
  const { t } = useI18n();
  const { api } = useSession();
  const [password, setPassword] = useState('');
  const [done, setDone] = useState(false);
  const form = useForm(['password']);
  const c = checks(t);
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    await form.submit(
      () => collect([['password', c.password(password)]]),
      async () => {
        await api.confirmReset(token, password);
        setDone(true);
      },
    );
  };
  return (
    <PublicLayout>
      <h1>{t('reset.confirm_title')}</h1>
      {done ? (
        <div className="alert ok" role="status">
          {t('reset.done')} <Link to="/login">{t('auth.login.submit')}</Link>
        </div>
      ) : (
        <form onSubmit={onSubmit} noValidate>
          <FormAlert messages={form.general} />
          <Field
            label={t('field.new_password')}
            name="password"
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            error={form.errors.password}
            hint={t('form.password_hint')}
          />
          <button className="btn primary block" type="submit" disabled={form.busy}>
            {t('reset.confirm_submit')}
          </button>
        </form>
      )}
    </PublicLayout>
  );
}
