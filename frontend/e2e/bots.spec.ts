// Connect a bot by token (the sandbox plays Telegram), see its webhook
// health, re-register the webhook, replace the token, remove the bot.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall, apiLogin, env, launch, newContext, signUpUI, unique } from './helpers';

const botId = 700000000 + Math.floor(Math.random() * 90000000);
const token = (c: string) => `${botId}:${c.repeat(35)}`;

describe.skipIf(!(env.routes.auth && env.routes.tenant && env.routes.bots))('bots', () => {
  let browser: Browser;
  let page: Page;
  const email = `${unique('bots')}@example.com`;
  beforeAll(async () => {
    browser = await launch();
    page = await (await newContext(browser)).newPage();
    await signUpUI(page, unique('Bot Co'), email);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('connects a bot and shows what Telegram says about it', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Bots' }).click();
    await page.getByText(/No bots yet/).waitFor();
    await page.getByLabel('Bot token').fill('123:short');
    await page.getByRole('button', { name: 'Check token' }).click();
    await page.locator('.field-error[data-field="token"]').waitFor();

    // The name and @username Telegram gives are shown before anything is saved.
    await page.getByLabel('Bot token').fill(token('A'));
    await page.getByRole('button', { name: 'Check token' }).click();
    const preview = page.getByTestId('bot-preview');
    await preview.waitFor();
    expect(await preview.textContent()).toContain(`@sandbox${botId}_bot`);
    const before = await apiCall<{ items: { id: number }[] }>('GET', '/api/v1/bots', await apiLogin(email));
    expect(before.json.items.map((b) => b.id)).not.toContain(botId);
    await page.getByRole('button', { name: 'Connect' }).click();
    const done = page.getByTestId('bot-connected');
    await done.waitFor();
    expect(await done.textContent()).toContain(`@sandbox${botId}_bot`);
    await page.getByTestId('bots').getByText(`@sandbox${botId}_bot`).waitFor();

    const api = await apiLogin(email);
    const list = await apiCall<{ items: { id: number; username: string }[] }>('GET', '/api/v1/bots', api);
    expect(list.json.items.map((b) => b.id)).toContain(botId);
  });

  it('shows webhook health and re-registers the webhook', async () => {
    await page.getByTestId('bots').getByRole('link').first().click();
    const health = page.getByTestId('webhook-health');
    await health.getByTestId('pending').waitFor();
    await health.getByRole('button', { name: 'Re-register webhook' }).click();
    await health.getByText('The webhook was registered again.').waitFor();
    const api = await apiLogin(email);
    const wh = await apiCall<{ url_matches: boolean }>('GET', `/api/v1/bots/${botId}/webhook`, api);
    expect(wh.json.url_matches).toBe(true);
  });

  it('replaces the token, refuses another bot’s token, and removes the bot', async () => {
    await page.getByLabel('New token').fill(`${botId + 1}:${'C'.repeat(35)}`);
    await page.getByRole('button', { name: 'Replace token' }).click();
    // The server explains why (another bot's token) next to the field or above the form.
    await page.locator('.field-error[data-field="token"], [data-testid="form-alert"]').first().waitFor();

    await page.getByLabel('New token').fill(token('B'));
    await page.getByRole('button', { name: 'Replace token' }).click();
    await page.getByText(/Token replaced for/).waitFor();

    await page.getByRole('button', { name: 'Remove the bot' }).click();
    await page.getByRole('button', { name: /^Remove @/ }).click();
    await page.getByText(/No bots yet/).waitFor();
    const api = await apiLogin(email);
    const list = await apiCall<{ items: { id: number }[] }>('GET', '/api/v1/bots', api);
    expect(list.json.items.map((b) => b.id)).not.toContain(botId);
  });
});
