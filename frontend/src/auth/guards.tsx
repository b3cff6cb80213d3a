import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router-dom';
import { Loading } from '../components/ui';
import { NotAllowed } from '../pages/NotAllowed';
import { allowed, type Need } from './nav';
import { useSession } from './session';

/** Shows children to a logged-in user; others go to the login page and come back after. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { state } = useSession();
  const loc = useLocation();
  if (state.status === 'loading') return <Loading />;
  if (state.status === 'anon') {
    const next = loc.pathname + loc.search;
    return <Navigate to={`/login${next && next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`} replace state={{ reason: state.reason }} />;
  }
  return <>{children}</>;
}

/** Shows children only to roles that need allows; others see the not-allowed page. */
export function RequireRole({ need, children }: { need: Need; children: ReactNode }) {
  const { user } = useSession();
  if (!allowed(user?.role, need)) return <NotAllowed />;
  return <>{children}</>;
}
