import { Link } from 'react-router-dom';
import { allowed } from '../auth/nav';
import { useApi, useSession } from '../auth/session';
import { Loading, PageHeader, useLoad } from '../components/ui';
import { useI18n } from '../i18n/i18n';

export function HomePage() {
  const { t } = useI18n();
  const { user } = useSession();
  const api = useApi();
  const admin = allowed(user?.role, 'admin');
  const tenant = useLoad(() => api.tenant(), []);
  const bots = useLoad(() => (admin ? api.bots() : Promise.resolve([])), [admin]);
  return (
    <>
      <PageHeader title={tenant.data?.name ?? t('nav.home')} />
      <p>{t('home.hello', { name: user?.name || user?.email || '' })}</p>
      {admin && (
        <section className="card">
          <h2>{t('home.start')}</h2>
          {bots.loading && !bots.data ? (
            <Loading />
          ) : (
            <ol className="checklist">
              <li className={bots.data?.length ? 'done' : ''}>
                <Link to="/bots">{t('home.step_bot')}</Link>
                {bots.data?.length ? ` — ${t('home.bots_connected', { n: bots.data.length })}` : ''}
              </li>
              <li>
                <Link to="/support/staff-groups">{t('home.step_staff')}</Link>
              </li>
              <li>
                <Link to="/team">{t('home.step_team')}</Link>
              </li>
              <li>
                <Link to="/settings">{t('home.step_settings')}</Link>
              </li>
              <li>
                <Link to="/settings/texts">{t('home.step_texts')}</Link>
              </li>
            </ol>
          )}
        </section>
      )}
      {!admin && (
        <section className="card">
          <p>{t('home.agent')}</p>
        </section>
      )}
    </>
  );
}
