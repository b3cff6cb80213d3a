// The console's one way to the platform API.
//
// Tokens: the access token (short-lived JWT) lives only in memory; the
// refresh token is kept in localStorage so a reload or a new tab stays logged
// in. That trade-off is documented in docs/console.md: a script injected into
// the page could read the refresh token, so the console ships no third-party
// scripts and the server rotates refresh tokens and revokes the whole session
// when an old one is replayed (refresh_reused).
//
// Refresh: a request answered 401 token_expired triggers ONE refresh
// (single-flight: concurrent requests wait for the same refresh promise) and
// is retried once with the new access token. Across tabs, the refresh runs
// under a Web Lock and always reads the newest refresh token from storage,
// so two tabs never present the same rotated token.
import { ApiError, toProblem } from './problem';

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type?: string;
  expires_in?: number;
  refresh_expires_at?: string;
  session_id?: string;
}

export interface TokenStore {
  getRefresh(): string | null;
  setRefresh(token: string | null): void;
}

export const REFRESH_KEY = 'tgdesk.refresh_token';

export const localTokenStore: TokenStore = {
  getRefresh: () => {
    try {
      return window.localStorage.getItem(REFRESH_KEY);
    } catch {
      return null;
    }
  },
  setRefresh: (t) => {
    try {
      if (t) window.localStorage.setItem(REFRESH_KEY, t);
      else window.localStorage.removeItem(REFRESH_KEY);
    } catch {
      /* storage disabled: the session lasts as long as the page */
    }
  },
};

/** Runs fn while holding a lock shared by every tab of the origin, when the browser has Web Locks. */
export type LockFn = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

const webLock: LockFn = (name, fn) => {
  const locks = typeof navigator !== 'undefined' ? (navigator as Navigator & { locks?: LockManager }).locks : undefined;
  if (!locks) return fn();
  return locks.request(name, () => fn()) as Promise<Awaited<ReturnType<typeof fn>>>;
};

export interface ClientOptions {
  baseUrl?: string;
  fetch?: typeof fetch;
  store?: TokenStore;
  lock?: LockFn;
}

export interface RequestOptions {
  /** Send the access token and refresh on expiry (default true). */
  auth?: boolean;
  query?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** The path is from the origin, not under /api/v1 (operator routes live at /ops). */
  root?: boolean;
  /** Return the body as a Blob (files behind the auth header, shown through blob: URLs). */
  blob?: boolean;
}

/** Codes of a 401 that mean the session is over and the user must log in again. */
const SESSION_OVER = new Set(['refresh_reused', 'invalid_refresh_token', 'refresh_expired', 'session_revoked', 'account_disabled']);

export class ApiClient {
  private access: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;
  private readonly store: TokenStore;
  private readonly lock: LockFn;
  private listeners = new Set<(reason: string) => void>();
  /** How many refresh calls went to the server (tests and diagnostics). */
  refreshCount = 0;

  constructor(o: ClientOptions = {}) {
    this.baseUrl = o.baseUrl ?? '/api/v1';
    this.fetchFn = o.fetch ?? ((...a) => fetch(...a));
    this.store = o.store ?? localTokenStore;
    this.lock = o.lock ?? webLock;
  }

  /** Subscribes to "the session ended" (refresh refused, e.g. refresh_reused). */
  onSessionEnd(fn: (reason: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  setTokens(p: TokenPair): void {
    this.access = p.access_token;
    this.store.setRefresh(p.refresh_token);
  }

  clearTokens(): void {
    this.access = null;
    this.store.setRefresh(null);
  }

  /** Whether there is a session to resume (a refresh token is stored). */
  hasSession(): boolean {
    return !!this.access || !!this.store.getRefresh();
  }

  get<T>(path: string, o?: RequestOptions) {
    return this.request<T>('GET', path, undefined, o);
  }
  post<T>(path: string, body?: unknown, o?: RequestOptions) {
    return this.request<T>('POST', path, body, o);
  }
  put<T>(path: string, body?: unknown, o?: RequestOptions) {
    return this.request<T>('PUT', path, body, o);
  }
  patch<T>(path: string, body?: unknown, o?: RequestOptions) {
    return this.request<T>('PATCH', path, body, o);
  }
  del<T = void>(path: string, o?: RequestOptions) {
    return this.request<T>('DELETE', path, undefined, o);
  }
  /** GETs a file with the access token (and the usual refresh); the caller makes a blob: URL of it. */
  blob(path: string, o?: RequestOptions) {
    return this.request<Blob>('GET', path, undefined, { ...o, blob: true });
  }

  async request<T>(method: string, path: string, body?: unknown, o: RequestOptions = {}): Promise<T> {
    const auth = o.auth ?? true;
    if (auth && !this.access && this.store.getRefresh()) {
      await this.refresh();
    }
    const used = this.access;
    try {
      return await this.send<T>(method, path, body, o, auth ? used : null);
    } catch (e) {
      if (!auth || !(e instanceof ApiError) || e.status !== 401 || e.code !== 'token_expired') {
        if (auth && e instanceof ApiError && e.status === 401 && SESSION_OVER.has(e.code)) this.endSession(e.code);
        throw e;
      }
      // Another request may have refreshed while this one was in flight.
      if (this.access === used || !this.access) {
        const ok = await this.refresh();
        if (!ok) throw e;
      }
      return this.send<T>(method, path, body, o, this.access);
    }
  }

  /** Refreshes the token pair; concurrent callers share one refresh. Resolves false when the session is over. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    return this.lock('tgdesk-refresh', async () => {
      const token = this.store.getRefresh();
      if (!token) {
        this.endSession('no_refresh_token');
        return false;
      }
      this.refreshCount++;
      try {
        const pair = await this.send<TokenPair>('POST', '/auth/refresh', { refresh_token: token }, {}, null);
        this.setTokens(pair);
        return true;
      } catch (e) {
        if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 422)) {
          this.endSession(e.code);
          return false;
        }
        throw e; // network or server trouble: keep the session, let the caller show the error
      }
    });
  }

  private endSession(reason: string) {
    this.access = null;
    this.store.setRefresh(null);
    for (const l of this.listeners) l(reason);
  }

  private async send<T>(method: string, path: string, body: unknown, o: RequestOptions, token: string | null): Promise<T> {
    const headers: Record<string, string> = { Accept: o.blob ? '*/*' : 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    let url = (o.root ? '' : this.baseUrl) + path;
    if (o.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(o.query)) if (v !== undefined) q.set(k, v);
      const s = q.toString();
      if (s) url += (url.includes('?') ? '&' : '?') + s;
    }
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: o.signal,
        credentials: 'same-origin',
      });
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e;
      throw new ApiError({ status: 0, code: 'network_error', detail: 'The server cannot be reached. Check your connection and try again.' });
    }
    if (res.ok && o.blob) return (await res.blob()) as T;
    const text = await res.text();
    if (!res.ok) {
      const ra = res.headers.get('Retry-After');
      throw new ApiError(toProblem(res.status, res.statusText, text), ra ? Number(ra) : undefined);
    }
    if (!text) return undefined as T;
    return JSON.parse(text) as T;
  }
}

/** The console's shared client. */
export const api = new ApiClient();
