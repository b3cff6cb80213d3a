import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../App';
import { agent, client, json, operator, owner } from '../test/fake';
import { renderWith } from '../test/render';
import { allowed, navFor } from './nav';

const paths = (role: Parameters<typeof navFor>[0]) => navFor(role).map((i) => i.path);

describe('role rules', () => {
  it('orders owner ⊃ admin ⊃ agent and keeps operators apart', () => {
    expect(allowed('owner', 'admin')).toBe(true);
    expect(allowed('admin', 'owner')).toBe(false);
    expect(allowed('agent', 'admin')).toBe(false);
    expect(allowed('operator', 'agent')).toBe(false);
    expect(allowed('owner', 'operator')).toBe(false);
    expect(allowed('operator', 'any')).toBe(true);
    expect(allowed(undefined, 'any')).toBe(false);
  });

  it('shows each role only its screens', () => {
    expect(paths('owner')).toEqual([
      '/', '/inbox', '/support/canned', '/support/staff-groups', '/support/routing', '/support/metrics', '/team', '/bots', '/settings', '/settings/texts', '/account',
    ]);
    expect(paths('agent')).toEqual(['/', '/inbox', '/support/canned', '/team', '/account']);
    expect(paths('operator')).toEqual(['/operator', '/operator/queues', '/operator/bots', '/operator/usage', '/account']);
  });
});

function session(user: typeof owner | typeof agent | typeof operator) {
  return client(
    {
      'POST /api/v1/auth/refresh': () => json(200, { access_token: 'A', refresh_token: 'R2' }),
      'GET /api/v1/me': () => json(200, user),
      'GET /api/v1/tenant': () => json(200, { id: 't1', name: 'Acme', timezone: 'Europe/Moscow', languages: ['ru', 'en'], default_language: 'ru', features: {} }),
      'GET /api/v1/bots': () => json(200, { items: [] }),
      'GET /api/v1/members': () => json(200, { members: [owner, agent] }),
      'GET /ops/tenants': () => json(200, { tenants: [] }),
    },
    'R1',
  ).client;
}

describe('role-aware navigation', () => {
  it('an agent sees no admin settings in the menu and gets "not allowed" at an admin URL', async () => {
    renderWith(<App />, { client: session(agent), path: '/settings' });
    expect(await screen.findByTestId('not-allowed')).toBeTruthy();
    const nav = screen.getByRole('navigation');
    expect(within(nav).queryByText('Settings')).toBeNull();
    expect(within(nav).queryByText('Bots')).toBeNull();
    expect(within(nav).getByText('Team')).toBeTruthy();
  });

  it('an owner opens settings', async () => {
    renderWith(<App />, { client: session(owner), path: '/settings' });
    expect(await screen.findByTestId('settings-form')).toBeTruthy();
    expect(within(screen.getByRole('navigation')).getByText('Bot texts')).toBeTruthy();
  });

  it('the operator area is for operators only', async () => {
    renderWith(<App />, { client: session(owner), path: '/operator' });
    expect(await screen.findByTestId('not-allowed')).toBeTruthy();
  });

  it('an operator lands in the operator area', async () => {
    renderWith(<App />, { client: session(operator), path: '/' });
    expect(await screen.findByTestId('ops-areas')).toBeTruthy();
    expect(within(screen.getByRole('navigation')).queryByText('Team')).toBeNull();
  });

  it('without a session, a protected URL goes to the login page', async () => {
    const { client: c } = client({});
    renderWith(<App />, { client: c, path: '/team' });
    expect(await screen.findByRole('heading', { name: 'Log in' })).toBeTruthy();
  });
});
