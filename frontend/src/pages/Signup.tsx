import { useState } from 'react';
import { Link, Navigate, useNavigate } from 'react-router-dom';
import { useSession } from '../auth/session';
import { checks, collect, Field, FormAlert, useForm } from '../components/form';
import { PublicLayout } from '../components/Layout';
import { useI18n } from '../i18n/i18n';

export function SignupPage() {
  const { t, lang } = useI18n();
  const { api, adopt, state } = useSession();
  const nav = useNavigate();
  const [v, setV] = useState({ company: '', name: '', email: '', password: '' });
  const form = useForm(['company', 'name', 'email', 'password']);
  const c = checks(t);
  if (state.status === 'authed') return <Navigate to="/" replace />;
  const set = (k: keyof typeof v) => (e: React.ChangeEvent<HTMLInputElement>) => setV({ ...v, [k]: e.target.value });

  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    await form.submit(
      () => collect([['company', c.required(v.company)], ['email', c.email(v.email)], ['password', c.password(v.password)]]),
      async () => {
        const out = await api.signup({ company: v.company.trim(), name: v.name.trim(), email: v.email.trim(), password: v.password, language: lang });
        await adopt(out, out.user);
        nav('/', { replace: true });
      },
    );
  };

  return (
    <PublicLayout>
      <h1>{t('auth.signup.title')}</h1>
      <p className="muted">{t('auth.signup.lead')}</p>
      <form onSubmit={onSubmit} noValidate>
        <FormAlert messages={form.general} />
        <Field label={t('field.company')} name="company" autoComplete="organization" value={v.company} onChange={set('company')} error={form.errors.company} />
        <Field label={t('field.your_name')} name="name" autoComplete="name" value={v.name} onChange={set('name')} error={form.errors.name} />
        <Field label={t('field.email')} name="email" type="email" autoComplete="email" value={v.email} onChange={set('email')} error={form.errors.email} />
        <Field
          label={t('field.password')}
          name="password"
          type="password"
          autoComplete="new-password"
          value={v.password}
          onChange={set('password')}
          error={form.errors.password}
          hint={t('form.password_hint')}
        />
        <button className="btn primary block" type="submit" disabled={form.busy}>
          {form.busy ? t('common.wait') : t('auth.signup.submit')}
        </button>
      </form>
      <p className="links">
        <Link to="/login">{t('auth.signup.to_login')}</Link>
      </p>
    </PublicLayout>
  );
}
