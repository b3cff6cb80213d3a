import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { App } from '../../App';
import { client, json, operator, owner, problem, type Call } from '../../test/fake';
import { renderWith } from '../../test/render';
import { QUEUE_POLL_MS, week } from './Queues';

const q = (name: string, extra: Record<string, unknown> = {}) => ({
  name, size: 3, pending: 1, active: 0, scheduled: 0, retry: 1, archived: 2, paused: false, latency_seconds: 95,
  processed_today: 40, failed_today: 2,
  history: [
    { date: '2025-03-07', processed: 40, failed: 2 },
    { date: '2025-03-06', processed: 10, failed: 0 },
    { date: '2025-03-05', processed: 0, failed: 5 },
  ],
  ...extra,
});

function ops(user: typeof operator | typeof owner, extra: Record<string, (c: Call) => Response> = {}) {
  return client(
    {
      'POST /api/v1/auth/refresh': () => json(200, { access_token: 'A', refresh_token: 'R2' }),
      'GET /api/v1/me': () => json(200, user),
      ...extra,
    },
    'R1',
  );
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('queues', () => {
  it('lists every queue with sizes, state, 7-day bars and dead updates; pauses and resumes', async () => {
    let paused = false;
    const { client: c, calls } = ops(operator, {
      'GET /ops/queues': () =>
        json(200, { queues: [q('default'), q('updates', { paused }), q('outbound'), q('broadcast', { history: [] })], dead_updates: 3 }),
      'POST /ops/queues/updates/pause': () => ((paused = true), new Response(null, { status: 204 })),
      'POST /ops/queues/updates/resume': () => ((paused = false), new Response(null, { status: 204 })),
    });
    renderWith(<App />, { client: c, path: '/operator/queues' });
    const table = await screen.findByTestId('ops-queue-table');
    expect(table.querySelectorAll('tbody tr')).toHaveLength(4);
    expect(screen.getByTestId('dead-updates').textContent).toContain('3');
    const row = table.querySelector('[data-queue="updates"]') as HTMLElement;
    expect(within(row).getByText('Running')).toBeTruthy();
    expect(within(row).getByText('1 min 35 s')).toBeTruthy();
    // Archived count links to the failed tasks.
    expect(within(row).getByRole('link', { name: '2' }).getAttribute('href')).toBe('/operator/queues/updates?state=archived');
    // Bars: one group per day, oldest first, summed in the label.
    const bars = screen.getByTestId('week-updates');
    expect(bars.getAttribute('aria-label')).toBe('updates: 50 processed and 7 failed in 7 days');
    expect([...bars.querySelectorAll('g')].map((g) => g.getAttribute('data-date'))).toEqual(['2025-03-05', '2025-03-06', '2025-03-07']);
    expect(bars.querySelectorAll('.bar-fail')).toHaveLength(2);
    expect(screen.getByTestId('week-broadcast').querySelectorAll('rect')).toHaveLength(0);

    fireEvent.click(within(row).getByRole('button', { name: 'Pause' }));
    fireEvent.click(within(row).getByRole('button', { name: 'Confirm' }));
    await waitFor(() => expect(within(row).getByText('Paused')).toBeTruthy());
    expect(calls.some((x) => x.method === 'POST' && x.path === '/ops/queues/updates/pause')).toBe(true);
    fireEvent.click(within(row).getByRole('button', { name: 'Resume' }));
    await waitFor(() => expect(within(row).getByText('Running')).toBeTruthy());
  });

  it('refreshes every 5 seconds', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { client: c, calls } = ops(operator, { 'GET /ops/queues': () => json(200, { queues: [q('default')], dead_updates: 0 }) });
    renderWith(<App />, { client: c, path: '/operator/queues' });
    await screen.findByTestId('ops-queue-table');
    const before = calls.filter((x) => x.path === '/ops/queues').length;
    await act(async () => {
      await vi.advanceTimersByTimeAsync(QUEUE_POLL_MS + 10);
    });
    await waitFor(() => expect(calls.filter((x) => x.path === '/ops/queues').length).toBeGreaterThan(before));
  });

  it('shows an empty state without queues and sorts history', async () => {
    expect(week([{ date: '2025-01-02', processed: 1, failed: 0 }, { date: '2025-01-01', processed: 2, failed: 0 }]).map((d) => d.date)).toEqual(['2025-01-01', '2025-01-02']);
    expect(week(null)).toEqual([]);
    const { client: c } = ops(operator, { 'GET /ops/queues': () => json(200, { queues: [], dead_updates: 0 }) });
    renderWith(<App />, { client: c, path: '/operator/queues' });
    expect(await screen.findByText('No queues are configured.')).toBeTruthy();
  });

  it('is not for tenant users', async () => {
    const { client: c, calls } = ops(owner);
    renderWith(<App />, { client: c, path: '/operator/queues' });
    expect(await screen.findByTestId('not-allowed')).toBeTruthy();
    expect(calls.some((x) => x.path.startsWith('/ops/'))).toBe(false);
  });
});

describe('failed tasks', () => {
  const task = { id: 'task-1', queue: 'outbound', type: 'outbox:send', state: 'archived', last_error: 'telegram: 400 Bad Request: chat not found', retried: 25, max_retry: 25, last_failed_at: '2025-03-07T10:00:00Z' };

  it('lists errors, runs a task and deletes one after confirmation', async () => {
    let list = [task, { ...task, id: 'task-2' }];
    const { client: c, calls } = ops(operator, {
      'GET /ops/queues/outbound/tasks': () => json(200, { tasks: list }),
      'POST /ops/queues/outbound/tasks/task-1/run': () => ((list = list.filter((x) => x.id !== 'task-1')), new Response(null, { status: 204 })),
      'DELETE /ops/queues/outbound/tasks/task-2': () => ((list = list.filter((x) => x.id !== 'task-2')), new Response(null, { status: 204 })),
    });
    renderWith(<App />, { client: c, path: '/operator/queues/outbound' });
    const rows = await screen.findByTestId('ops-tasks');
    expect(within(rows).getAllByText('telegram: 400 Bad Request: chat not found')).toHaveLength(2);
    expect(within(rows).getAllByText(/25\/25/)).toHaveLength(2);
    expect(calls.find((x) => x.path.startsWith('/ops/queues/outbound/tasks'))?.path).toBe('/ops/queues/outbound/tasks?state=archived');

    const first = rows.querySelector('[data-task="task-1"]') as HTMLElement;
    fireEvent.click(within(first).getByRole('button', { name: 'Run now' }));
    expect(await screen.findByText('Task task-1 was queued to run now.')).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId('ops-tasks').querySelector('[data-task="task-1"]')).toBeNull());

    const second = screen.getByTestId('ops-tasks').querySelector('[data-task="task-2"]') as HTMLElement;
    fireEvent.click(within(second).getByRole('button', { name: 'Delete' }));
    expect(calls.some((x) => x.method === 'DELETE')).toBe(false); // asks first
    fireEvent.click(within(second).getByRole('button', { name: 'Delete for good' }));
    expect(await screen.findByText('No failed tasks in this queue.')).toBeTruthy();
    expect(calls.some((x) => x.method === 'DELETE' && x.path === '/ops/queues/outbound/tasks/task-2')).toBe(true);
  });

  it('switches to retrying tasks and shows a refusal', async () => {
    const { client: c, calls } = ops(operator, {
      'GET /ops/queues/outbound/tasks': (x) => json(200, { tasks: x.path.includes('state=retry') ? [{ ...task, state: 'retry', retried: 2, next_process_at: '2025-03-07T11:00:00Z' }] : [] }),
      'POST /ops/queues/outbound/tasks/task-1/run': () => problem(404, 'not_found', 'No such queue, state or task.'),
    });
    renderWith(<App />, { client: c, path: '/operator/queues/outbound' });
    expect(await screen.findByText('No failed tasks in this queue.')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Show'), { target: { value: 'retry' } });
    const rows = await screen.findByTestId('ops-tasks');
    expect(within(rows).getByText(/Next try/)).toBeTruthy();
    expect(calls.some((x) => x.path === '/ops/queues/outbound/tasks?state=retry')).toBe(true);
    fireEvent.click(within(rows).getByRole('button', { name: 'Run now' }));
    expect(await screen.findByText('No such queue, state or task.')).toBeTruthy();
  });
});

describe('webhooks', () => {
  const bot = { bot_id: 42, tenant_id: 't1', tenant_name: 'Acme', username: 'acme_bot', status: 'active', healthy: false, pending_update_count: 7, last_error_date: 1741341600, last_error_message: 'Connection refused' };
  it('shows unhealthy bots across tenants and all with the toggle', async () => {
    const { client: c, calls } = ops(operator, {
      'GET /ops/bots': (x) => json(200, { bots: x.path.includes('unhealthy=true') ? [bot] : [bot, { ...bot, bot_id: 43, username: 'fine_bot', healthy: true, pending_update_count: 0, last_error_message: undefined, last_error_date: undefined }] }),
    });
    renderWith(<App />, { client: c, path: '/operator/bots' });
    const table = await screen.findByTestId('ops-bots');
    expect(within(table).getByText('@acme_bot')).toBeTruthy();
    expect(within(table).getByText('Acme')).toBeTruthy();
    expect(within(table).getByText('Connection refused')).toBeTruthy();
    expect(within(table).getByText('Unhealthy')).toBeTruthy();
    fireEvent.click(screen.getByLabelText('Show healthy bots too'));
    expect(await within(screen.getByTestId('ops-bots')).findByText('@fine_bot')).toBeTruthy();
    expect(calls.some((x) => x.path === '/ops/bots')).toBe(true);
  });

  it('says so when every webhook is healthy', async () => {
    const { client: c } = ops(operator, { 'GET /ops/bots': () => json(200, { bots: [] }) });
    renderWith(<App />, { client: c, path: '/operator/bots', lang: 'ru' });
    expect(await screen.findByText('Все вебхуки в порядке.')).toBeTruthy();
  });
});

describe('usage', () => {
  it('shows per-tenant usage with totals for the chosen period', async () => {
    const { client: c, calls } = ops(operator, {
      'GET /ops/usage': (x) =>
        json(200, {
          days: Number(new URL(x.path, 'http://x').searchParams.get('days')),
          tenants: [
            { tenant_id: 't1', tenant_name: 'Small', updates: 1, messages_sent: 1, messages_failed: 0, throttled: 0 },
            { tenant_id: 't2', tenant_name: 'Big', updates: 100, messages_sent: 90, messages_failed: 3, throttled: 4 },
          ],
        }),
    });
    renderWith(<App />, { client: c, path: '/operator/usage' });
    const table = await screen.findByTestId('ops-usage');
    const names = [...table.querySelectorAll('tbody tr td:first-child')].map((td) => td.textContent);
    expect(names).toEqual(['Big', 'Small', 'All tenants']);
    expect(within(table.querySelector('tr.totals') as HTMLElement).getByText('101')).toBeTruthy();
    expect(calls.some((x) => x.path === '/ops/usage?days=1')).toBe(true);
    fireEvent.change(screen.getByLabelText('Period'), { target: { value: '30' } });
    await waitFor(() => expect(calls.some((x) => x.path === '/ops/usage?days=30')).toBe(true));
  });

  it('has an empty state', async () => {
    const { client: c } = ops(operator, { 'GET /ops/usage': () => json(200, { days: 1, tenants: [] }) });
    renderWith(<App />, { client: c, path: '/operator/usage' });
    expect(await screen.findByText('No tenants yet.')).toBeTruthy();
  });
});
