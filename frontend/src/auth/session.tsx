// The logged-in user and the actions that change who is logged in.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api as defaultClient, type ApiClient, type TokenPair } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { User } from '../api/types';

export type AuthState =
  | { status: 'loading' }
  | { status: 'anon'; reason?: string }
  | { status: 'authed'; user: User };

interface Session {
  state: AuthState;
  user: User | null;
  client: ApiClient;
  api: ReturnType<typeof endpoints>;
  /** totpCode: the authenticator app's code when two-factor sign-in is on (the server asks with totp_required). */
  login: (email: string, password: string, totpCode?: string) => Promise<User>;
  /** Starts a session from tokens the server just issued (sign-up, invite acceptance). */
  adopt: (pair: TokenPair, user?: User) => Promise<User>;
  logout: () => Promise<void>;
  reloadUser: () => Promise<void>;
}

const Ctx = createContext<Session | null>(null);

export function SessionProvider({ children, client = defaultClient }: { children: ReactNode; client?: ApiClient }) {
  const apiCalls = useMemo(() => endpoints(client), [client]);
  const [state, setState] = useState<AuthState>(() => (client.hasSession() ? { status: 'loading' } : { status: 'anon' }));

  useEffect(() => {
    const off = client.onSessionEnd((reason) => setState({ status: 'anon', reason }));
    if (client.hasSession()) {
      apiCalls
        .me()
        .then((user) => setState({ status: 'authed', user }))
        .catch(() => {
          // The refresh token was refused or the server is down; either way log in again.
          setState((s) => (s.status === 'loading' ? { status: 'anon' } : s));
        });
    }
    return () => {
      off();
    };
  }, [client, apiCalls]);

  const adopt = useCallback(
    async (pair: TokenPair, user?: User) => {
      client.setTokens(pair);
      const u = user ?? (await apiCalls.me());
      setState({ status: 'authed', user: u });
      return u;
    },
    [client, apiCalls],
  );

  const login = useCallback(
    async (email: string, password: string, totpCode?: string) =>
      adopt(await apiCalls.login(totpCode ? { email, password, totp_code: totpCode } : { email, password })),
    [apiCalls, adopt],
  );

  const logout = useCallback(async () => {
    try {
      await apiCalls.logout();
    } catch {
      /* the session may already be gone; forget it locally anyway */
    }
    client.clearTokens();
    setState({ status: 'anon', reason: 'logged_out' });
  }, [apiCalls, client]);

  const reloadUser = useCallback(async () => {
    const user = await apiCalls.me();
    setState({ status: 'authed', user });
  }, [apiCalls]);

  const value = useMemo<Session>(
    () => ({ state, user: state.status === 'authed' ? state.user : null, client, api: apiCalls, login, adopt, logout, reloadUser }),
    [state, client, apiCalls, login, adopt, logout, reloadUser],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSession(): Session {
  const v = useContext(Ctx);
  if (!v) throw new Error('useSession outside SessionProvider');
  return v;
}

/** The endpoints bound to the session's client. */
export function useApi() {
  return useSession().api;
}
