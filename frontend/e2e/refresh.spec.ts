// With HELPDESK_ACCESS_TTL=5s, a flow that outlives the access token goes on
// without a new login: the console refreshes once (single-flight) and retries.
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall, env, launch, newContext, PASSWORD, unique } from './helpers';

describe.skipIf(!env.routes.auth)('silent session refresh', () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    browser = await launch();
    page = await (await newContext(browser)).newPage();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('outlives the access token without logging in again', async () => {
    const email = `${unique('refresh')}@example.com`;
    const company = unique('Refresh Co');
    const signup = await apiCall('POST', '/api/v1/signup', undefined, { company, name: 'Rita', email, password: PASSWORD });
    expect(signup.status).toBe(201);

    await page.goto('/login');
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    const loginResponse = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login'));
    await page.getByRole('button', { name: 'Log in' }).click();
    const { access_token: firstToken } = (await (await loginResponse).json()) as { access_token: string };
    await page.getByTestId('logout').waitFor();

    // Wait for the condition itself: the server refuses the first access token.
    const deadline = Date.now() + (env.accessTTLSeconds + 15) * 1000;
    for (;;) {
      const me = await apiCall<{ code?: string }>('GET', '/api/v1/me', firstToken);
      if (me.status === 401) {
        expect(me.json.code).toBe('token_expired');
        break;
      }
      if (Date.now() > deadline) throw new Error('the access token never expired');
      await new Promise((r) => setTimeout(r, 250));
    }

    // The team page loads members and invites at once: both get
    // token_expired, and exactly one refresh serves them.
    const refreshes: Request[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/api/v1/auth/refresh')) refreshes.push(r);
    });
    await page.getByRole('navigation').getByRole('link', { name: 'Team' }).click();
    await page.getByTestId('members').waitFor();
    expect(refreshes).toHaveLength(1);
    const refreshed = await refreshes[0].response();
    expect(refreshed?.status()).toBe(200);

    // And the work done afterwards is real: a settings change persists.
    if (!env.routes.tenant) return;
    await page.getByRole('navigation').getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByLabel('Time zone').fill('Europe/Berlin');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/settings');
    const login = await apiCall<{ access_token: string }>('POST', '/api/v1/auth/login', undefined, { email, password: PASSWORD });
    const tenant = await apiCall<{ timezone: string }>('GET', '/api/v1/tenant', login.json.access_token);
    expect(tenant.json.timezone).toBe('Europe/Berlin');
  });
});
