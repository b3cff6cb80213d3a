import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../App';
import { client, json, owner, problem, type Call } from '../test/fake';
import { renderWith } from '../test/render';

const fieldError = (name: string) => document.querySelector(`.field-error[data-field="${name}"]`)?.textContent;

function account(extra: Record<string, (c: Call) => Response> = {}) {
  const sessions = [
    { id: 's1', created_at: '2025-01-01T00:00:00Z', last_used_at: '2025-01-02T00:00:00Z', expires_at: '2025-02-01T00:00:00Z', user_agent: 'Firefox on Linux', ip: '10.0.0.1', current: true },
    { id: 's2', created_at: '2025-01-01T00:00:00Z', last_used_at: '2025-01-02T00:00:00Z', expires_at: '2025-02-01T00:00:00Z', user_agent: 'Safari on iPhone', ip: '10.0.0.2', current: false },
  ];
  return client(
    {
      'POST /api/v1/auth/refresh': () => json(200, { access_token: 'A', refresh_token: 'R2' }),
      'GET /api/v1/me': () => json(200, owner),
      'GET /api/v1/auth/sessions': () => json(200, { sessions }),
      'DELETE /api/v1/auth/sessions/s2': () => {
        sessions.splice(1, 1);
        return new Response(null, { status: 204 });
      },
      ...extra,
    },
    'R1',
  );
}

describe('account page', () => {
  it('shows a wrong current password under its field', async () => {
    const { client: c } = account({
      'POST /api/v1/me/password': () => problem(422, 'validation_failed', 'Some fields are invalid.', [{ field: 'current_password', code: 'incorrect', message: 'The current password is wrong.' }]),
    });
    renderWith(<App />, { client: c, path: '/account' });
    fireEvent.change(await screen.findByLabelText('Current password'), { target: { value: 'nope' } });
    fireEvent.change(screen.getByLabelText('New password'), { target: { value: 'a much longer password' } });
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    await waitFor(() => expect(fieldError('current_password')).toBe('The current password is wrong.'));
  });

  it('lists sessions and revokes another one', async () => {
    const { client: c, calls } = account();
    renderWith(<App />, { client: c, path: '/account' });
    const list = await screen.findByTestId('sessions');
    expect(within(list).getByText('this session')).toBeTruthy();
    const row = within(list).getByText('Safari on iPhone').closest('li')!;
    fireEvent.click(within(row as HTMLElement).getByRole('button', { name: 'Sign out' }));
    fireEvent.click(within(row as HTMLElement).getByRole('button', { name: 'Sign out this session' }));
    await waitFor(() => expect(screen.queryByText('Safari on iPhone')).toBeNull());
    expect(calls.some((x) => x.method === 'DELETE' && x.path === '/api/v1/auth/sessions/s2')).toBe(true);
  });

  it('turns two-factor sign-in on (QR, secret, first code) and off, with errors under their fields', async () => {
    let enabled = false;
    const { client: c, calls } = account({
      'GET /api/v1/me/totp': () => json(200, enabled ? { enabled: true, pending: false, enabled_at: '2025-03-01T10:00:00Z' } : { enabled: false, pending: false }),
      'POST /api/v1/me/totp': (call) =>
        (call.body as { password: string }).password === 'right password'
          ? json(201, { secret: 'JBSWY3DPEHPK3PXP', otpauth_url: 'otpauth://totp/x', qr_png_base64: 'iVBORw0KGgo=' })
          : problem(422, 'validation_failed', 'Some fields are invalid.', [{ field: 'password', code: 'incorrect', message: 'The password is wrong.' }]),
      'POST /api/v1/me/totp/confirm': (call) => {
        if ((call.body as { code: string }).code !== '123456') {
          return problem(422, 'validation_failed', 'Some fields are invalid.', [{ field: 'code', code: 'invalid_totp', message: 'The code is wrong.' }]);
        }
        enabled = true;
        return new Response(null, { status: 204 });
      },
      'POST /api/v1/me/totp/disable': () => {
        enabled = false;
        return new Response(null, { status: 204 });
      },
    });
    renderWith(<App />, { client: c, path: '/account' });
    const card = within(await screen.findByTestId('totp'));
    fireEvent.change(await card.findByLabelText('Current password'), { target: { value: 'wrong' } });
    fireEvent.click(card.getByRole('button', { name: 'Set up two-factor sign-in' }));
    await waitFor(() => expect(card.getByText('The password is wrong.').getAttribute('data-field')).toBe('password'));
    fireEvent.change(card.getByLabelText('Current password'), { target: { value: 'right password' } });
    fireEvent.click(card.getByRole('button', { name: 'Set up two-factor sign-in' }));
    expect((await card.findByTestId('totp-secret')).textContent).toBe('JBSWY3DPEHPK3PXP');
    expect((card.getByAltText('QR code for the authenticator app') as HTMLImageElement).src).toContain('data:image/png;base64,iVBORw0KGgo=');
    fireEvent.change(card.getByLabelText('Code from the app'), { target: { value: '12' } });
    fireEvent.click(card.getByRole('button', { name: 'Turn on' }));
    expect(await card.findByText('Enter the 6 digits your authenticator app shows.')).toBeTruthy();
    fireEvent.change(card.getByLabelText('Code from the app'), { target: { value: '000000' } });
    fireEvent.click(card.getByRole('button', { name: 'Turn on' }));
    expect((await card.findByText('The code is wrong.')).getAttribute('data-field')).toBe('code');
    fireEvent.change(card.getByLabelText('Code from the app'), { target: { value: '123456' } });
    fireEvent.click(card.getByRole('button', { name: 'Turn on' }));
    expect(await card.findByText(/Two-factor sign-in is on/)).toBeTruthy();
    expect(card.getByText('On')).toBeTruthy();
    fireEvent.change(card.getByLabelText('Current password'), { target: { value: 'right password' } });
    fireEvent.change(card.getByLabelText('Code from the app'), { target: { value: '654321' } });
    fireEvent.click(card.getByRole('button', { name: 'Turn off two-factor sign-in' }));
    expect(await card.findByText('Two-factor sign-in is off.')).toBeTruthy();
    expect(calls.find((x) => x.path === '/api/v1/me/totp/disable')?.body).toEqual({ password: 'right password', code: '654321' });
  });
});
