// Every main screen on a 390×844 phone: no horizontal overflow, and a
// screenshot in test-artifacts/ for people to look at.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPhoneScreen, env, launch, logInUI, newContext, signUpUI, unique } from './helpers';

describe.skipIf(!env.routes.auth)('phone layout', () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    browser = await launch();
    page = await (await newContext(browser, { phone: true })).newPage();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('public screens fit', async () => {
    await page.goto('/login');
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await checkPhoneScreen(page, 'login');
    await page.goto('/signup');
    await page.getByRole('button', { name: 'Create account' }).click(); // show the field errors too
    await page.locator('.field-error').first().waitFor();
    await checkPhoneScreen(page, 'signup-errors');
    await page.goto('/invite/not-a-real-token');
    await checkPhoneScreen(page, 'accept-invite');
    await page.goto('/reset-password');
    await page.getByRole('heading', { name: 'Reset your password' }).waitFor();
    await checkPhoneScreen(page, 'reset-password');
  });

  it('signed-in screens fit, with the menu behind the hamburger', async () => {
    const email = `${unique('phone')}@example.com`;
    await signUpUI(page, unique('Phone Co with a rather long company name'), email, 'Pavel Phone-Number-Longname');
    await checkPhoneScreen(page, 'home');

    const nav = page.getByRole('navigation');
    expect(await nav.isVisible()).toBe(false);
    await page.getByRole('button', { name: 'Menu' }).click();
    await nav.getByRole('link', { name: 'Team' }).waitFor();
    await checkPhoneScreen(page, 'menu-open');

    await nav.getByRole('link', { name: 'Team' }).click();
    await page.getByTestId('members').waitFor();
    await page.getByLabel('E-mail').fill(`${unique('someone-with-a-long-address')}@example.com`);
    await page.getByRole('button', { name: 'Create invite' }).click();
    await page.getByTestId('invite-link').waitFor();
    await checkPhoneScreen(page, 'team');

    if (env.routes.tenant) {
      await page.goto('/settings');
      await page.getByTestId('settings-form').waitFor();
      await checkPhoneScreen(page, 'settings');

      await page.goto('/settings/texts');
      await page.getByTestId('texts').waitFor();
      await checkPhoneScreen(page, 'texts');
    }

    if (env.routes.bots) {
      await page.goto('/bots');
      await page.getByLabel('Bot token').fill(`${800000000 + Math.floor(Math.random() * 90000000)}:${'P'.repeat(35)}`);
      await page.getByRole('button', { name: 'Check token' }).click();
      await page.getByTestId('bot-preview').waitFor();
      await page.getByRole('button', { name: 'Connect' }).click();
      await page.getByTestId('bot-connected').waitFor();
      await checkPhoneScreen(page, 'bots');
      await page.getByTestId('bots').getByRole('link').first().click();
      await page.getByTestId('webhook-health').getByTestId('pending').waitFor();
      await checkPhoneScreen(page, 'bot-detail');
    }

    await page.goto('/account');
    await page.getByTestId('sessions').waitFor();
    await checkPhoneScreen(page, 'account');
  });

  it.skipIf(!env.operator || !env.routes.ops)('the operator area fits', async () => {
    const ctx = await newContext(browser, { phone: true });
    const op = await ctx.newPage();
    await logInUI(op, env.operator!.email, env.operator!.password);
    await op.getByTestId('ops-tenants').waitFor();
    await checkPhoneScreen(op, 'operator');
    await ctx.close();
  });
});
