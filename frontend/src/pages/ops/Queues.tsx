// Operator: every queue with its sizes, latency, today's and the last 7 days'
// processed/failed, pause/resume, and links to its failed tasks. Refreshes
// every 5 s while the tab is visible.
import { useState } from 'react';
import { Link } from 'react-router-dom';
import type { OpsDay, OpsQueue } from '../../api/types';
import { useApi } from '../../auth/session';
import { duration, usePoll } from '../../components/support';
import { Async, ConfirmButton, Empty, ErrorBox, PageHeader, useLoad } from '../../components/ui';
import { useI18n } from '../../i18n/i18n';

export const QUEUE_POLL_MS = 5000;

/** Oldest day first, at most the last 7. */
export function week(history: OpsDay[] | null | undefined): OpsDay[] {
  return [...(history ?? [])].sort((a, b) => a.date.localeCompare(b.date)).slice(-7);
}

/** Seven small stacked bars (processed, failed on top), scaled to the busiest day; fits its cell. */
export function WeekBars({ q }: { q: OpsQueue }) {
  const { t } = useI18n();
  const days = week(q.history);
  const max = Math.max(1, ...days.map((d) => d.processed + d.failed));
  const w = 10;
  const h = 32;
  const processed = days.reduce((n, d) => n + d.processed, 0);
  const failed = days.reduce((n, d) => n + d.failed, 0);
  return (
    <svg
      className="week-bars"
      viewBox={`0 0 ${7 * w} ${h}`}
      width={7 * w}
      height={h}
      role="img"
      aria-label={t('ops.week_chart', { queue: q.name, processed, failed })}
      data-testid={`week-${q.name}`}
    >
      {days.map((d, i) => {
        const ph = Math.round((d.processed / max) * (h - 2));
        const fh = Math.round((d.failed / max) * (h - 2));
        const x = (7 - days.length + i) * w + 1;
        return (
          <g key={d.date} data-date={d.date}>
            <title>{t('ops.day_bar', { date: d.date, processed: d.processed, failed: d.failed })}</title>
            <rect x={x} y={0} width={w - 2} height={h} fill="transparent" />
            {ph > 0 && <rect className="bar-ok" x={x} y={h - ph} width={w - 2} height={ph} rx="1" />}
            {fh > 0 && <rect className="bar-fail" x={x} y={h - ph - fh} width={w - 2} height={fh} rx="1" />}
          </g>
        );
      })}
      <line x1="0" x2={7 * w} y1={h - 0.5} y2={h - 0.5} stroke="currentColor" strokeOpacity="0.2" />
    </svg>
  );
}

export function QueuesPage() {
  const { t } = useI18n();
  const api = useApi();
  const data = useLoad(() => api.opsQueues(), []);
  const [err, setErr] = useState<unknown>(null);
  const [updated, setUpdated] = useState<Date>(new Date());
  const reload = async () => {
    await data.reload();
    setUpdated(new Date());
  };
  usePoll(() => void reload(), QUEUE_POLL_MS);
  const act = async (q: OpsQueue) => {
    setErr(null);
    try {
      await api.pauseQueue(q.name, !q.paused);
    } catch (e) {
      setErr(e);
    }
    await reload();
  };
  return (
    <>
      <PageHeader title={t('ops.queues.title')}>
        <span className="muted small" data-testid="updated">{t('ops.updated', { time: updated.toLocaleTimeString() })}</span>
        <button type="button" className="btn small" onClick={() => void reload()}>
          {t('common.refresh')}
        </button>
      </PageHeader>
      <p className="muted">{t('ops.queues.about')}</p>
      {err ? <ErrorBox error={err} /> : null}
      <section className="card">
        <Async value={data}>
          {({ queues, dead_updates }) => (
            <>
              <p className={dead_updates > 0 ? 'alert warn' : 'muted small'} data-testid="dead-updates">
                {t('ops.queues.dead', { n: dead_updates })}
              </p>
              {queues.length === 0 ? (
                <Empty>{t('ops.queues.none')}</Empty>
              ) : (
                <div className="table-wrap">
                  <table className="table" data-testid="ops-queue-table">
                    <thead>
                      <tr>
                        <th>{t('ops.queue')}</th>
                        <th className="num">{t('ops.size')}</th>
                        <th className="num">{t('ops.pending')}</th>
                        <th className="num">{t('ops.active')}</th>
                        <th className="num">{t('ops.scheduled')}</th>
                        <th className="num">{t('ops.retry')}</th>
                        <th className="num">{t('ops.archived')}</th>
                        <th className="num">{t('ops.latency')}</th>
                        <th>{t('ops.today')}</th>
                        <th>{t('ops.week')}</th>
                        <th />
                      </tr>
                    </thead>
                    <tbody>
                      {queues.map((q) => (
                        <tr key={q.name} data-queue={q.name}>
                          <td data-label={t('ops.queue')}>
                            <strong>{q.name}</strong>{' '}
                            <span className={`badge ${q.paused ? 'warn' : 'ok'}`} data-testid={`state-${q.name}`}>
                              {q.paused ? t('ops.paused') : t('ops.running')}
                            </span>
                          </td>
                          <td className="num" data-label={t('ops.size')}>{q.size}</td>
                          <td className="num" data-label={t('ops.pending')}>{q.pending}</td>
                          <td className="num" data-label={t('ops.active')}>{q.active}</td>
                          <td className="num" data-label={t('ops.scheduled')}>{q.scheduled}</td>
                          <td className="num" data-label={t('ops.retry')}>
                            {q.retry > 0 ? <Link to={`/operator/queues/${encodeURIComponent(q.name)}?state=retry`}>{q.retry}</Link> : q.retry}
                          </td>
                          <td className="num" data-label={t('ops.archived')}>
                            {q.archived > 0 ? (
                              <Link to={`/operator/queues/${encodeURIComponent(q.name)}?state=archived`} className="text-danger">{q.archived}</Link>
                            ) : (
                              q.archived
                            )}
                          </td>
                          <td className="num" data-label={t('ops.latency')}>{duration(t, q.latency_seconds)}</td>
                          <td className="small">{t('ops.today_value', { processed: q.processed_today, failed: q.failed_today })}</td>
                          <td>
                            <WeekBars q={q} />
                          </td>
                          <td>
                            <div className="row-actions">
                              {q.paused ? (
                                <button type="button" className="btn small" onClick={() => void act(q)}>
                                  {t('ops.resume')}
                                </button>
                              ) : (
                                <ConfirmButton className="btn small danger" label={t('ops.pause')} confirm={t('common.confirm')} onConfirm={() => act(q)} />
                              )}
                              <Link className="btn small ghost" to={`/operator/queues/${encodeURIComponent(q.name)}`}>
                                {t('ops.tasks_link')}
                              </Link>
                            </div>
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                  <p className="muted small legend">
                    <span className="swatch ok" /> {t('ops.legend_processed')} <span className="swatch fail" /> {t('ops.legend_failed')}
                  </p>
                </div>
              )}
            </>
          )}
        </Async>
      </section>
    </>
  );
}
