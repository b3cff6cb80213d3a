import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../../App';
import { duration } from '../../components/support';
import { translate } from '../../i18n/i18n';
import { agent, client, json, owner, problem, type Call } from '../../test/fake';
import { renderWith } from '../../test/render';
import { matches, periodFrom } from './Inbox';
import { range } from './Metrics';

const ticket = {
  id: '0190aaaa-0000-7000-8000-000000000001', no: 7, bot_id: 42, contact_id: 'c1', contact_name: 'Alice Smith', status: 'new',
  assignee_name: '', assignee_user_id: null, assignee_tg_user_id: null, tags: ['billing'], opened_at: '2025-03-01T10:00:00Z',
  first_response_at: null, resolved_at: null,
};
const messages = [
  { id: 'm1', direction: 'in', author_name: 'Alice Smith', kind: 'text', text: 'My order is late', relay: 'sent', created_at: '2025-03-01T10:00:00Z' },
  { id: 'm2', direction: 'in', author_name: 'Alice Smith', kind: 'photo', text: 'the receipt', relay: 'sent', created_at: '2025-03-01T10:01:00Z' },
  { id: 'm3', direction: 'in', author_name: 'Alice Smith', kind: 'document', text: '', relay: 'sent', created_at: '2025-03-01T10:02:00Z' },
  { id: 'm4', direction: 'note', author_name: 'Agata', kind: 'text', text: 'check the warehouse', relay: 'none', created_at: '2025-03-01T10:03:00Z' },
  { id: 'm5', direction: 'out', author_name: 'Agata', kind: 'text', text: 'We are on it', relay: 'sent', created_at: '2025-03-01T10:04:00Z' },
];

function desk(user: typeof owner | typeof agent, extra: Record<string, (c: Call) => Response> = {}) {
  return client(
    {
      'POST /api/v1/auth/refresh': () => json(200, { access_token: 'A', refresh_token: 'R2' }),
      'GET /api/v1/me': () => json(200, user),
      'GET /api/v1/members': () => json(200, { members: [owner, agent] }),
      'GET /api/v1/support/canned': () => json(200, { canned: [{ id: 'k1', name: 'late', text: 'Sorry for the delay!', updated_at: '2025-01-01T00:00:00Z' }] }),
      ...extra,
    },
    'R1',
  );
}

beforeEach(() => {
  let n = 0;
  URL.createObjectURL = vi.fn(() => `blob:test/${++n}`);
  URL.revokeObjectURL = vi.fn();
});
afterEach(() => vi.restoreAllMocks());

describe('inbox', () => {
  it('lists tickets and sends the chosen filters to the API', async () => {
    const { client: c, calls } = desk(agent, { 'GET /api/v1/support/tickets': () => json(200, { tickets: [ticket], limit: 25, offset: 0 }) });
    renderWith(<App />, { client: c, path: '/inbox' });
    const list = await screen.findByTestId('tickets');
    expect(within(list).getByText(/Alice Smith/)).toBeTruthy();
    expect(within(list).getByText('New')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Status'), { target: { value: 'in_work' } });
    fireEvent.change(screen.getByLabelText('Assignee'), { target: { value: 'me' } });
    await waitFor(() => expect(calls.some((x) => x.path.includes('status=in_work') && x.path.includes('assignee=me'))).toBe(true));
    // Older page only when this page is full.
    expect((screen.getByRole('button', { name: /Older/ }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('shows an empty state while the server has no tickets route', async () => {
    const { client: c } = desk(agent);
    renderWith(<App />, { client: c, path: '/inbox' });
    expect(await screen.findByText('The inbox is not available on this server yet.')).toBeTruthy();
  });

  it('applies tag and period to the page when the server does not', () => {
    const now = new Date('2025-03-10T12:00:00Z');
    expect(matches(ticket, 'BILLING', undefined)).toBe(true);
    expect(matches(ticket, 'refund', undefined)).toBe(false);
    expect(matches(ticket, '', periodFrom('7d', now))).toBe(false);
    expect(matches(ticket, '', periodFrom('30d', now))).toBe(true);
    expect(periodFrom('', now)).toBeUndefined();
  });
});

describe('ticket', () => {
  const routes = (extra: Record<string, (c: Call) => Response> = {}) => ({
    [`GET /api/v1/support/tickets/${ticket.id}`]: () => json(200, { ticket, messages }),
    'GET /api/v1/support/messages/m2/file': () => new Response(new Blob(['png'], { type: 'image/png' }), { status: 200, headers: { 'Content-Type': 'image/png' } }),
    'GET /api/v1/support/messages/m3/file': () => new Response(new Blob(['%PDF'], { type: 'application/pdf' }), { status: 200, headers: { 'Content-Type': 'application/pdf' } }),
    ...extra,
  });

  it('shows the conversation both ways, marks notes, shows media through the authorised file proxy', async () => {
    const { client: c, calls } = desk(agent, routes());
    renderWith(<App />, { client: c, path: `/inbox/${ticket.id}` });
    const conv = await screen.findByTestId('conversation');
    expect(conv.querySelectorAll('[data-direction="in"]').length).toBe(3);
    const note = conv.querySelector('[data-direction="note"]')!;
    expect(within(note as HTMLElement).getByText('Internal note')).toBeTruthy();
    expect(conv.querySelector('[data-direction="out"]')!.textContent).toContain('We are on it');
    const img = (await screen.findByTestId('media-image')) as HTMLImageElement;
    expect(img.src).toMatch(/^blob:/);
    const dl = (await screen.findByTestId('media-download')) as HTMLAnchorElement;
    expect(dl.href).toMatch(/^blob:/);
    const fileCalls = calls.filter((x) => x.path.includes('/file'));
    expect(fileCalls.length).toBe(2);
    expect(fileCalls.every((x) => x.auth === 'Bearer A')).toBe(true);
  });

  it('falls back to a note when the file proxy is missing, and replies with a saved reply inserted', async () => {
    const { client: c, calls } = desk(agent, {
      [`GET /api/v1/support/tickets/${ticket.id}`]: () => json(200, { ticket, messages }),
      [`POST /api/v1/support/tickets/${ticket.id}/reply`]: () => json(201, { ...messages[4], id: 'm6' }),
    });
    renderWith(<App />, { client: c, path: `/inbox/${ticket.id}` });
    await waitFor(() => expect(screen.getAllByTestId('media-unavailable').length).toBe(2));
    fireEvent.change(await screen.findByLabelText('Saved reply'), { target: { value: 'k1' } });
    expect((screen.getByLabelText('Your reply') as HTMLTextAreaElement).value).toBe('Sorry for the delay!');
    fireEvent.click(screen.getByRole('button', { name: 'Send reply' }));
    await screen.findByText('Sent');
    expect(calls.find((x) => x.method === 'POST' && x.path.endsWith('/reply'))!.body).toEqual({ text: 'Sorry for the delay!' });
    expect((screen.getByLabelText('Your reply') as HTMLTextAreaElement).value).toBe('');
  });

  it('changes the status, and says so when assigning is not served yet', async () => {
    const { client: c, calls } = desk(agent, routes({
      [`POST /api/v1/support/tickets/${ticket.id}/status`]: () => new Response(null, { status: 204 }),
    }));
    renderWith(<App />, { client: c, path: `/inbox/${ticket.id}` });
    fireEvent.change(await screen.findByTestId('ticket-status'), { target: { value: 'resolved' } });
    await waitFor(() => expect(calls.find((x) => x.path.endsWith('/status'))?.body).toEqual({ status: 'resolved' }));
    fireEvent.change(screen.getByTestId('ticket-assignee'), { target: { value: agent.id } });
    expect(await screen.findByText(/use \/assign @username in the topic/)).toBeTruthy();
  });

  it('shows the server’s reason when a reply is refused', async () => {
    const { client: c } = desk(agent, routes({
      [`POST /api/v1/support/tickets/${ticket.id}/reply`]: () => problem(409, 'contact_unreachable', 'the person has no chat with the bot'),
    }));
    renderWith(<App />, { client: c, path: `/inbox/${ticket.id}` });
    fireEvent.change(await screen.findByLabelText('Your reply'), { target: { value: 'hello' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send reply' }));
    expect((await screen.findByTestId('form-alert')).textContent).toContain('no chat with the bot');
  });
});

describe('saved replies, staff group, metrics', () => {
  it('lets admins add a saved reply and checks the name first; agents only read', async () => {
    const { client: c, calls } = desk(owner, { 'POST /api/v1/support/canned': (x) => json(201, { id: 'k2', ...(x.body as object), updated_at: '' }) });
    renderWith(<App />, { client: c, path: '/support/canned' });
    const form = await screen.findByTestId('canned-new');
    fireEvent.change(within(form).getByLabelText('Name'), { target: { value: 'Bad Name!' } });
    fireEvent.change(within(form).getByLabelText('Text'), { target: { value: 'Hi' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add' }));
    expect(await screen.findByText('Use 1 to 32 of a–z, 0–9, _ and -.')).toBeTruthy();
    expect(calls.some((x) => x.method === 'POST' && x.path.endsWith('/canned'))).toBe(false);
    fireEvent.change(within(form).getByLabelText('Name'), { target: { value: 'Hello' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add' }));
    await waitFor(() => expect(calls.find((x) => x.method === 'POST' && x.path.endsWith('/canned'))?.body).toEqual({ name: 'hello', text: 'Hi' }));
  });

  it('hides the editor from agents', async () => {
    const { client: c } = desk(agent);
    renderWith(<App />, { client: c, path: '/support/canned' });
    await screen.findByTestId('canned');
    expect(screen.queryByTestId('canned-new')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Edit' })).toBeNull();
  });

  it('shows the bind command and what a group is missing', async () => {
    const { client: c } = desk(owner, {
      'GET /api/v1/support/staff-groups': () => json(200, { staff_groups: [
        { bot_id: 42, chat_id: -1001, title: 'Staff', status: 'missing_rights', missing: ['can_manage_topics'], request_types: [], open: 3, backlog: 1 },
        { bot_id: 42, chat_id: -1002, title: 'Billing', status: 'ok', missing: [], request_types: ['payment', 'refund'], open: 0, backlog: 0 },
      ] }),
      'POST /api/v1/support/staff-groups/bind-code': () => json(201, { code: 'sup-abc', command: '/bind sup-abc', expires_at: '2999-01-01T00:00:00Z' }),
    });
    renderWith(<App />, { client: c, path: '/support/staff-groups' });
    expect(await screen.findByText('The bot needs the right to manage topics.')).toBeTruthy();
    expect(screen.getByText(/Manage topics/)).toBeTruthy();
    const loads = screen.getAllByTestId('group-load').map((e) => e.textContent);
    expect(loads).toEqual(['Open: 3, unanswered: 1 · takes every request type', 'Open: 0, unanswered: 0 · takes: payment, refund']);
    fireEvent.click(screen.getByRole('button', { name: 'Create a bind code' }));
    expect(((await screen.findByTestId('bind-command')) as HTMLInputElement).value).toBe('/bind sup-abc');
    expect(screen.getByText(/Waiting for the group/)).toBeTruthy();
  });

  it('shows metrics as a table and bars, or an empty state without the route', async () => {
    const agents = [
      { user_id: 'u1', name: 'Olga', tickets_handled: 12, median_first_response_seconds: 95, median_resolution_seconds: 7300, csat_avg: 4.5, csat_count: 4 },
      { user_id: 'u2', name: 'Agata', tickets_handled: 3, median_first_response_seconds: null, median_resolution_seconds: null, csat_avg: null, csat_count: 0 },
    ];
    const { client: c, calls } = desk(owner, { 'GET /api/v1/support/metrics': () => json(200, { agents, totals: { tickets_handled: 15 } }) });
    renderWith(<App />, { client: c, path: '/support/metrics' });
    const table = await screen.findByTestId('metrics-table');
    expect(within(table).getByText('1 min 35 s')).toBeTruthy();
    expect(within(table).getByText('2 h 1 min')).toBeTruthy();
    expect(within(table).getByText('4.5 (4)')).toBeTruthy();
    expect(screen.getByTestId('metrics-chart').querySelectorAll('rect').length).toBe(2);
    const q = new URL(calls.find((x) => x.path.startsWith('/api/v1/support/metrics'))!.path, 'http://x').searchParams;
    expect(new Date(q.get('to')!).getTime() - new Date(q.get('from')!).getTime()).toBeCloseTo(30 * 86400_000, -5);

    const { client: c2 } = desk(owner);
    renderWith(<App />, { client: c2, path: '/support/metrics' });
    expect(await screen.findByText('Agent metrics are not available on this server yet.')).toBeTruthy();
  });

  it('formats durations and periods', () => {
    const t = (k: Parameters<typeof translate>[1], v?: Record<string, string | number>) => translate('ru', k, v);
    expect(duration(t, 42)).toBe('42 с');
    expect(duration(t, 3600)).toBe('1 ч');
    expect(duration(t, 200000)).toBe('2 д 7 ч');
    expect(duration(t, null)).toBe('—');
    const [f, to] = range('custom', '2025-03-01', '2025-03-02');
    expect(new Date(to).getTime() - new Date(f).getTime()).toBe(2 * 86400_000);
  });
});
