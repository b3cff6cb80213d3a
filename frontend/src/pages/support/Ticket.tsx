// One ticket: the whole conversation (both ways, notes marked, media),
// status and assignee, and a reply that goes to the person and is mirrored
// into the staff topic. Polls every few seconds while open.
import { useEffect, useRef, useState } from 'react';
import { Link, useLocation, useParams } from 'react-router-dom';
import { isApiError } from '../../api/problem';
import type { Ticket, TicketMessage } from '../../api/types';
import { useApi } from '../../auth/session';
import { collect, FieldError, FormAlert, useForm } from '../../components/form';
import { FILE_KINDS, MessageMedia, STATUSES, TicketStatusBadge, isMissingRoute, statusLabel, usePoll } from '../../components/support';
import { Async, Empty, PageHeader, useLoad } from '../../components/ui';
import { useI18n } from '../../i18n/i18n';

export const POLL_MS = 4000;

export function TicketPage() {
  const { id = '' } = useParams();
  const { t } = useI18n();
  const api = useApi();
  const loc = useLocation();
  const back = (loc.state as { back?: string } | null)?.back;
  const data = useLoad(() => api.ticket(id), [id]);
  usePoll(() => void data.reload(), POLL_MS);
  const notFound = isApiError(data.error) && data.error.status === 404 && !isMissingRoute(data.error);
  return (
    <>
      <p className="small">
        <Link to={back ? `/inbox?${back}` : '/inbox'}>← {t('support.inbox.back')}</Link>
      </p>
      {notFound ? (
        <Empty>{t('support.ticket.not_found')}</Empty>
      ) : (
        <Async value={data}>
          {({ ticket, messages }) => (
            <>
              <PageHeader title={`#${ticket.no} · ${ticket.contact_name || t('support.no_name')}`}>
                <TicketStatusBadge status={ticket.status} />
              </PageHeader>
              <TicketControls ticket={ticket} onChanged={() => void data.reload()} />
              <Conversation messages={messages} />
              <ReplyBox ticket={ticket} onSent={() => void data.reload()} />
            </>
          )}
        </Async>
      )}
    </>
  );
}

function TicketControls({ ticket, onChanged }: { ticket: Ticket; onChanged: () => void }) {
  const { t, dt } = useI18n();
  const api = useApi();
  const members = useLoad(() => api.members().catch(() => []), []);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: 'error' | 'info'; text: string } | null>(null);
  const [assignMissing, setAssignMissing] = useState(false);
  const run = async (fn: () => Promise<unknown>, onMissing?: () => void) => {
    setBusy(true);
    setMsg(null);
    try {
      await fn();
      onChanged();
    } catch (e) {
      if (isMissingRoute(e) && onMissing) onMissing();
      else setMsg({ kind: 'error', text: isApiError(e) ? e.detail : String(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card ticket-controls" data-testid="ticket-controls">
      {msg && (
        <div className={`alert ${msg.kind}`} role="alert">
          {msg.text}
        </div>
      )}
      <div className="control-grid">
        <label className="filter">
          <span>{t('support.filter.status')}</span>
          <select
            value={ticket.status}
            disabled={busy}
            data-testid="ticket-status"
            onChange={(e) => {
              const v = e.target.value;
              void run(() => api.setStatus(ticket.id, v));
            }}
          >
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(t, s)}
              </option>
            ))}
          </select>
        </label>
        <label className="filter">
          <span>{t('support.filter.assignee')}</span>
          <select
            value={ticket.assignee_user_id ?? ''}
            disabled={busy || assignMissing}
            data-testid="ticket-assignee"
            onChange={(e) => {
              const v = e.target.value || null;
              void run(() => api.setAssignee(ticket.id, v), () => setAssignMissing(true));
            }}
          >
            <option value="">{ticket.assignee_user_id ? t('support.unassigned') : ticket.assignee_name || t('support.unassigned')}</option>
            {(members.data ?? [])
              .filter((m) => !m.disabled)
              .map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name || m.email}
                </option>
              ))}
          </select>
        </label>
      </div>
      {assignMissing && <p className="muted small">{t('support.assign.unavailable')}</p>}
      <dl className="facts small">
        <dt>{t('support.ticket.opened')}</dt>
        <dd>{dt(ticket.opened_at)}</dd>
        <dt>{t('support.ticket.first_response')}</dt>
        <dd>{dt(ticket.first_response_at)}</dd>
        {ticket.resolved_at && (
          <>
            <dt>{t('support.ticket.resolved')}</dt>
            <dd>{dt(ticket.resolved_at)}</dd>
          </>
        )}
        {ticket.request_type && (
          <>
            <dt>{t('support.ticket.type')}</dt>
            <dd>{ticket.request_type}</dd>
          </>
        )}
        {(ticket.tags ?? []).length > 0 && (
          <>
            <dt>{t('support.filter.tag')}</dt>
            <dd>{(ticket.tags ?? []).map((g) => `#${g}`).join(' ')}</dd>
          </>
        )}
      </dl>
    </section>
  );
}

function Conversation({ messages }: { messages: TicketMessage[] }) {
  const { t, dt } = useI18n();
  const end = useRef<HTMLLIElement>(null);
  const count = messages.length;
  useEffect(() => {
    end.current?.scrollIntoView?.({ block: 'nearest' });
  }, [count]);
  if (!messages.length) return <Empty>{t('support.ticket.no_messages')}</Empty>;
  return (
    <section className="card">
      <h2>{t('support.ticket.conversation')}</h2>
      <ol className="conversation" data-testid="conversation">
        {messages.map((m) => (
          <li key={m.id} className={`msg ${m.direction}`} data-direction={m.direction}>
            <div className="msg-head small">
              {m.direction === 'note' && <span className="badge warn">{t('support.note')}</span>}
              <strong>{m.author_name || (m.direction === 'in' ? t('support.no_name') : t('support.agent'))}</strong>
              <time dateTime={m.created_at} className="muted">
                {dt(m.created_at)}
              </time>
              {m.relay === 'failed' && <span className="badge warn">{t('support.relay.failed')}</span>}
              {m.relay === 'pending' && <span className="muted">{t('support.relay.pending')}</span>}
            </div>
            {FILE_KINDS.has(m.kind) && <MessageMedia m={m} />}
            {!FILE_KINDS.has(m.kind) && m.kind && m.kind !== 'text' && <div className="muted small">[{m.kind}]</div>}
            {m.text && <div className="msg-text">{m.text}</div>}
          </li>
        ))}
        <li ref={end} aria-hidden="true" className="msg-end" />
      </ol>
    </section>
  );
}

function ReplyBox({ ticket, onSent }: { ticket: Ticket; onSent: () => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [text, setText] = useState('');
  const [sent, setSent] = useState(false);
  const form = useForm(['text']);
  const canned = useLoad(() => api.canned().catch(() => []), []);
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSent(false);
    const ok = await form.submit(
      () => collect([['text', text.trim() ? '' : t('form.required')]]),
      async () => {
        await api.reply(ticket.id, text.trim());
      },
    );
    if (ok) {
      setText('');
      setSent(true);
      onSent();
    }
  };
  return (
    <section className="card">
      <h2>{t('support.reply.title')}</h2>
      {ticket.status === 'resolved' && <p className="muted small">{t('support.reply.resolved_hint')}</p>}
      <form onSubmit={onSubmit} noValidate data-testid="reply-form">
        <FormAlert messages={form.general} />
        {(canned.data ?? []).length > 0 && (
          <label className="filter canned-pick">
            <span>{t('support.reply.canned')}</span>
            <select
              value=""
              onChange={(e) => {
                const c = canned.data?.find((x) => x.id === e.target.value);
                if (c) setText((cur) => (cur.trim() ? `${cur.trimEnd()}\n${c.text}` : c.text));
              }}
            >
              <option value="">{t('support.reply.canned_pick')}</option>
              {canned.data!.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <div className={`field${form.errors.text ? ' has-error' : ''}`}>
          <label htmlFor="reply-text">{t('support.reply.label')}</label>
          <textarea
            id="reply-text"
            rows={4}
            maxLength={4096}
            value={text}
            aria-invalid={!!form.errors.text}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void onSubmit(e);
            }}
          />
          <FieldError name="text" error={form.errors.text} />
          <div className="hint">{t('support.reply.hint')}</div>
        </div>
        <button className="btn primary" type="submit" disabled={form.busy}>
          {form.busy ? t('common.wait') : t('support.reply.send')}
        </button>
        {sent && (
          <span className="ok-text" role="status">
            {t('support.reply.sent')}
          </span>
        )}
      </form>
    </section>
  );
}
