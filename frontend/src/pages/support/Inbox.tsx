// The inbox: tickets filtered by status, assignee, tag and period, with
// paging; the filters live in the URL so "back" from a ticket keeps them.
import { Link, useSearchParams } from 'react-router-dom';
import type { Ticket, TicketFilter } from '../../api/types';
import { useApi, useSession } from '../../auth/session';
import { STATUSES, TicketStatusBadge, isMissingRoute, statusLabel, usePoll } from '../../components/support';
import { Async, Empty, PageHeader, useLoad } from '../../components/ui';
import { useI18n } from '../../i18n/i18n';

export const PAGE_SIZE = 25;
const PERIODS = ['', 'today', '7d', '30d'] as const;

/** The start of a period as an RFC 3339 time (the API's `from`), or undefined for "any time". */
export function periodFrom(p: string, now = new Date()): string | undefined {
  if (p === 'today') return new Date(now.getFullYear(), now.getMonth(), now.getDate()).toISOString();
  const days = p === '7d' ? 7 : p === '30d' ? 30 : 0;
  return days ? new Date(now.getTime() - days * 86400_000).toISOString() : undefined;
}

/**
 * Filters the API may not apply yet (tag, period) are applied to the page
 * too, so the list never shows what the filter excludes.
 */
export function matches(tk: Ticket, tag: string, from: string | undefined): boolean {
  if (tag && !(tk.tags ?? []).some((x) => x.toLowerCase() === tag.toLowerCase())) return false;
  if (from && new Date(tk.opened_at) < new Date(from)) return false;
  return true;
}

export function InboxPage() {
  const { t, dt } = useI18n();
  const api = useApi();
  const { user } = useSession();
  const [sp, setSp] = useSearchParams();
  const status = sp.get('status') ?? '';
  const assignee = sp.get('assignee') ?? '';
  const tag = sp.get('tag') ?? '';
  const period = sp.get('period') ?? '';
  const offset = Math.max(0, Number(sp.get('offset')) || 0);
  const from = periodFrom(period);
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(sp);
    if (v) n.set(k, v);
    else n.delete(k);
    if (k !== 'offset') n.delete('offset');
    setSp(n, { replace: true });
  };
  const filter: TicketFilter = { status, assignee, tag: tag.trim() || undefined, from, limit: PAGE_SIZE, offset };
  const tickets = useLoad(() => api.tickets(filter), [status, assignee, tag, period, offset]);
  const members = useLoad(() => api.members().catch(() => []), []);
  usePoll(() => void tickets.reload(), 8000);
  const list = (tickets.data ?? []).filter((x) => matches(x, tag.trim(), from));

  return (
    <>
      <PageHeader title={t('support.inbox.title')}>
        <button type="button" className="btn small" onClick={() => void tickets.reload()}>
          {t('common.refresh')}
        </button>
      </PageHeader>
      <section className="card filters" aria-label={t('support.filters')}>
        <label className="filter">
          <span>{t('support.filter.status')}</span>
          <select value={status} onChange={(e) => set('status', e.target.value)}>
            <option value="">{t('support.filter.any')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(t, s)}
              </option>
            ))}
          </select>
        </label>
        <label className="filter">
          <span>{t('support.filter.assignee')}</span>
          <select value={assignee} onChange={(e) => set('assignee', e.target.value)}>
            <option value="">{t('support.filter.anyone')}</option>
            <option value="me">{t('support.filter.me')}</option>
            <option value="none">{t('support.filter.none')}</option>
            {(members.data ?? [])
              .filter((m) => m.id !== user?.id && !m.disabled)
              .map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name || m.email}
                </option>
              ))}
          </select>
        </label>
        <label className="filter">
          <span>{t('support.filter.tag')}</span>
          <input type="search" value={tag} onChange={(e) => set('tag', e.target.value)} placeholder={t('support.filter.tag_hint')} />
        </label>
        <label className="filter">
          <span>{t('support.filter.period')}</span>
          <select value={period} onChange={(e) => set('period', e.target.value)}>
            {PERIODS.map((p) => (
              <option key={p} value={p}>
                {t(`support.period.${p || 'any'}` as 'support.period.any')}
              </option>
            ))}
          </select>
        </label>
      </section>
      <section className="card">
        {tickets.error && isMissingRoute(tickets.error) ? (
          <Empty>{t('support.inbox.unavailable')}</Empty>
        ) : (
          <Async value={tickets}>
            {() =>
              list.length === 0 ? (
                <Empty>{offset > 0 ? t('support.inbox.no_more') : status || assignee || tag || period ? t('support.inbox.none_filtered') : t('support.inbox.none')}</Empty>
              ) : (
                <ul className="rows tickets" data-testid="tickets">
                  {list.map((tk) => (
                    <li key={tk.id} className="row ticket-row">
                      <div className="grow">
                        <Link to={`/inbox/${tk.id}`} state={{ back: sp.toString() }}>
                          <strong>#{tk.no}</strong> {tk.contact_name || t('support.no_name')}
                        </Link>
                        <div className="muted small">
                          {dt(tk.opened_at)} · {tk.assignee_name || t('support.unassigned')}
                          {(tk.tags ?? []).map((g) => (
                            <span key={g} className="chip">
                              #{g}
                            </span>
                          ))}
                        </div>
                      </div>
                      <TicketStatusBadge status={tk.status} />
                    </li>
                  ))}
                </ul>
              )
            }
          </Async>
        )}
        <div className="pager">
          <button type="button" className="btn small" disabled={offset === 0} onClick={() => set('offset', String(Math.max(0, offset - PAGE_SIZE)))}>
            ← {t('support.page.prev')}
          </button>
          <span className="muted small">{t('support.page.n', { n: Math.floor(offset / PAGE_SIZE) + 1 })}</span>
          <button
            type="button"
            className="btn small"
            disabled={(tickets.data?.length ?? 0) < PAGE_SIZE}
            onClick={() => set('offset', String(offset + PAGE_SIZE))}
          >
            {t('support.page.next')} →
          </button>
        </div>
      </section>
    </>
  );
}
