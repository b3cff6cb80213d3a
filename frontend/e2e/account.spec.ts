// Sign-up → log out → log in → settings persist → texts → invite → the agent
// accepts in a second browser → the agent is kept out of admin settings.
// Two-factor sign-in: turned on from the account page (the test computes the
// codes an authenticator app would), then login asks for a code.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall, apiLogin, env, launch, logInUI, newContext, PASSWORD, shot, signUpUI, totp, unique } from './helpers';

const needs = env.routes.auth;

describe.skipIf(!needs)('account, settings and team', () => {
  let browser: Browser;
  let owner: BrowserContext;
  let page: Page;
  const company = unique('Acme');
  const ownerEmail = `${unique('owner')}@example.com`;
  const agentEmail = `${unique('agent')}@example.com`;
  let inviteLink = '';

  beforeAll(async () => {
    browser = await launch();
    owner = await newContext(browser);
    page = await owner.newPage();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('signs up, logs out and logs back in', async () => {
    await signUpUI(page, company, ownerEmail);
    await page.getByTestId('logout').click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.getByText('You have logged out.').waitFor();
    // A wrong password is refused with the server's words.
    await page.getByLabel('E-mail').fill(ownerEmail);
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByTestId('form-alert').textContent()).resolves.toContain('Wrong e-mail or password');
    await logInUI(page, ownerEmail);
    if (env.routes.tenant) await page.getByRole('heading', { name: company }).waitFor();
    await shot(page, 'home');
  });

  it.skipIf(!env.routes.tenant)('changes settings and they persist', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Settings', exact: true }).click();
    const form = page.getByTestId('settings-form');
    await form.waitFor();
    await page.getByLabel('Time zone').fill('Asia/Yekaterinburg');
    const surveys = page.locator('input[name="feature-surveys"]');
    const wasOn = await surveys.isChecked();
    await surveys.setChecked(!wasOn);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await shot(page, 'settings');

    const token = await apiLogin(ownerEmail);
    const t = await apiCall<{ timezone: string; features: Record<string, boolean> }>('GET', '/api/v1/tenant', token);
    expect(t.status).toBe(200);
    expect(t.json.timezone).toBe('Asia/Yekaterinburg');
    expect(t.json.features.surveys).toBe(!wasOn);

    // A bad time zone comes back as a field error under the field.
    await page.getByLabel('Time zone').fill('Mars/Olympus');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.locator('.field-error[data-field="timezone"]').textContent()).resolves.toMatch(/time zone/i);
  });

  it.skipIf(!env.routes.tenant)('overrides a bot text and resets it to the default', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Bot texts' }).click();
    const entry = page.getByTestId('texts').locator('li.text-entry').first();
    await entry.waitFor();
    const key = (await entry.getAttribute('data-key'))!;
    const cell = entry.locator('.text-cell[data-lang="en"]');
    await cell.locator('textarea').fill('Hello from the e2e test');
    await cell.getByRole('button', { name: 'Save' }).click();
    await cell.getByText('custom').waitFor();
    await shot(page, 'texts');

    const token = await apiLogin(ownerEmail);
    type Texts = { texts: { key: string; values: Record<string, { value: string; overridden: boolean }> }[] };
    let texts = await apiCall<Texts>('GET', '/api/v1/texts', token);
    expect(texts.json.texts.find((x) => x.key === key)!.values.en).toMatchObject({ value: 'Hello from the e2e test', overridden: true });

    await cell.getByRole('button', { name: 'Reset to default' }).click();
    await cell.getByText('default', { exact: true }).waitFor();
    texts = await apiCall<Texts>('GET', '/api/v1/texts', token);
    expect(texts.json.texts.find((x) => x.key === key)!.values.en.overridden).toBe(false);
  });

  it('invites an agent and shows the link to copy', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
    await page.getByTestId('members').waitFor();
    await page.getByLabel('E-mail').fill(agentEmail);
    await page.getByLabel('Role', { exact: true }).selectOption('agent');
    await page.getByRole('button', { name: 'Create invite' }).click();
    const box = page.getByTestId('invite-link');
    await box.waitFor();
    inviteLink = await box.locator('input').inputValue();
    expect(inviteLink).toMatch(/\/invite\/[^/]+$/);
    await page.getByTestId('invites').getByText(agentEmail).waitFor();
    await shot(page, 'team');

    const token = await apiLogin(ownerEmail);
    const inv = await apiCall<{ invites: { email: string; status: string }[] }>('GET', '/api/v1/invites', token);
    expect(inv.json.invites.some((i) => i.email === agentEmail && i.status === 'pending')).toBe(true);
  });

  it('the agent accepts in another browser and is kept out of admin settings', async () => {
    const agentCtx = await newContext(browser);
    const agent = await agentCtx.newPage();
    await agent.goto(new URL(inviteLink).pathname);
    await agent.getByLabel('Your name').fill('Agata Agent');
    await agent.getByLabel('Password').fill(PASSWORD);
    await agent.getByRole('button', { name: 'Join' }).click();
    await agent.getByTestId('logout').waitFor();
    const nav = agent.getByRole('navigation');
    await nav.getByRole('link', { name: 'Team' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Settings', exact: true }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Bots' }).count()).toBe(0);

    await agent.goto('/settings');
    await agent.getByTestId('not-allowed').waitFor();
    await shot(agent, 'agent-not-allowed');

    const agentToken = await apiLogin(agentEmail);
    const me = await apiCall<{ role: string }>('GET', '/api/v1/me', agentToken);
    expect(me.json.role).toBe('agent');
    // The server agrees: admin routes answer 403 to an agent.
    const invite = await apiCall('POST', '/api/v1/invites', agentToken, { email: 'x@example.com', role: 'agent' });
    expect(invite.status).toBe(403);
    if (env.routes.tenant) {
      const patch = await apiCall('PATCH', '/api/v1/tenant', agentToken, { timezone: 'UTC' });
      expect(patch.status).toBe(403);
    }

    // The owner now sees the agent among the members.
    await page.reload();
    await page.getByTestId('members').locator(`[data-email="${agentEmail}"]`).waitFor();
    await agentCtx.close();
  });

  it('turns on two-factor sign-in; login then asks for the app’s code', async () => {
    const email = `${unique('twofa')}@example.com`;
    const signup = await apiCall<{ access_token: string }>('POST', '/api/v1/signup', undefined, { company: unique('Two Co'), name: 'Tanya Two', email, password: PASSWORD });
    expect(signup.status).toBe(201);
    const probe = await apiCall('GET', '/api/v1/me/totp', signup.json.access_token);
    if (probe.status === 404) {
      process.stdout.write('[e2e] NOTE: this server has no two-factor sign-in; step skipped\n');
      return;
    }
    const ctx = await newContext(browser);
    const p = await ctx.newPage();
    await logInUI(p, email);
    await p.goto('/account');
    const card = p.getByTestId('totp');
    await card.getByLabel('Current password').fill(PASSWORD);
    await card.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const secret = (await card.getByTestId('totp-secret').textContent()) ?? '';
    expect(secret).toMatch(/^[A-Z2-7]+=*$/);
    await card.getByLabel('Code from the app').fill(totp(secret));
    await card.getByRole('button', { name: 'Turn on' }).click();
    await card.getByText(/Two-factor sign-in is on/).waitFor();
    await shot(p, 'account-two-factor');
    await card.getByText('On', { exact: true }).waitFor();
    // The server agrees: the password alone no longer logs in.
    const noCode = await apiCall<{ code: string }>('POST', '/api/v1/auth/login', undefined, { email, password: PASSWORD });
    expect(noCode.status).toBe(401);
    expect(noCode.json.code).toBe('totp_required');

    // Log out and in: the password alone is not enough any more.
    await p.getByTestId('logout').click();
    await p.getByRole('heading', { name: 'Log in' }).waitFor();
    await p.getByLabel('E-mail').fill(email);
    await p.getByLabel('Password').fill(PASSWORD);
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.getByTestId('totp-step').waitFor();
    await p.getByLabel('Code from the app').fill('000000' === totp(secret) ? '111111' : '000000');
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.locator('.field-error[data-field="totp_code"]').waitFor();
    // The confirming code's step is used up; the next step's code is within the allowed skew.
    await p.getByLabel('Code from the app').fill(totp(secret, Date.now() + 30_000));
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.getByTestId('logout').waitFor();
    await p.goto('/account');
    await p.getByTestId('totp').getByText('On', { exact: true }).waitFor();
    await ctx.close();
  });
});
