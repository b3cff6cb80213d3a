import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../App';
import { client, json, owner, problem } from '../test/fake';
import { renderWith } from '../test/render';

function type(label: string | RegExp, value: string) {
  fireEvent.change(screen.getByLabelText(label), { target: { value } });
}

const fieldError = (name: string) => document.querySelector(`.field-error[data-field="${name}"]`)?.textContent;

describe('login form', () => {
  it('shows client-side errors next to the fields and sends nothing', async () => {
    const { client: c, calls } = client({});
    renderWith(<App />, { client: c, path: '/login' });
    type('E-mail', 'not-an-email');
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    await waitFor(() => expect(fieldError('email')).toMatch(/valid e-mail/));
    expect(fieldError('password')).toBe('Fill this in.');
    expect(calls).toHaveLength(0);
  });

  it('shows wrong credentials as the server said', async () => {
    const { client: c } = client({ 'POST /api/v1/auth/login': () => problem(401, 'invalid_credentials', 'Wrong e-mail or password.') });
    renderWith(<App />, { client: c, path: '/login' });
    type('E-mail', 'a@example.com');
    type('Password', 'whatever-password');
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect((await screen.findByTestId('form-alert')).textContent).toContain('Wrong e-mail or password.');
  });

  it('shows throttling with the time to wait and blocks the button', async () => {
    const { client: c } = client({
      'POST /api/v1/auth/login': () => problem(429, 'too_many_attempts', 'Too many attempts; wait a little and try again.', undefined, { 'Retry-After': '30' }),
    });
    renderWith(<App />, { client: c, path: '/login' });
    type('E-mail', 'a@example.com');
    type('Password', 'whatever-password');
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    // The countdown starts at Retry-After (30 s) and ticks; a loaded machine may have ticked a few times.
    const wait = Number((await screen.findByTestId('throttle')).textContent?.match(/Try again in (\d+) s/)?.[1]);
    expect(wait).toBeGreaterThanOrEqual(25);
    expect(wait).toBeLessThanOrEqual(30);
    expect((screen.getByRole('button', { name: 'Log in' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('logs in and lands on the start page', async () => {
    const { client: c, store } = client({
      'POST /api/v1/auth/login': () => json(200, { access_token: 'A', refresh_token: 'R' }),
      'GET /api/v1/me': () => json(200, owner),
      'GET /api/v1/tenant': () => json(200, { id: 't', name: 'Acme', timezone: 'UTC', languages: ['en'], default_language: 'en', features: {} }),
      'GET /api/v1/bots': () => json(200, { items: [] }),
    });
    renderWith(<App />, { client: c, path: '/login' });
    type('E-mail', 'owner@example.com');
    type('Password', 'correct horse battery');
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByRole('heading', { name: 'Acme' })).toBeTruthy();
    expect(store.value).toBe('R');
  });

  it('asks for the authenticator code when two-factor sign-in is on; a wrong code is shown under its field', async () => {
    const bodies: unknown[] = [];
    const { client: c } = client({
      'POST /api/v1/auth/login': (call) => {
        bodies.push(call.body);
        const code = (call.body as { totp_code?: string }).totp_code;
        if (!code) return problem(401, 'totp_required', 'Enter the 6-digit code from your authenticator app.');
        if (code !== '123456') return problem(401, 'invalid_totp', 'The code is wrong or was already used.');
        return json(200, { access_token: 'A', refresh_token: 'R' });
      },
      'GET /api/v1/me': () => json(200, owner),
      'GET /api/v1/tenant': () => json(200, { id: 't', name: 'Acme', timezone: 'UTC', languages: ['en'], default_language: 'en', features: {} }),
      'GET /api/v1/bots': () => json(200, { items: [] }),
    });
    renderWith(<App />, { client: c, path: '/login' });
    type('E-mail', 'owner@example.com');
    type('Password', 'correct horse battery');
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect((await screen.findByTestId('totp-step')).textContent).toMatch(/authenticator app/);
    expect(screen.queryByTestId('form-alert')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    await waitFor(() => expect(fieldError('totp_code')).toMatch(/6 digits/));
    expect(bodies).toHaveLength(1);
    type('Code from the app', '000000');
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    await waitFor(() => expect(fieldError('totp_code')).toBe('The code is wrong or was already used.'));
    type('Code from the app', '123456');
    fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByRole('heading', { name: 'Acme' })).toBeTruthy();
    expect(bodies[2]).toEqual({ email: 'owner@example.com', password: 'correct horse battery', totp_code: '123456' });
  });
});

describe('sign-up form', () => {
  it('checks the password length before sending', async () => {
    const { client: c, calls } = client({});
    renderWith(<App />, { client: c, path: '/signup' });
    type('Company name', 'Acme');
    type('E-mail', 'a@example.com');
    type('Password', 'short');
    fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() => expect(fieldError('password')).toBe('Use at least 10 characters.'));
    expect(calls).toHaveLength(0);
  });

  it('puts the server field errors under the right fields', async () => {
    const { client: c } = client({
      'POST /api/v1/signup': () =>
        problem(422, 'validation_failed', 'Some fields are invalid.', [
          { field: 'password', code: 'weak_password', message: 'Not a common password, please.' },
          { field: 'company', code: 'invalid', message: 'Give the company name.' },
        ]),
    });
    renderWith(<App />, { client: c, path: '/signup' });
    type('Company name', 'Acme');
    type('E-mail', 'a@example.com');
    type('Password', 'password123');
    fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() => expect(fieldError('password')).toBe('Not a common password, please.'));
    expect(fieldError('company')).toBe('Give the company name.');
    expect(screen.queryByTestId('form-alert')).toBeNull();
  });

  it('shows a conflict detail above the form', async () => {
    const { client: c } = client({ 'POST /api/v1/signup': () => problem(409, 'email_taken', 'An account with this e-mail address already exists.') });
    renderWith(<App />, { client: c, path: '/signup' });
    type('Company name', 'Acme');
    type('E-mail', 'a@example.com');
    type('Password', 'correct horse battery');
    fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect((await screen.findByTestId('form-alert')).textContent).toContain('already exists');
  });

  it('speaks Russian when asked', async () => {
    const { client: c } = client({});
    renderWith(<App />, { client: c, path: '/signup', lang: 'ru' });
    fireEvent.click(screen.getByRole('button', { name: 'Создать аккаунт' }));
    await waitFor(() => expect(fieldError('company')).toBe('Заполните это поле.'));
  });
});

describe('bot token form', () => {
  it('checks the token shape, shows the bot Telegram knows before saving, then connects it', async () => {
    const { client: c, calls } = client({
      'POST /api/v1/auth/refresh': () => json(200, { access_token: 'A', refresh_token: 'R2' }),
      'GET /api/v1/me': () => json(200, owner),
      'GET /api/v1/bots': () => json(200, { items: [] }),
      'POST /api/v1/bots/check': () => json(200, { id: 123, username: 'acme_bot', name: 'Acme Support' }),
      'POST /api/v1/bots': () => json(201, { id: 123, username: 'acme_bot', name: 'Acme Support', status: 'active', webhook_url: '', created_at: '', updated_at: '' }),
    }, 'R1');
    renderWith(<App />, { client: c, path: '/bots' });
    await screen.findByText(/No bots yet/);
    type('Bot token', 'nope');
    fireEvent.click(screen.getByRole('button', { name: 'Check token' }));
    await waitFor(() => expect(fieldError('token')).toMatch(/looks like/));
    expect(calls.some((x) => x.method === 'POST' && x.path.startsWith('/api/v1/bots'))).toBe(false);
    type('Bot token', `123:${'A'.repeat(35)}`);
    fireEvent.click(screen.getByRole('button', { name: 'Check token' }));
    expect((await screen.findByTestId('bot-preview')).textContent).toContain('Acme Support (@acme_bot)');
    expect(calls.some((x) => x.method === 'POST' && x.path === '/api/v1/bots')).toBe(false);
    fireEvent.click(screen.getByRole('button', { name: 'Connect' }));
    expect((await screen.findByTestId('bot-connected')).textContent).toContain('Acme Support (@acme_bot)');
    expect(calls.filter((x) => x.method === 'POST' && x.path === '/api/v1/bots')).toHaveLength(1);
  });

  it('connects at once on a server without the check route', async () => {
    const { client: c } = client({
      'POST /api/v1/auth/refresh': () => json(200, { access_token: 'A', refresh_token: 'R2' }),
      'GET /api/v1/me': () => json(200, owner),
      'GET /api/v1/bots': () => json(200, { items: [] }),
      'POST /api/v1/bots': () => json(201, { id: 123, username: 'acme_bot', name: 'Acme Support', status: 'active', webhook_url: '', created_at: '', updated_at: '' }),
    }, 'R1');
    renderWith(<App />, { client: c, path: '/bots' });
    await screen.findByText(/No bots yet/);
    type('Bot token', `123:${'A'.repeat(35)}`);
    fireEvent.click(screen.getByRole('button', { name: 'Check token' }));
    expect((await screen.findByTestId('bot-connected')).textContent).toContain('Acme Support (@acme_bot)');
  });
});
