import { useState } from 'react';
import { useNavigate, useParams } from 'react-router-dom';
import { useSession } from '../auth/session';
import { checks, collect, Field, FormAlert, useForm } from '../components/form';
import { PublicLayout } from '../components/Layout';
import { useI18n } from '../i18n/i18n';

export function AcceptInvitePage() {
  const { token = '' } = useParams();
  const { t } = useI18n();
  const { api, adopt, state, logout } = useSession();
  const nav = useNavigate();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const form = useForm(['name', 'password']);
  const c = checks(t);

  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    await form.submit(
      () => collect([['name', c.required(name)], ['password', c.password(password)]]),
      async () => {
        const out = await api.acceptInvite({ token, name: name.trim(), password });
        await adopt(out, out.user);
        nav('/', { replace: true });
      },
    );
  };

  return (
    <PublicLayout>
      <h1>{t('invite.accept.title')}</h1>
      <p className="muted">{t('invite.accept.lead')}</p>
      {state.status === 'authed' && (
        <div className="alert info" role="status">
          {t('invite.accept.logged_in', { email: state.user.email })}{' '}
          <button type="button" className="btn small" onClick={() => void logout()}>
            {t('auth.logout')}
          </button>
        </div>
      )}
      <form onSubmit={onSubmit} noValidate>
        <FormAlert messages={form.general} />
        <Field label={t('field.your_name')} name="name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} error={form.errors.name} />
        <Field
          label={t('field.password')}
          name="password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={form.errors.password}
          hint={t('form.password_hint')}
        />
        <button className="btn primary block" type="submit" disabled={form.busy || state.status === 'authed'}>
          {form.busy ? t('common.wait') : t('invite.accept.submit')}
        </button>
      </form>
    </PublicLayout>
  );
}
