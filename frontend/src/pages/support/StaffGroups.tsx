// Binding the staff group: a one-time /bind code with instructions, and the
// bound groups with what the bot lacks there. While a code is out, the list
// refreshes until a group has been bound with it.
import { useState } from 'react';
import type { BindCode, StaffGroup } from '../../api/types';
import { useApi } from '../../auth/session';
import { isMissingRoute, usePoll } from '../../components/support';
import { Async, CopyButton, Empty, ErrorBox, PageHeader, useLoad } from '../../components/ui';
import { useI18n } from '../../i18n/i18n';
import type { MessageKey } from '../../i18n/messages';

const MISSING = ['is_forum', 'administrator', 'can_manage_topics', 'can_delete_messages'];

export function missingLabel(m: string): MessageKey | null {
  return MISSING.includes(m) ? (`support.missing.${m}` as MessageKey) : null;
}

const key = (g: StaffGroup) => `${g.bot_id}:${g.chat_id}:${g.status}`;

export function StaffGroupsPage() {
  const { t, dt } = useI18n();
  const api = useApi();
  const groups = useLoad(() => api.staffGroups(), []);
  const [code, setCode] = useState<BindCode | null>(null);
  const [seen, setSeen] = useState<Set<string> | null>(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<unknown>(null);
  const okNow = (groups.data ?? []).filter((g) => g.status === 'ok').map(key);
  const boundNew = !!seen && okNow.some((k) => !seen.has(k));
  const waiting = !!code && !boundNew && new Date(code.expires_at).getTime() > Date.now();
  usePoll(() => void groups.reload(), 3000, waiting);

  const newCode = async () => {
    setBusy(true);
    setErr(null);
    try {
      const c = await api.bindCode();
      setSeen(new Set(okNow));
      setCode(c);
    } catch (e) {
      setErr(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageHeader title={t('support.staff.title')} />
      <section className="card">
        <h2>{t('support.staff.bind')}</h2>
        <ol className="steps">
          <li>{t('support.staff.step1')}</li>
          <li>{t('support.staff.step2')}</li>
          <li>{t('support.staff.step3')}</li>
        </ol>
        {err ? <ErrorBox error={err} /> : null}
        {code ? (
          <div className="bind-code" data-testid="bind-code">
            <div className="copy-line">
              <input readOnly value={code.command} aria-label={t('support.staff.command')} data-testid="bind-command" />
              <CopyButton text={code.command} />
            </div>
            <p className="muted small">{t('support.staff.expires', { at: dt(code.expires_at) })}</p>
            {boundNew ? (
              <div className="alert ok" role="status" data-testid="bound">
                {t('support.staff.bound')}
              </div>
            ) : waiting ? (
              <p className="muted small" role="status">
                <span className="spinner inline" aria-hidden="true" /> {t('support.staff.waiting')}
              </p>
            ) : null}
          </div>
        ) : null}
        <button type="button" className="btn primary" disabled={busy} onClick={() => void newCode()}>
          {code ? t('support.staff.new_code') : t('support.staff.create_code')}
        </button>
      </section>
      <section className="card">
        <h2>{t('support.staff.list')}</h2>
        {groups.error && isMissingRoute(groups.error) ? (
          <Empty>{t('support.unavailable')}</Empty>
        ) : (
          <Async value={groups}>
            {(list) =>
              list.length === 0 ? (
                <Empty>{t('support.staff.none')}</Empty>
              ) : (
                <ul className="rows" data-testid="staff-groups">
                  {list.map((g) => (
                    <li key={`${g.bot_id}:${g.chat_id}`} className="row" data-status={g.status}>
                      <div className="grow">
                        <strong>{g.title || g.chat_id}</strong>
                        <div className="muted small">
                          {t('support.staff.bot', { id: g.bot_id })} · {t('support.staff.chat', { id: g.chat_id })}
                        </div>
                        {g.open !== undefined && (
                          <div className="small" data-testid="group-load">
                            {t('support.staff.load', { open: g.open, backlog: g.backlog ?? 0 })} ·{' '}
                            {(g.request_types ?? []).length ? t('support.staff.types', { types: (g.request_types ?? []).join(', ') }) : t('support.staff.types_all')}
                          </div>
                        )}
                        {(g.missing ?? []).length > 0 && (
                          <ul className="missing small">
                            {(g.missing ?? []).map((m) => {
                              const k = missingLabel(m);
                              return <li key={m}>{k ? t(k) : m}</li>;
                            })}
                          </ul>
                        )}
                      </div>
                      <span className={`badge ${g.status === 'ok' ? 'ok' : 'warn'}`}>
                        {g.status === 'ok' ? t('support.staff.ok') : g.status === 'missing_rights' ? t('support.staff.missing_rights') : g.status}
                      </span>
                    </li>
                  ))}
                </ul>
              )
            }
          </Async>
        )}
      </section>
    </>
  );
}

