import { useState } from 'react';
import { Link } from 'react-router-dom';
import { useApi } from '../auth/session';
import { Async, ConfirmButton, Empty, ErrorBox, PageHeader, useLoad } from '../components/ui';
import { useI18n } from '../i18n/i18n';

/** The operator area's start: tenants with their size and activity, suspend/activate; the other screens are in pages/ops/. */
export function OperatorPage() {
  const { t, dt } = useI18n();
  const api = useApi();
  const tenants = useLoad(() => api.opsTenants(), []);
  const [err, setErr] = useState<unknown>(null);
  return (
    <>
      <PageHeader title={t('ops.title')} />
      <section className="card">
        <h2>{t('ops.tenants')}</h2>
        {err ? <ErrorBox error={err} /> : null}
        <Async value={tenants}>
          {(list) =>
            list.length === 0 ? (
              <Empty>{t('ops.no_tenants')}</Empty>
            ) : (
              <div className="table-wrap">
                <table className="table" data-testid="ops-tenants">
                  <thead>
                    <tr>
                      <th>{t('ops.tenant')}</th>
                      <th>{t('ops.status')}</th>
                      <th className="num">{t('ops.members')}</th>
                      <th className="num">{t('ops.bots')}</th>
                      <th className="num">{t('ops.contacts')}</th>
                      <th className="num">{t('ops.events_24h')}</th>
                      <th className="num">{t('ops.events_30d')}</th>
                      <th />
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((x) => (
                      <tr key={x.id}>
                        <td data-label={t('ops.tenant')}>
                          <strong>{x.name}</strong>
                          <div className="muted small">{[x.slug, dt(x.created_at)].filter(Boolean).join(' · ')}</div>
                        </td>
                        <td data-label={t('ops.status')}>
                          <span className={`badge ${x.status === 'active' ? 'ok' : 'warn'}`}>{x.status}</span>
                        </td>
                        <td className="num" data-label={t('ops.members')}>{x.members}</td>
                        <td className="num" data-label={t('ops.bots')}>{x.bots}</td>
                        <td className="num" data-label={t('ops.contacts')}>{x.contacts}</td>
                        <td className="num" data-label={t('ops.events_24h')}>{x.events_24h}</td>
                        <td className="num" data-label={t('ops.events_30d')}>{x.events_30d}</td>
                        <td>
                          <ConfirmButton
                            className={x.status === 'active' ? 'btn small danger' : 'btn small'}
                            label={x.status === 'active' ? t('ops.suspend') : t('ops.activate')}
                            confirm={t('common.confirm')}
                            onConfirm={async () => {
                              setErr(null);
                              try {
                                await api.setTenantStatus(x.id, x.status === 'active' ? 'suspended' : 'active');
                              } catch (e) {
                                setErr(e);
                              }
                              await tenants.reload();
                            }}
                          />
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
      <div className="card row-actions" data-testid="ops-areas">
        <Link className="btn small" to="/operator/queues">{t('nav.ops_queues')}</Link>
        <Link className="btn small" to="/operator/bots">{t('nav.ops_bots')}</Link>
        <Link className="btn small" to="/operator/usage">{t('nav.ops_usage')}</Link>
      </div>
    </>
  );
}
