// Operator: bots across tenants whose webhooks are unhealthy (or all of them).
import { useState } from 'react';
import { useApi } from '../../auth/session';
import { usePoll } from '../../components/support';
import { Async, Empty, PageHeader, useLoad } from '../../components/ui';
import { useI18n } from '../../i18n/i18n';

export function WebhooksPage() {
  const { t, dt } = useI18n();
  const api = useApi();
  const [all, setAll] = useState(false);
  const bots = useLoad(() => api.opsBots(!all), [all]);
  usePoll(() => void bots.reload(), 15000);
  return (
    <>
      <PageHeader title={t('ops.bots.title')}>
        <button type="button" className="btn small" onClick={() => void bots.reload()}>
          {t('common.refresh')}
        </button>
      </PageHeader>
      <p className="muted">{t('ops.bots.about')}</p>
      <section className="card">
        <label className="check">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> {t('ops.bots.show_all')}
        </label>
        <Async value={bots}>
          {(list) =>
            list.length === 0 ? (
              <Empty>{t(all ? 'ops.bots.none' : 'ops.bots.none_unhealthy')}</Empty>
            ) : (
              <div className="table-wrap">
                <table className="table" data-testid="ops-bots">
                  <thead>
                    <tr>
                      <th>{t('ops.bot')}</th>
                      <th>{t('ops.tenant')}</th>
                      <th>{t('ops.health')}</th>
                      <th className="num">{t('ops.backlog')}</th>
                      <th>{t('ops.last_error')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((b) => (
                      <tr key={b.bot_id} data-bot={b.bot_id}>
                        <td data-label={t('ops.bot')}>
                          <strong className="break">{b.username ? `@${b.username}` : b.bot_id}</strong>
                          <div className="muted small">
                            {b.bot_id} · {b.status}
                          </div>
                        </td>
                        <td data-label={t('ops.tenant')}>
                          <span className="break">{b.tenant_name}</span>
                        </td>
                        <td data-label={t('ops.health')}>
                          <span className={`badge ${b.healthy ? 'ok' : 'warn'}`} data-testid="health">
                            {b.healthy ? t('ops.healthy') : t('ops.unhealthy')}
                          </span>
                        </td>
                        <td className="num" data-label={t('ops.backlog')}>{b.pending_update_count}</td>
                        <td className="small">
                          {b.last_error_message ? (
                            <>
                              <span className="break">{b.last_error_message}</span>
                              <div className="muted">{dt(b.last_error_date)}</div>
                            </>
                          ) : null}
                          {b.check_error ? <div className="text-danger break">{t('ops.check_failed', { error: b.check_error })}</div> : null}
                          {!b.last_error_message && !b.check_error ? '—' : null}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </Async>
      </section>
    </>
  );
}
