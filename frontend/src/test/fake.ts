// A scripted fetch for tests: handlers by "METHOD /path", recording calls.
import { ApiClient, type TokenStore } from '../api/client';

export interface Call {
  method: string;
  path: string;
  auth: string | null;
  body: unknown;
}

export type Handler = (call: Call) => Response | Promise<Response>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? '' : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

export function problem(status: number, code: string, detail: string, errors?: { field: string; code: string; message: string }[], headers?: Record<string, string>) {
  return json(status, { type: `https://docs.tgdesk.dev/errors/${code}`, title: 'x', status, code, detail, errors }, headers);
}

export function fakeFetch(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const fn = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://console.test');
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const call: Call = {
      method,
      path: url.pathname + url.search,
      auth: headers.Authorization ?? null,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
    };
    calls.push(call);
    const h = routes[`${method} ${url.pathname}`];
    if (!h) return problem(404, 'route_not_found', 'No such endpoint.');
    return h(call);
  };
  return { fetch: fn as typeof fetch, calls };
}

export function memoryStore(initial: string | null = null): TokenStore & { value: string | null } {
  const s = {
    value: initial,
    getRefresh: () => s.value,
    setRefresh: (t: string | null) => {
      s.value = t;
    },
  };
  return s;
}

export function client(routes: Record<string, Handler>, refresh: string | null = null) {
  const f = fakeFetch(routes);
  const store = memoryStore(refresh);
  const c = new ApiClient({ fetch: f.fetch, store, lock: (_n, fn) => fn() });
  return { client: c, calls: f.calls, store };
}

export const agent = { id: 'u2', tenant_id: 't1', email: 'agent@example.com', name: 'Agata', language: 'en', role: 'agent' as const, disabled: false, created_at: '2025-01-01T00:00:00Z' };
export const owner = { ...agent, id: 'u1', email: 'owner@example.com', name: 'Olga', role: 'owner' as const };
export const operator = { ...agent, id: 'u9', tenant_id: null, email: 'op@example.com', name: 'Oleg', role: 'operator' as const };
