// The operator area against the real platform: the operator sees the four
// queues (and the API agrees), pauses and resumes one, finds a tenant's bot
// whose webhook the sandbox refuses among the unhealthy webhooks, reads
// per-tenant usage; a tenant user gets "not allowed" and the API answers 403;
// every operator screen fits a 390×844 phone.
//
// Failed tasks are made through the real system: the periodic telegram:sweep
// task (MaxRetry 0) calls the SQL function prune_processed_updates; with the
// function renamed for a few seconds the sweeps fail and asynq archives them
// with the error. The operator runs one (it now succeeds) and deletes another
// from the failed-task screen; the /ops API confirms both left the archive.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall, apiLogin, checkPhoneScreen, env, eventually, launch, logInUI, newContext, PASSWORD, psql, sandbox, shot, unique } from './helpers';

interface QueueJSON { name: string; paused: boolean; history: unknown[] | null }
interface TaskJSON { id: string; type: string; last_error: string }
interface BotJSON { bot_id: number; tenant_name: string; healthy: boolean; last_error_message?: string }

const QUEUES = ['broadcast', 'default', 'outbound', 'updates'];

describe.skipIf(!env.operator || !env.routes.ops)('operator area', () => {
  let browser: Browser;
  let page: Page;
  // Access tokens live 5 s in the e2e platform: log in afresh for each API check.
  const asOp = <T = unknown>(method: string, path: string) => apiLogin(env.operator!.email, env.operator!.password).then((tk) => apiCall<T>(method, path, tk));

  beforeAll(async () => {
    browser = await launch();
    page = await (await newContext(browser)).newPage();
    await logInUI(page, env.operator!.email, env.operator!.password);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('shows the four queues, pauses and resumes one', async () => {
    const api = await asOp<{ queues: QueueJSON[]; dead_updates: number }>('GET', '/ops/queues');
    expect(api.status).toBe(200);
    expect(api.json.queues.map((q) => q.name).sort()).toEqual(QUEUES);
    expect(typeof api.json.dead_updates).toBe('number');

    await page.getByRole('navigation').getByRole('link', { name: 'Queues' }).click();
    const table = page.getByTestId('ops-queue-table');
    await table.waitFor();
    for (const name of QUEUES) await table.locator(`tr[data-queue="${name}"]`).waitFor();
    expect(await table.locator('tbody tr').count()).toBe(4);
    await page.getByTestId('week-default').waitFor();
    await shot(page, 'operator-queues');

    // asynq pauses only queues it has seen (a pause of a never-used queue is a no-op
    // on the server), so pause one that has stats: its history is non-empty.
    const known = api.json.queues.filter((q) => (q.history?.length ?? 0) > 0).map((q) => q.name);
    const name = ['default', 'outbound', 'broadcast', 'updates'].find((n) => known.includes(n));
    if (!name) {
      process.stdout.write('[e2e] NOTE: no queue has been used yet; pause/resume is checked by the unit tests only\n');
      return;
    }
    const row = table.locator(`tr[data-queue="${name}"]`);
    await row.getByRole('button', { name: 'Pause' }).click();
    await row.getByRole('button', { name: 'Confirm' }).click();
    await row.getByText('Paused').waitFor();
    const paused = await asOp<{ queues: QueueJSON[] }>('GET', '/ops/queues');
    expect(paused.json.queues.find((q) => q.name === name)?.paused).toBe(true);
    await row.getByRole('button', { name: 'Resume' }).click();
    await row.getByText('Running').waitFor();
    const resumed = await asOp<{ queues: QueueJSON[] }>('GET', '/ops/queues');
    expect(resumed.json.queues.find((q) => q.name === name)?.paused).toBe(false);
  });

  it('opens a queue’s failed tasks', async () => {
    await page.goto('/operator/queues/outbound');
    await page.getByRole('heading', { name: 'Failed tasks: outbound' }).waitFor();
    const tasks = await asOp<{ tasks: unknown[] }>('GET', '/ops/queues/outbound/tasks?state=archived');
    expect(tasks.status).toBe(200);
    if (tasks.json.tasks.length === 0) await page.getByText('No failed tasks in this queue.').waitFor();
    else await page.getByTestId('ops-tasks').waitFor();
    expect((await asOp('GET', '/ops/queues/nope/tasks')).status).toBe(404);
  });

  it('runs and deletes failed tasks made by a real fault', async () => {
    const archived = async () => (await asOp<{ tasks: TaskJSON[] }>('GET', '/ops/queues/updates/tasks?state=archived')).json.tasks;
    const before = new Set((await archived()).map((x) => x.id));
    // Break the sweep's SQL function until two sweeps have failed; always put it back.
    psql('ALTER FUNCTION prune_processed_updates(timestamptz) RENAME TO prune_processed_updates_e2e_off');
    let failed: TaskJSON[];
    try {
      failed = await eventually('two failed sweeps archived', async () => {
        const l = (await archived()).filter((x) => !before.has(x.id) && x.type === 'telegram:sweep');
        return l.length >= 2 && l;
      }, 20 * env.sweepSeconds * 1000);
    } finally {
      psql('ALTER FUNCTION prune_processed_updates_e2e_off(timestamptz) RENAME TO prune_processed_updates');
    }
    expect(failed[0].last_error).toContain('prune_processed_updates');
    const [ran, gone] = failed;

    await page.goto('/operator/queues/updates?state=archived');
    const list = page.getByTestId('ops-tasks');
    await list.locator(`[data-task="${ran.id}"]`).getByText(/prune_processed_updates/).waitFor();
    await shot(page, 'operator-failed-tasks');
    await list.locator(`[data-task="${ran.id}"]`).getByRole('button', { name: 'Run now' }).click();
    await page.getByTestId('task-note').getByText(ran.id, { exact: false }).waitFor();
    // It ran (the function is back) and did not fail again: gone from the archive for good.
    await eventually('the task ran and left the archive', async () => !(await archived()).some((x) => x.id === ran.id));

    const row = list.locator(`[data-task="${gone.id}"]`);
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('button', { name: 'Delete for good' }).click();
    await page.getByTestId('task-note').getByText(gone.id, { exact: false }).waitFor();
    await row.waitFor({ state: 'detached' });
    const after = await archived();
    expect(after.some((x) => x.id === gone.id)).toBe(false);
    expect(after.some((x) => x.id === ran.id)).toBe(false);
    // Deleting it again: the task no longer exists.
    expect((await asOp('DELETE', `/ops/queues/updates/tasks/${encodeURIComponent(gone.id)}`)).status).toBe(404);
  });

  it.skipIf(!env.routes.bots)('lists a bot whose webhook the sandbox refuses as unhealthy', async () => {
    const company = unique('Hook Co');
    const email = `${unique('hook')}@example.com`;
    const signup = await apiCall<{ access_token: string }>('POST', '/api/v1/signup', undefined, { company, name: 'Hanna Hook', email, password: PASSWORD });
    expect(signup.status).toBe(201);
    const botId = 700000000 + Math.floor(Math.random() * 90000000);
    const connect = await apiCall('POST', '/api/v1/bots', signup.json.access_token, { token: `${botId}:${'H'.repeat(35)}` });
    expect(connect.status, JSON.stringify(connect.json)).toBeLessThan(300);

    await sandbox('refuseWebhook', { bot_id: botId, refuse: true });
    const user = await sandbox<{ id: number }>('createUser', { first_name: 'Una', last_name: 'Unreached' });
    await sandbox('sendText', { user_id: user.id, chat_id: botId, text: 'is anybody there?' });

    const bot = await eventually('the bot listed as unhealthy', async () => {
      const r = await asOp<{ bots: BotJSON[] }>('GET', '/ops/bots?unhealthy=true');
      return r.json.bots.find((b) => b.bot_id === botId && !b.healthy);
    }, 30_000);
    expect(bot.tenant_name).toBe(company);

    await page.getByRole('navigation').getByRole('link', { name: 'Webhooks' }).click();
    const row = page.getByTestId('ops-bots').locator(`tr[data-bot="${botId}"]`);
    await row.waitFor();
    await row.getByText('Unhealthy').waitFor();
    await row.getByText(company).waitFor();
    await shot(page, 'operator-webhooks');
    await sandbox('refuseWebhook', { bot_id: botId, refuse: false });
  });

  it('shows usage per tenant for 1, 7 and 30 days', async () => {
    for (const days of [1, 7, 30]) {
      const r = await asOp<{ days: number; tenants: unknown[] }>('GET', `/ops/usage?days=${days}`);
      expect(r.status).toBe(200);
      expect(r.json.days).toBe(days);
    }
    await page.getByRole('navigation').getByRole('link', { name: 'Usage' }).click();
    await page.getByTestId('ops-usage').waitFor();
    const wait = page.waitForResponse((r) => r.url().includes('/ops/usage?days=30') && r.ok());
    await page.getByLabel('Period').selectOption('30');
    await wait;
    await page.getByTestId('ops-usage').getByText('All tenants').waitFor();
    await shot(page, 'operator-usage');
  });

  it('a tenant user gets "not allowed" and the API answers 403', async () => {
    const email = `${unique('tenant')}@example.com`;
    const signup = await apiCall<{ access_token: string }>('POST', '/api/v1/signup', undefined, { company: unique('Nosy Co'), name: 'Nina Nosy', email, password: PASSWORD });
    expect(signup.status).toBe(201);
    const ctx = await newContext(browser);
    const p = await ctx.newPage();
    await logInUI(p, email);
    expect(await p.getByRole('navigation').getByRole('link', { name: 'Queues' }).count()).toBe(0);
    for (const path of ['/operator', '/operator/queues', '/operator/bots']) {
      await p.goto(path);
      await p.getByTestId('not-allowed').waitFor();
    }
    await shot(p, 'tenant-operator-not-allowed');
    const token = await apiLogin(email);
    for (const [method, path] of [['GET', '/ops/queues'], ['GET', '/ops/bots'], ['GET', '/ops/usage'], ['POST', '/ops/queues/default/pause'], ['DELETE', '/ops/queues/default/tasks/x']]) {
      expect((await apiCall(method, path, token)).status, `${method} ${path}`).toBe(403);
    }
    await ctx.close();
  });

  it('every operator screen fits a phone', async () => {
    const ctx = await newContext(browser, { phone: true });
    const p = await ctx.newPage();
    await logInUI(p, env.operator!.email, env.operator!.password);
    await p.getByTestId('ops-tenants').waitFor();
    await p.goto('/operator/queues');
    await p.getByTestId('ops-queue-table').waitFor();
    await checkPhoneScreen(p, 'operator-queues');
    await p.goto('/operator/queues/updates');
    await p.getByRole('heading', { name: /Failed tasks/ }).waitFor();
    await checkPhoneScreen(p, 'operator-tasks');
    await p.goto('/operator/bots');
    await p.getByLabel('Show healthy bots too').check();
    await p.getByTestId('ops-bots').waitFor();
    await checkPhoneScreen(p, 'operator-webhooks');
    await p.goto('/operator/usage');
    await p.getByTestId('ops-usage').waitFor();
    await checkPhoneScreen(p, 'operator-usage');
    await ctx.close();
  });
});
