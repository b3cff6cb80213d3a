// Operator: per-tenant updates received, messages sent and failed, and 429
// answers over the last 1, 7 or 30 days.
import { useState } from 'react';
import { useApi } from '../../auth/session';
import { Async, Empty, PageHeader, useLoad } from '../../components/ui';
import { useI18n } from '../../i18n/i18n';

export const PERIODS = [
  { days: 1, label: 'ops.usage.day' },
  { days: 7, label: 'ops.usage.week' },
  { days: 30, label: 'ops.usage.month' },
] as const;

export function UsagePage() {
  const { t } = useI18n();
  const api = useApi();
  const [days, setDays] = useState(1);
  const usage = useLoad(() => api.opsUsage(days), [days]);
  return (
    <>
      <PageHeader title={t('ops.usage.title')} />
      <section className="card">
        <label className="field inline">
          <span>{t('ops.usage.period')}</span>
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {PERIODS.map((p) => (
              <option key={p.days} value={p.days}>
                {t(p.label)}
              </option>
            ))}
          </select>
        </label>
        <Async value={usage}>
          {({ tenants }) => {
            if (tenants.length === 0) return <Empty>{t('ops.usage.none')}</Empty>;
            const sum = (k: 'updates' | 'messages_sent' | 'messages_failed' | 'throttled') => tenants.reduce((n, x) => n + x[k], 0);
            const rows = [...tenants].sort((a, b) => b.updates + b.messages_sent - (a.updates + a.messages_sent) || a.tenant_name.localeCompare(b.tenant_name));
            return (
              <div className="table-wrap">
                <table className="table" data-testid="ops-usage">
                  <thead>
                    <tr>
                      <th>{t('ops.tenant')}</th>
                      <th className="num">{t('ops.usage.updates')}</th>
                      <th className="num">{t('ops.usage.sent')}</th>
                      <th className="num">{t('ops.usage.failed')}</th>
                      <th className="num">{t('ops.usage.throttled')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((x) => (
                      <tr key={x.tenant_id}>
                        <td data-label={t('ops.tenant')}>
                          <strong className="break">{x.tenant_name}</strong>
                        </td>
                        <td className="num" data-label={t('ops.usage.updates')}>{x.updates}</td>
                        <td className="num" data-label={t('ops.usage.sent')}>{x.messages_sent}</td>
                        <td className={`num${x.messages_failed > 0 ? ' text-danger' : ''}`} data-label={t('ops.usage.failed')}>{x.messages_failed}</td>
                        <td className="num" data-label={t('ops.usage.throttled')}>{x.throttled}</td>
                      </tr>
                    ))}
                    <tr className="totals">
                      <td data-label="">
                        <strong>{t('ops.usage.total')}</strong>
                      </td>
                      <td className="num" data-label={t('ops.usage.updates')}>{sum('updates')}</td>
                      <td className="num" data-label={t('ops.usage.sent')}>{sum('messages_sent')}</td>
                      <td className="num" data-label={t('ops.usage.failed')}>{sum('messages_failed')}</td>
                      <td className="num" data-label={t('ops.usage.throttled')}>{sum('throttled')}</td>
                    </tr>
                  </tbody>
                </table>
              </div>
            );
          }}
        </Async>
      </section>
    </>
  );
}
