// Shared pieces of the browser tests: one Chromium per spec file, contexts
// with the platform's base URL, a small API client for assertions, and the
// phone-layout checks.
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect, inject } from 'vitest';

export const env = inject('env');

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: env.chromium,
    headless: true,
    // A fresh --user-data-dir is made by Playwright per launch.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export async function newContext(browser: Browser, opts: { phone?: boolean; lang?: string } = {}): Promise<BrowserContext> {
  const ctx = await browser.newContext({
    baseURL: env.baseURL,
    locale: opts.lang ?? 'en-US',
    viewport: opts.phone ? { width: 390, height: 844 } : { width: 1280, height: 860 },
    deviceScaleFactor: 1,
    isMobile: opts.phone ?? false,
    hasTouch: opts.phone ?? false,
  });
  ctx.setDefaultTimeout(15_000);
  return ctx;
}

export const unique = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;
export const PASSWORD = 'correct horse battery staple';

/** Calls the platform API directly (assertions go through the API, not the picture). */
export async function apiCall<T = unknown>(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; json: T }> {
  const r = await fetch(env.baseURL + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: (text ? JSON.parse(text) : undefined) as T };
}

export async function apiLogin(email: string, password = PASSWORD): Promise<string> {
  const r = await apiCall<{ access_token: string }>('POST', '/api/v1/auth/login', undefined, { email, password });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.access_token;
}

/** Signs up through the form and waits for the start page. */
export async function signUpUI(page: Page, company: string, email: string, name = 'Olga Owner') {
  await page.goto('/signup');
  await page.getByLabel('Company name').fill(company);
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('logout').waitFor();
  if (env.routes.tenant) await page.getByRole('heading', { name: company }).waitFor();
}

export async function logInUI(page: Page, email: string, password = PASSWORD) {
  await page.goto('/login');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('logout').waitFor();
}

/** Asserts no horizontal overflow and saves a screenshot to test-artifacts/. */
export async function checkPhoneScreen(page: Page, name: string) {
  await page.waitForLoadState('networkidle');
  await page.locator('.loading').first().waitFor({ state: 'detached' }).catch(() => undefined);
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
  // Full-page shots of very long pages (all bot texts) are unreadable; keep the first screens.
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.screenshot({ path: join(env.artifacts, `phone-${name}.png`), fullPage: true, clip: height > 3000 ? { x: 0, y: 0, width: 390, height: 2400 } : undefined });
  expect(scrollWidth, `${name}: page is ${scrollWidth}px wide in a ${innerWidth}px viewport`).toBeLessThanOrEqual(innerWidth);
}

/** Saves a desktop screenshot of the current screen to test-artifacts/. */
export async function shot(page: Page, name: string) {
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: join(env.artifacts, `desktop-${name}.png`), fullPage: false });
}

/** Calls the Telegram sandbox's control API (docs/sandbox.md) and returns its result. */
export async function sandbox<T = unknown>(action: string, body: unknown = {}): Promise<T> {
  const r = await fetch(`${env.sandboxURL}/sandbox/${action}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const j = (await r.json()) as { ok: boolean; result?: T; error?: string };
  if (!j.ok) throw new Error(`sandbox ${action}: ${j.error}`);
  return j.result as T;
}

/** Polls fn until it returns a truthy value (or the deadline passes, failing with what). */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Runs SQL as the superuser in the platform's e2e database (only to make a fault on purpose). */
export function psql(sql: string): string {
  const args = ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', process.env.PGHOST_ADDR ?? '127.0.0.1', '-p', process.env.PGPORT_NUM ?? '5432', '-U', 'postgres', '-d', env.database, '-c', sql];
  const r = spawnSync('psql', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

/** An RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret at a time, as an authenticator app shows it. */
export function totp(secret: string, at = Date.now()): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
