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
});
