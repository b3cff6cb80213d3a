// The support desk's main flow in the browser against the real platform and
// the Telegram sandbox: sign up → connect a bot → bind a staff group with a
// /bind code sent in a sandbox forum → a person writes to the bot → the
// ticket appears in the inbox → reply from the web → the person receives it
// and it is mirrored into the topic (checked through the sandbox transcript
// and the platform API); another company's user gets "no such request/bot"
// at the same URLs. Then saved replies, metrics, the greeting and
// routing menu (a new person gets the new greeting and buttons; the choice
// tags, assigns and places the ticket), and every support screen at 390×844.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall, apiLogin, checkPhoneScreen, env, eventually, launch, logInUI, newContext, PASSWORD, sandbox, shot, signUpUI, unique } from './helpers';

interface Entry { chat_id: number; message_thread_id?: number; sender_kind: string; text?: string; caption?: string }
interface TicketJSON { id: string; no: number; status: string; contact_name: string; assignee_user_id: string | null }
interface MessageJSON { direction: string; text: string; kind: string }

const botId = 600000000 + Math.floor(Math.random() * 90000000);
const token = `${botId}:${'S'.repeat(35)}`;
// A 1×1 PNG, so the photo is a real image wherever it is shown.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

describe.skipIf(!(env.routes.auth && env.routes.bots && env.routes.support))('support desk', () => {
  let browser: Browser;
  let page: Page;
  const email = `${unique('desk')}@example.com`;
  const replyText = `Hello Carol, we are on it (${unique('r')})`;
  let groupId = 0;
  let customerId = 0;
  let ticketId = '';

  beforeAll(async () => {
    browser = await launch();
    page = await (await newContext(browser)).newPage();
    await signUpUI(page, unique('Desk Co'), email);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('binds a staff group with a one-time code sent in a sandbox forum', async () => {
    await page.goto('/bots');
    await page.getByLabel('Bot token').fill(token);
    await page.getByRole('button', { name: 'Check token' }).click();
    await page.getByTestId('bot-preview').waitFor();
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByTestId('bot-connected').waitFor();

    await page.getByRole('navigation').getByRole('link', { name: 'Staff group' }).click();
    await page.getByText('No staff group is bound yet.').waitFor();
    await page.getByText(/Manage topics/).waitFor();
    await page.getByRole('button', { name: 'Create a bind code' }).click();
    const command = await page.getByTestId('bind-command').inputValue();
    expect(command).toMatch(/^\/bind sup-/);
    await page.getByText(/Waiting for the group/).waitFor();

    const staff = await sandbox<{ id: number }>('createUser', { first_name: 'Sam', last_name: 'Staff', username: unique('sam').replace('-', '_') });
    const group = await sandbox<{ id: number }>('createForumSupergroup', { title: 'Desk Co support', member_ids: [staff.id] });
    groupId = group.id;
    await sandbox('addBotToChat', { bot_id: botId, chat_id: groupId, rights: { can_manage_topics: true, can_delete_messages: true } });
    await sandbox('sendText', { user_id: staff.id, chat_id: groupId, text: command });

    // The page polls until the group is bound.
    await page.getByTestId('bound').waitFor({ timeout: 30_000 });
    await page.getByTestId('staff-groups').locator(`[data-status="ok"]`).getByText('Desk Co support').waitFor();
    await shot(page, 'support-staff-groups');

    const api = await apiLogin(email);
    const gs = await apiCall<{ staff_groups: { chat_id: number; status: string }[] }>('GET', '/api/v1/support/staff-groups', api);
    expect(gs.json.staff_groups).toContainEqual(expect.objectContaining({ chat_id: groupId, status: 'ok' }));
    const confirm = await sandbox<Entry[]>('transcript', { chat_id: groupId });
    expect(confirm.some((e) => e.sender_kind === 'bot' && (e.text ?? '').includes('support group'))).toBe(true);
  });

  it('shows a person’s message as a ticket in the inbox with its media', async () => {
    const carol = await sandbox<{ id: number }>('createUser', { first_name: 'Carol', last_name: 'Customer', language_code: 'en' });
    customerId = carol.id;
    await sandbox('sendCommand', { user_id: customerId, chat_id: botId, command: 'start' });
    await sandbox('sendText', { user_id: customerId, chat_id: botId, text: 'My parcel has not arrived' });
    await sandbox('send', { user_id: customerId, chat_id: botId, media: { kind: 'photo', data: PNG, caption: 'the label' } });

    await page.getByRole('navigation').getByRole('link', { name: 'Inbox' }).click();
    const row = page.getByTestId('tickets').getByRole('link', { name: /Carol Customer/ });
    await row.waitFor({ timeout: 30_000 });
    await row.click();
    const conv = page.getByTestId('conversation');
    await conv.getByText('My parcel has not arrived').waitFor();
    // The photo arrives a moment later; the ticket page polls.
    await conv.getByText('the label').waitFor({ timeout: 20_000 });
    if (env.routes.supportFiles) await conv.getByTestId('media-image').waitFor();
    else await conv.getByTestId('media-unavailable').waitFor();
    ticketId = page.url().split('/inbox/')[1];
    expect(ticketId).toMatch(/^[0-9a-f-]{36}$/);
    await page.getByRole('link', { name: /Back to the inbox/ }).click();
    await page.getByTestId('tickets').waitFor();
    await shot(page, 'support-inbox');
  });

  it('replies from the web: the person receives it and the topic gets a copy', async () => {
    await page.goto(`/inbox/${ticketId}`);
    await page.getByLabel('Your reply').fill(replyText);
    await page.getByRole('button', { name: 'Send reply' }).click();
    await page.getByText('Sent', { exact: true }).waitFor();
    await page.getByTestId('conversation').locator('[data-direction="out"]').getByText(replyText).waitFor();
    await shot(page, 'support-ticket');

    const got = await eventually('the person receives the reply', async () => {
      const tr = await sandbox<Entry[]>('transcript', { bot_id: botId, user_id: customerId });
      return tr.find((e) => e.sender_kind === 'bot' && (e.text ?? '').includes(replyText));
    });
    expect(got.chat_id).toBe(customerId);
    await eventually('the reply is mirrored into the topic', async () => {
      const tr = await sandbox<Entry[]>('transcript', { chat_id: groupId });
      return tr.find((e) => e.sender_kind === 'bot' && !!e.message_thread_id && (e.text ?? '').includes(replyText));
    });

    const api = await apiLogin(email);
    const me = await apiCall<{ id: string }>('GET', '/api/v1/me', api);
    const tk = await apiCall<{ ticket: TicketJSON; messages: MessageJSON[] }>('GET', `/api/v1/support/tickets/${ticketId}`, api);
    expect(tk.json.messages).toContainEqual(expect.objectContaining({ direction: 'out', text: replyText }));
    expect(tk.json.messages).toContainEqual(expect.objectContaining({ direction: 'in', kind: 'photo' }));
    expect(tk.json.ticket.status).toBe('in_work');
    expect(tk.json.ticket.assignee_user_id).toBe(me.json.id);

    // Resolve from the web.
    await page.getByTestId('ticket-status').selectOption('resolved');
    await page.getByText(/This request is resolved/).waitFor();
    const after = await apiCall<{ ticket: TicketJSON }>('GET', `/api/v1/support/tickets/${ticketId}`, api);
    expect(after.json.ticket.status).toBe('resolved');
    const mine = await apiCall<{ tickets: TicketJSON[] }>('GET', '/api/v1/support/tickets?status=resolved&assignee=me', api);
    expect(mine.json.tickets.map((x) => x.id)).toContain(ticketId);
  });

  it('another company’s user cannot open this ticket or bot by editing the URL', async () => {
    const other = `${unique('nosy')}@example.com`;
    const signup = await apiCall<{ access_token: string }>('POST', '/api/v1/signup', undefined, { company: unique('Nosy Co'), name: 'Nina Nosy', email: other, password: PASSWORD });
    expect(signup.status).toBe(201);
    const ctx = await newContext(browser);
    const p = await ctx.newPage();
    await logInUI(p, other);
    await p.goto(`/inbox/${ticketId}`);
    await p.getByText('There is no such request (or it belongs to another company).').waitFor();
    expect(await p.getByText('My parcel has not arrived').count()).toBe(0);
    await p.goto(`/bots/${botId}`);
    await p.getByText('There is no such bot (or it belongs to another company).').waitFor();
    await p.goto('/inbox');
    await p.getByText(/No requests yet/).waitFor();
    await shot(p, 'support-other-tenant');
    // The API agrees: not found (not forbidden), and nothing of the first company is listed.
    const tk = await apiLogin(other);
    expect((await apiCall('GET', `/api/v1/support/tickets/${ticketId}`, tk)).status).toBe(404);
    expect((await apiCall('POST', `/api/v1/support/tickets/${ticketId}/reply`, tk, { text: 'hi' })).status).toBe(404);
    expect((await apiCall('GET', `/api/v1/bots/${botId}`, tk)).status).toBe(404);
    const list = await apiCall<{ tickets: TicketJSON[] }>('GET', '/api/v1/support/tickets', tk);
    expect(list.json.tickets).toEqual([]);
    await ctx.close();
  });

  it('edits saved replies and shows the metrics screen', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Saved replies' }).click();
    const form = page.getByTestId('canned-new');
    await form.getByLabel('Name').fill('parcel');
    await form.getByLabel('Text').fill('Your parcel is on its way.');
    await form.getByRole('button', { name: 'Add' }).click();
    await page.getByTestId('canned').getByText('/t parcel').waitFor();
    await shot(page, 'support-canned');
    const api = await apiLogin(email);
    const list = await apiCall<{ canned: { name: string; text: string }[] }>('GET', '/api/v1/support/canned', api);
    expect(list.json.canned).toContainEqual(expect.objectContaining({ name: 'parcel', text: 'Your parcel is on its way.' }));

    await page.getByRole('navigation').getByRole('link', { name: 'Agent metrics' }).click();
    await page.getByRole('heading', { name: 'Agent metrics' }).waitFor();
    if (env.routes.supportMetrics) await page.getByTestId('metrics-table').or(page.getByText('No requests were handled in this period.')).waitFor();
    else await page.getByText('Agent metrics are not available on this server yet.').waitFor();
    await shot(page, 'support-metrics');
  });

  it('edits the greeting and the routing menu; a person gets them and is routed by the choice', async () => {
    const mark = unique('g');
    await page.getByRole('navigation').getByRole('link', { name: 'Greeting and menu' }).click();
    const form = page.getByTestId('routing-form');
    await form.waitFor();
    await page.getByText(/No request types: there is no menu/).waitFor();
    await page.getByLabel('Greeting (EN)').fill(`Welcome to the desk, {first_name}! ${mark}`);
    await page.getByLabel('Question above the buttons (EN)').fill('What is your request about?');
    const item = (n: number) => page.getByTestId('request-types').getByRole('listitem').nth(n);
    for (const [en, ru] of [['Lost parcel', 'Потерялась посылка'], ['Invoice question', 'Вопрос по счёту'], ['Other', 'Другое']]) {
      await page.getByRole('button', { name: 'Add a request type' }).click();
      const it = page.getByTestId('request-types').getByRole('listitem').last();
      await it.getByLabel('Button label (EN)').fill(en);
      await it.getByLabel('Button label (RU)').fill(ru);
    }
    await item(0).getByLabel('Staff group').selectOption({ label: 'Desk Co support' });
    await item(0).getByLabel('Assign to').selectOption({ label: 'Olga Owner' });
    await item(0).getByLabel('Tag').fill('parcel');
    await item(1).getByLabel('Tag').fill('Bad Tag');
    await page.getByRole('button', { name: 'Remove button 3' }).click();
    await page.getByRole('button', { name: 'Move button 2 up' }).click();
    await page.getByRole('button', { name: 'Save greeting and menu' }).click();
    // The client check names the bad tag next to its field; nothing is sent.
    await item(0).locator('[data-field="request_types[0].tag"]').waitFor();
    await item(0).getByLabel('Tag').fill('invoice');
    await page.getByRole('button', { name: 'Save greeting and menu' }).click();
    await page.getByText('Saved', { exact: true }).waitFor();
    await shot(page, 'support-routing');

    const api = await apiLogin(email);
    const me = await apiCall<{ id: string }>('GET', '/api/v1/me', api);
    const r = await apiCall<{ greeting: { values: Record<string, string> }; request_types: { key: string; title: Record<string, string>; tag?: string; staff_group?: { chat_id: number }; assignee_user_id?: string }[] }>(
      'GET', '/api/v1/support/routing', api);
    expect(r.status).toBe(200);
    expect(r.json.greeting.values.en).toBe(`Welcome to the desk, {first_name}! ${mark}`);
    expect(r.json.request_types).toEqual([
      { key: 'invoice_question', title: { en: 'Invoice question', ru: 'Вопрос по счёту' }, tag: 'invoice' },
      { key: 'lost_parcel', title: { en: 'Lost parcel', ru: 'Потерялась посылка' }, tag: 'parcel', staff_group: { bot_id: botId, chat_id: groupId }, assignee_user_id: me.json.id },
    ]);
    // A server-side refusal lands next to its field too (an agent id that is not a member).
    const bad = await apiCall<{ errors: { field: string; code: string }[] }>('PUT', '/api/v1/support/routing', api, {
      request_types: [{ key: 'x', title: { en: 'X', ru: 'X' }, assignee_user_id: '00000000-0000-7000-8000-000000000000' }],
    });
    expect(bad.status).toBe(422);
    expect(bad.json.errors).toContainEqual(expect.objectContaining({ field: 'request_types[0].assignee_user_id', code: 'unknown_member' }));

    // A new person: /start gets the new greeting, the first message the new buttons.
    const dan = await sandbox<{ id: number }>('createUser', { first_name: 'Dan', language_code: 'en' });
    await sandbox('sendCommand', { user_id: dan.id, chat_id: botId, command: 'start' });
    await eventually('the new greeting', async () => {
      const tr = await sandbox<Entry[]>('transcript', { bot_id: botId, user_id: dan.id });
      return tr.find((e) => e.sender_kind === 'bot' && e.text === `Welcome to the desk, Dan! ${mark}`);
    });
    await sandbox('sendText', { user_id: dan.id, chat_id: botId, text: 'Where is my parcel?' });
    const menu = await eventually('the routing menu', async () => {
      const tr = await sandbox<(Entry & { message_id: number; message: { reply_markup?: { inline_keyboard: { text: string; callback_data: string }[][] } } })[]>(
        'transcript', { bot_id: botId, user_id: dan.id });
      return tr.find((e) => e.sender_kind === 'bot' && e.text === 'What is your request about?');
    });
    const buttons = (menu.message.reply_markup?.inline_keyboard ?? []).flat();
    expect(buttons.map((b) => b.text)).toEqual(['Invoice question', 'Lost parcel']);
    await sandbox('pressButton', { user_id: dan.id, chat_id: botId, message_id: menu.message_id, callback_data: buttons[1].callback_data });
    // The choice tags the ticket and assigns the type's agent (API), and the topic opens in its group.
    const tk = await eventually('Dan’s ticket routed', async () => {
      const l = await apiCall<{ tickets: (TicketJSON & { tags: string[] })[] }>('GET', '/api/v1/support/tickets?tag=parcel', api);
      return l.json.tickets.find((x) => x.contact_name.startsWith('Dan') && x.assignee_user_id === me.json.id);
    });
    expect(tk.tags).toContain('parcel');
    await eventually('Dan’s message in a topic of the staff group', async () => {
      const tr = await sandbox<Entry[]>('transcript', { chat_id: groupId });
      return tr.find((e) => !!e.message_thread_id && (e.text ?? '').includes('Where is my parcel?'));
    });
  });

  it('every support screen fits a 390×844 phone', async () => {
    const ctx = await newContext(browser, { phone: true });
    const p = await ctx.newPage();
    await logInUI(p, email);
    await p.goto('/inbox');
    await p.getByTestId('tickets').waitFor();
    await checkPhoneScreen(p, 'support-inbox');
    await p.goto(`/inbox/${ticketId}`);
    await p.getByTestId('conversation').getByText(replyText).waitFor();
    await checkPhoneScreen(p, 'support-ticket');
    await p.goto('/support/canned');
    await p.getByTestId('canned').waitFor();
    await checkPhoneScreen(p, 'support-canned');
    await p.goto('/support/staff-groups');
    await p.getByTestId('staff-groups').waitFor();
    await p.getByRole('button', { name: 'Create a bind code' }).click();
    await p.getByTestId('bind-command').waitFor();
    await checkPhoneScreen(p, 'support-staff-groups');
    await p.goto('/support/metrics');
    await p.getByRole('heading', { name: 'Agent metrics' }).waitFor();
    await checkPhoneScreen(p, 'support-metrics');
    await p.goto('/support/routing');
    await p.getByTestId('request-types').waitFor();
    await checkPhoneScreen(p, 'support-routing');
    // Russian labels are longer: the editor and the inbox still fit.
    await p.getByRole('button', { name: 'RU', exact: true }).click();
    await p.getByRole('heading', { name: 'Приветствие и меню' }).waitFor();
    await checkPhoneScreen(p, 'support-routing-ru');
    await p.goto('/inbox');
    await p.getByTestId('tickets').waitFor();
    await checkPhoneScreen(p, 'support-inbox-ru');
    await ctx.close();
  });
});
