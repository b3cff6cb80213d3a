// Agent metrics for a chosen period: a table and a small bar chart (plain SVG).
import { useState } from 'react';
import type { AgentMetrics } from '../../api/types';
import { useApi } from '../../auth/session';
import { duration, isMissingRoute } from '../../components/support';
import { Async, Empty, PageHeader, useLoad } from '../../components/ui';
import { useI18n } from '../../i18n/i18n';

const PERIODS = ['7d', '30d', '90d', 'custom'] as const;

const day = (d: Date) => d.toISOString().slice(0, 10);

/** The period as RFC 3339 [from, to): the last n days up to now, or whole local days from..to. */
export function range(period: string, fromDay: string, toDay: string, now = new Date()): [string, string] {
  if (period === 'custom' && fromDay && toDay) {
    const f = new Date(`${fromDay}T00:00:00`);
    const t = new Date(`${toDay}T00:00:00`);
    t.setDate(t.getDate() + 1);
    return [f.toISOString(), t.toISOString()];
  }
  const n = period === '30d' ? 30 : period === '90d' ? 90 : 7;
  return [new Date(now.getTime() - n * 86400_000).toISOString(), now.toISOString()];
}

export function MetricsPage() {
  const { t } = useI18n();
  const api = useApi();
  const [period, setPeriod] = useState<string>('30d');
  const [fromDay, setFromDay] = useState(day(new Date(Date.now() - 30 * 86400_000)));
  const [toDay, setToDay] = useState(day(new Date()));
  const [from, to] = range(period, fromDay, toDay);
  const key = period === 'custom' ? `${fromDay}|${toDay}` : period;
  const data = useLoad(() => api.metrics(from, to), [key]);
  return (
    <>
      <PageHeader title={t('support.metrics.title')} />
      <section className="card filters">
        <label className="filter">
          <span>{t('support.filter.period')}</span>
          <select value={period} onChange={(e) => setPeriod(e.target.value)} data-testid="metrics-period">
            {PERIODS.map((p) => (
              <option key={p} value={p}>
                {t(`support.metrics.period.${p}` as 'support.metrics.period.7d')}
              </option>
            ))}
          </select>
        </label>
        {period === 'custom' && (
          <>
            <label className="filter">
              <span>{t('support.metrics.from')}</span>
              <input type="date" value={fromDay} max={toDay} onChange={(e) => setFromDay(e.target.value)} />
            </label>
            <label className="filter">
              <span>{t('support.metrics.to')}</span>
              <input type="date" value={toDay} min={fromDay} onChange={(e) => setToDay(e.target.value)} />
            </label>
          </>
        )}
      </section>
      {data.error && isMissingRoute(data.error) ? (
        <section className="card">
          <Empty>{t('support.metrics.unavailable')}</Empty>
        </section>
      ) : (
        <Async value={data}>
          {(m) =>
            (m.agents ?? []).length === 0 ? (
              <section className="card">
                <Empty>{t('support.metrics.none')}</Empty>
              </section>
            ) : (
              <>
                <section className="card">
                  <h2>{t('support.metrics.chart')}</h2>
                  <BarChart agents={m.agents} />
                </section>
                <section className="card">
                  <MetricsTable agents={m.agents} totals={m.totals} />
                </section>
              </>
            )
          }
        </Async>
      )}
    </>
  );
}

function MetricsTable({ agents, totals }: { agents: AgentMetrics[]; totals: Partial<AgentMetrics> | undefined }) {
  const { t } = useI18n();
  const csat = (a: number | null | undefined, n: number | undefined) => (a === null || a === undefined || !n ? '—' : `${a.toFixed(1)} (${n})`);
  const cols = [t('support.metrics.handled'), t('support.metrics.first_response'), t('support.metrics.resolution'), t('support.metrics.csat')];
  return (
    <div className="table-wrap">
      <table className="table" data-testid="metrics-table">
        <thead>
          <tr>
            <th>{t('support.metrics.agent')}</th>
            {cols.map((c) => (
              <th key={c} className="num">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {agents.map((a, i) => (
            <tr key={a.user_id ?? `tg-${i}`}>
              <td className="break">{a.name || '—'}</td>
              <td className="num" data-label={cols[0]}>{a.tickets_handled}</td>
              <td className="num" data-label={cols[1]}>{duration(t, a.median_first_response_seconds)}</td>
              <td className="num" data-label={cols[2]}>{duration(t, a.median_resolution_seconds)}</td>
              <td className="num" data-label={cols[3]}>{csat(a.csat_avg, a.csat_count)}</td>
            </tr>
          ))}
          {totals && (
            <tr className="totals">
              <td>
                <strong>{t('support.metrics.total')}</strong>
              </td>
              <td className="num" data-label={cols[0]}>{totals.tickets_handled ?? '—'}</td>
              <td className="num" data-label={cols[1]}>{duration(t, totals.median_first_response_seconds)}</td>
              <td className="num" data-label={cols[2]}>{duration(t, totals.median_resolution_seconds)}</td>
              <td className="num" data-label={cols[3]}>{csat(totals.csat_avg, totals.csat_count)}</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

/** Tickets handled per agent as horizontal bars; scales to the container (viewBox), so it never overflows. */
export function BarChart({ agents }: { agents: AgentMetrics[] }) {
  const { t } = useI18n();
  const max = Math.max(1, ...agents.map((a) => a.tickets_handled));
  const row = 28;
  const labelW = 120;
  const w = 400;
  const h = agents.length * row + 4;
  return (
    <svg className="bars" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={t('support.metrics.chart')} data-testid="metrics-chart" preserveAspectRatio="xMinYMin meet">
      {agents.map((a, i) => {
        const bw = Math.max(2, ((w - labelW - 40) * a.tickets_handled) / max);
        const y = i * row + 4;
        const name = a.name.length > 16 ? `${a.name.slice(0, 15)}…` : a.name;
        return (
          <g key={a.user_id ?? `tg-${i}`}>
            <text x={labelW - 6} y={y + 14} textAnchor="end" fontSize="12" fill="currentColor">
              {name || '—'}
            </text>
            <rect x={labelW} y={y + 2} width={bw} height={row - 10} rx="3" fill="var(--accent)">
              <title>{`${a.name}: ${a.tickets_handled}`}</title>
            </rect>
            <text x={labelW + bw + 4} y={y + 14} fontSize="12" fill="currentColor">
              {a.tickets_handled}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
