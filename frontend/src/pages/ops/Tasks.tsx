// Operator: one queue's failed (archived) or retrying tasks with their last
// error — never their payloads — and Run now / Delete (confirmed).
import { useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import type { OpsTaskState } from '../../api/types';
import { useApi } from '../../auth/session';
import { Async, ConfirmButton, Empty, ErrorBox, PageHeader, useLoad } from '../../components/ui';
import { useI18n } from '../../i18n/i18n';

export function TasksPage() {
  const { t, dt } = useI18n();
  const api = useApi();
  const queue = useParams().queue ?? '';
  const [params, setParams] = useSearchParams();
  const state: OpsTaskState = params.get('state') === 'retry' ? 'retry' : 'archived';
  const tasks = useLoad(() => api.opsTasks(queue, state), [queue, state]);
  const [err, setErr] = useState<unknown>(null);
  const [note, setNote] = useState('');
  const act = async (what: 'run' | 'delete', id: string) => {
    setErr(null);
    setNote('');
    try {
      if (what === 'run') await api.runTask(queue, id);
      else await api.deleteTask(queue, id);
      setNote(t(what === 'run' ? 'ops.task.ran' : 'ops.task.deleted', { id }));
    } catch (e) {
      setErr(e);
    }
    await tasks.reload();
  };
  return (
    <>
      <PageHeader title={t('ops.tasks.title', { queue })}>
        <Link className="btn small ghost" to="/operator/queues">
          ← {t('ops.tasks.back')}
        </Link>
      </PageHeader>
      <p className="muted">{t('ops.tasks.about')}</p>
      <div className="card">
        <label className="field inline">
          <span>{t('ops.tasks.state')}</span>
          <select value={state} onChange={(e) => setParams({ state: e.target.value }, { replace: true })}>
            <option value="archived">{t('ops.tasks.archived')}</option>
            <option value="retry">{t('ops.tasks.retry')}</option>
          </select>
        </label>
      </div>
      {err ? <ErrorBox error={err} /> : null}
      {note ? (
        <p className="alert ok" role="status" data-testid="task-note">
          {note}
        </p>
      ) : null}
      <section className="card">
        <Async value={tasks}>
          {(list) =>
            list.length === 0 ? (
              <Empty>{t(state === 'retry' ? 'ops.tasks.none_retry' : 'ops.tasks.none_archived')}</Empty>
            ) : (
              <ul className="rows" data-testid="ops-tasks">
                {list.map((x) => (
                  <li key={x.id} className="row task" data-task={x.id}>
                    <div className="grow">
                      <div>
                        <strong className="break">{x.type}</strong> <span className="muted small break">{x.id}</span>
                      </div>
                      <pre className="task-error" title={t('ops.task.error')}>{x.last_error || '—'}</pre>
                      <div className="muted small">
                        {t('ops.task.attempts')}: {x.retried}/{x.max_retry} · {t('ops.task.failed_at')}: {dt(x.last_failed_at)}
                        {state === 'retry' ? ` · ${t('ops.task.next')}: ${dt(x.next_process_at)}` : ''}
                      </div>
                    </div>
                    <div className="row-actions">
                      <button type="button" className="btn small" onClick={() => void act('run', x.id)}>
                        {t('ops.task.run')}
                      </button>
                      <ConfirmButton label={t('ops.task.delete')} confirm={t('ops.task.sure_delete')} onConfirm={() => act('delete', x.id)} />
                    </div>
                  </li>
                ))}
              </ul>
            )
          }
        </Async>
      </section>
    </>
  );
}
