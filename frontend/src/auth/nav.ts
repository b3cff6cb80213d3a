// Who may see what. The server decides (auth.Require on every route); the
// console mirrors it so people are not shown doors that will not open.
import type { Role } from '../api/types';
import type { MessageKey } from '../i18n/messages';

/** The least a route needs: a tenant role (owner ⊃ admin ⊃ agent), any authenticated user, or operator. */
export type Need = 'agent' | 'admin' | 'owner' | 'operator' | 'any';

const rank: Record<string, number> = { agent: 1, admin: 2, owner: 3 };

export function allowed(role: Role | undefined, need: Need): boolean {
  if (!role) return false;
  if (need === 'any') return true;
  if (need === 'operator') return role === 'operator';
  if (role === 'operator') return false;
  return (rank[role] ?? 0) >= rank[need];
}

export interface NavItem {
  path: string;
  label: MessageKey;
  need: Need;
}

// New areas (inbox, CRM, campaigns) add a row here and a route in App.tsx.
export const NAV: readonly NavItem[] = [
  { path: '/', label: 'nav.home', need: 'agent' },
  { path: '/inbox', label: 'nav.inbox', need: 'agent' },
  { path: '/support/canned', label: 'nav.canned', need: 'agent' },
  { path: '/support/staff-groups', label: 'nav.staff', need: 'admin' },
  { path: '/support/routing', label: 'nav.routing', need: 'admin' },
  { path: '/support/metrics', label: 'nav.metrics', need: 'admin' },
  { path: '/team', label: 'nav.team', need: 'agent' },
  { path: '/bots', label: 'nav.bots', need: 'admin' },
  { path: '/settings', label: 'nav.settings', need: 'admin' },
  { path: '/settings/texts', label: 'nav.texts', need: 'admin' },
  { path: '/operator', label: 'nav.operator', need: 'operator' },
  { path: '/operator/queues', label: 'nav.ops_queues', need: 'operator' },
  { path: '/operator/bots', label: 'nav.ops_bots', need: 'operator' },
  { path: '/operator/usage', label: 'nav.ops_usage', need: 'operator' },
  { path: '/account', label: 'nav.account', need: 'any' },
];

export function navFor(role: Role | undefined): NavItem[] {
  return NAV.filter((i) => allowed(role, i.need));
}

/** Where a user lands after logging in. */
export function homeFor(role: Role | undefined): string {
  return role === 'operator' ? '/operator' : '/';
}
