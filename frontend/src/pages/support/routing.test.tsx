import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../../App';
import type { Routing } from '../../api/types';
import { agent, client, json, owner, problem, type Call } from '../../test/fake';
import { renderWith } from '../../test/render';
import { slugKey } from './Routing';

const routing: Routing = {
  languages: ['ru', 'en'],
  greeting: {
    values: { ru: 'Здравствуйте, {first_name}!', en: 'Hello, {first_name}!' },
    defaults: { ru: 'Здравствуйте, {first_name}!', en: 'Hello, {first_name}!' },
    placeholders: ['first_name', 'tenant_name'],
  },
  route_prompt: { values: { ru: 'Выберите тему', en: 'Choose a topic' }, defaults: { ru: 'Выберите тему', en: 'Choose a topic' }, placeholders: [] },
  request_types: [
    { key: 'payment', title: { ru: 'Оплата', en: 'Payment' }, tag: 'billing', auto_reply: { en: 'We check payments daily.' } },
  ],
};
const group = { bot_id: 42, chat_id: -1001, title: 'Billing staff', status: 'ok', missing: [] };

function desk(extra: Record<string, (c: Call) => Response> = {}, user: typeof owner | typeof agent = owner) {
  return client(
    {
      'POST /api/v1/auth/refresh': () => json(200, { access_token: 'A', refresh_token: 'R2' }),
      'GET /api/v1/me': () => json(200, user),
      'GET /api/v1/members': () => json(200, { members: [owner, agent, { ...agent, id: 'u3', name: 'Gone', disabled: true }] }),
      'GET /api/v1/support/staff-groups': () => json(200, { staff_groups: [group] }),
      'GET /api/v1/support/routing': () => json(200, routing),
      ...extra,
    },
    'R1',
  );
}

describe('greeting and routing menu', () => {
  it('edits the greeting and the menu (add, target, order, remove) and saves it whole', async () => {
    let saved: unknown;
    const { client: c } = desk({
      'PUT /api/v1/support/routing': (call) => {
        saved = call.body;
        return json(200, { ...routing, request_types: (call.body as Routing).request_types });
      },
    });
    renderWith(<App />, { client: c, path: '/support/routing' });
    const greetingEn = (await screen.findByLabelText('Greeting (EN)')) as HTMLTextAreaElement;
    expect(greetingEn.value).toBe('Hello, {first_name}!');
    fireEvent.change(greetingEn, { target: { value: 'Welcome, {first_name}!' } });

    fireEvent.click(screen.getByRole('button', { name: 'Add a request type' }));
    const items = () => within(screen.getByTestId('request-types')).getAllByRole('listitem');
    expect(items()).toHaveLength(2);
    const second = within(items()[1]);
    fireEvent.change(second.getByLabelText('Button label (EN)'), { target: { value: 'Refund, please' } });
    fireEvent.change(second.getByLabelText('Button label (RU)'), { target: { value: 'Возврат' } });
    expect((second.getByLabelText('Key') as HTMLInputElement).value).toBe('refund_please');
    // Only active members and bound groups are offered.
    const agentSelect = second.getByLabelText('Assign to') as HTMLSelectElement;
    expect(within(agentSelect).queryByText('Gone')).toBeNull();
    fireEvent.change(agentSelect, { target: { value: 'u2' } });
    fireEvent.change(second.getByLabelText('Staff group'), { target: { value: '42:-1001' } });
    fireEvent.change(second.getByLabelText('Tag'), { target: { value: 'refunds' } });
    fireEvent.click(screen.getByRole('button', { name: 'Move button 2 up' }));
    expect(items()[0].getAttribute('data-key')).toBe('refund_please');

    fireEvent.click(screen.getByRole('button', { name: 'Save greeting and menu' }));
    expect(await screen.findByText('Saved')).toBeTruthy();
    expect(saved).toEqual({
      greeting: { ru: 'Здравствуйте, {first_name}!', en: 'Welcome, {first_name}!' },
      route_prompt: { ru: 'Выберите тему', en: 'Choose a topic' },
      request_types: [
        { key: 'refund_please', title: { en: 'Refund, please', ru: 'Возврат' }, tag: 'refunds', staff_group: { bot_id: 42, chat_id: -1001 }, assignee_user_id: 'u2' },
        // untouched fields (the auto-reply) survive the round trip
        { key: 'payment', title: { ru: 'Оплата', en: 'Payment' }, tag: 'billing', auto_reply: { en: 'We check payments daily.' } },
      ],
    });

    // Removing leaves one button; saving sends exactly that.
    fireEvent.click(screen.getByRole('button', { name: 'Remove button 1' }));
    expect(items()).toHaveLength(1);
    fireEvent.click(screen.getByRole('button', { name: 'Save greeting and menu' }));
    await waitFor(() => expect((saved as Routing).request_types.map((r) => r.key)).toEqual(['payment']));
  });

  it('checks fields before sending and shows the server’s field errors next to them', async () => {
    let puts = 0;
    const { client: c } = desk({
      'PUT /api/v1/support/routing': () => {
        puts++;
        return problem(422, 'validation_failed', 'Some fields are invalid.', [
          { field: 'request_types[0].staff_group', code: 'unknown_staff_group', message: 'not a staff group bound to the tenant’s bot' },
          { field: 'greeting.ru', code: 'unknown_placeholder', message: '{nobody} is not allowed' },
        ]);
      },
    });
    renderWith(<App />, { client: c, path: '/support/routing' });
    const first = within(within(await screen.findByTestId('request-types')).getAllByRole('listitem')[0]);
    fireEvent.change(first.getByLabelText('Button label (RU)'), { target: { value: '' } });
    fireEvent.change(first.getByLabelText('Key'), { target: { value: 'Bad key' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save greeting and menu' }));
    expect(first.getByText('Use 1 to 32 of a–z, 0–9 and _.')).toBeTruthy();
    expect(first.getByText('Fill this in.').getAttribute('data-field')).toBe('request_types[0].title.ru');
    expect(puts).toBe(0);

    fireEvent.change(first.getByLabelText('Button label (RU)'), { target: { value: 'Оплата' } });
    fireEvent.change(first.getByLabelText('Key'), { target: { value: 'payment' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save greeting and menu' }));
    const groupErr = await first.findByText('not a staff group bound to the tenant’s bot');
    expect(groupErr.getAttribute('data-field')).toBe('request_types[0].staff_group');
    expect(screen.getByText('{nobody} is not allowed').getAttribute('data-field')).toBe('greeting.ru');
    expect(puts).toBe(1);
  });

  it('shows the empty menu, the missing route, and keeps agents out', async () => {
    const empty = desk({ 'GET /api/v1/support/routing': () => json(200, { ...routing, request_types: [] }) });
    const r1 = renderWith(<App />, { client: empty.client, path: '/support/routing' });
    expect(await screen.findByText(/No request types: there is no menu/)).toBeTruthy();
    r1.unmount();

    const missing = desk({ 'GET /api/v1/support/routing': () => problem(404, 'route_not_found', 'No such endpoint.') });
    const r2 = renderWith(<App />, { client: missing.client, path: '/support/routing' });
    expect(await screen.findByText('The greeting and menu editor is not available on this server yet.')).toBeTruthy();
    r2.unmount();

    const asAgent = desk({}, agent);
    renderWith(<App />, { client: asAgent.client, path: '/support/routing', lang: 'ru' });
    expect(await screen.findByRole('heading', { level: 1 })).toBeTruthy();
    expect(asAgent.calls.some((x) => x.path.startsWith('/api/v1/support/routing'))).toBe(false);
  });

  it('derives keys from labels', () => {
    expect(slugKey('Refund, please!')).toBe('refund_please');
    expect(slugKey('Оплата')).toBe('');
    expect(slugKey('x'.repeat(40))).toHaveLength(32);
  });
});
