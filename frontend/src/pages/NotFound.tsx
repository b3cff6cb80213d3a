import { Link } from 'react-router-dom';
import { useI18n } from '../i18n/i18n';

export function NotFound() {
  const { t } = useI18n();
  return (
    <section className="notice">
      <h1>{t('notfound.title')}</h1>
      <p>{t('notfound.text')}</p>
      <Link className="btn" to="/">
        {t('common.home')}
      </Link>
    </section>
  );
}
