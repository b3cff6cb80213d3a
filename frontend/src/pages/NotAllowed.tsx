import { Link } from 'react-router-dom';
import { useI18n } from '../i18n/i18n';

export function NotAllowed() {
  const { t } = useI18n();
  return (
    <section className="notice" data-testid="not-allowed">
      <h1>{t('notallowed.title')}</h1>
      <p>{t('notallowed.text')}</p>
      <Link className="btn" to="/">
        {t('common.home')}
      </Link>
    </section>
  );
}
