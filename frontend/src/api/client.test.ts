import { describe, expect, it, vi } from 'vitest';
import { ApiError } from './problem';
import { client, json, problem, type Call } from '../test/fake';

/** A server whose access tokens are "A1", "A2", …: only the newest is valid. */
function rotatingServer(opts: { refreshDelay?: Promise<void> } = {}) {
  let n = 1;
  const refreshes: Call[] = [];
  const routes = {
    'POST /api/v1/auth/refresh': async (c: Call) => {
      refreshes.push(c);
      await opts.refreshDelay;
      const body = c.body as { refresh_token: string };
      if (body.refresh_token !== `R${n}`) return problem(401, 'refresh_reused', 'reused');
      n++;
      return json(200, { access_token: `A${n}`, refresh_token: `R${n}` });
    },
    'GET /api/v1/me': (c: Call) => (c.auth === `Bearer A${n}` ? json(200, { id: 'me' }) : problem(401, 'token_expired', 'expired')),
    'GET /api/v1/bots': (c: Call) => (c.auth === `Bearer A${n}` ? json(200, { items: [] }) : problem(401, 'token_expired', 'expired')),
  };
  return { routes, refreshes, current: () => n };
}

describe('ApiClient refresh', () => {
  it('fetches files as blobs with the auth header, refreshing an expired token once', async () => {
    const srv = rotatingServer();
    const { client: c, calls } = client({
      ...srv.routes,
      'GET /api/v1/support/messages/m1/file': (x: Call) =>
        x.auth === `Bearer A${srv.current()}` ? new Response('img', { status: 200, headers: { 'Content-Type': 'image/png' } }) : problem(401, 'token_expired', 'expired'),
    });
    c.setTokens({ access_token: 'A0-stale', refresh_token: 'R1' });
    const b = await c.blob('/support/messages/m1/file');
    expect(b.type).toBe('image/png');
    expect(await b.text()).toBe('img');
    expect(srv.refreshes).toHaveLength(1);
    expect(calls.filter((x) => x.path.endsWith('/file')).map((x) => x.auth)).toEqual(['Bearer A0-stale', 'Bearer A2']);
  });

  it('refreshes once for many concurrent expired requests and retries each', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const srv = rotatingServer({ refreshDelay: gate });
    const { client: c, store, calls } = client(srv.routes);
    c.setTokens({ access_token: 'A0-stale', refresh_token: 'R1' });
    const all = Promise.all([c.get('/me'), c.get('/bots'), c.get('/me'), c.get('/bots')]);
    // Let all four fail with token_expired and queue on the one refresh.
    await vi.waitFor(() => expect(srv.refreshes.length).toBe(1));
    release();
    const out = await all;
    expect(out[0]).toEqual({ id: 'me' });
    expect(srv.refreshes).toHaveLength(1);
    expect(c.refreshCount).toBe(1);
    expect(store.value).toBe('R2');
    const retried = calls.filter((x) => x.path !== '/api/v1/auth/refresh' && x.auth === 'Bearer A2');
    expect(retried).toHaveLength(4);
  });

  it('retries only once: a second token_expired is returned to the caller', async () => {
    const { client: c } = client({
      'POST /api/v1/auth/refresh': () => json(200, { access_token: 'new', refresh_token: 'R2' }),
      'GET /api/v1/me': () => problem(401, 'token_expired', 'expired'),
    });
    c.setTokens({ access_token: 'old', refresh_token: 'R1' });
    await expect(c.get('/me')).rejects.toMatchObject({ status: 401, code: 'token_expired' });
    expect(c.refreshCount).toBe(1);
  });

  it('does not refresh on other 401 codes', async () => {
    const { client: c } = client({
      'POST /api/v1/auth/login': () => problem(401, 'invalid_credentials', 'Wrong e-mail or password.'),
    });
    await expect(c.post('/auth/login', { email: 'a', password: 'b' }, { auth: false })).rejects.toMatchObject({ code: 'invalid_credentials' });
    expect(c.refreshCount).toBe(0);
  });

  it('ends the session when the refresh token was reused', async () => {
    const { client: c, store } = client({
      'POST /api/v1/auth/refresh': () => problem(401, 'refresh_reused', 'reused'),
      'GET /api/v1/me': () => problem(401, 'token_expired', 'expired'),
    });
    const ended = vi.fn();
    c.onSessionEnd(ended);
    c.setTokens({ access_token: 'old', refresh_token: 'R1' });
    await expect(c.get('/me')).rejects.toBeInstanceOf(ApiError);
    expect(ended).toHaveBeenCalledWith('refresh_reused');
    expect(store.value).toBeNull();
    expect(c.hasSession()).toBe(false);
  });

  it('resumes a stored session: refreshes before the first call', async () => {
    const srv = rotatingServer();
    const { client: c, calls } = client(srv.routes, 'R1');
    expect(c.hasSession()).toBe(true);
    await expect(c.get('/me')).resolves.toEqual({ id: 'me' });
    expect(calls.map((x) => x.path)).toEqual(['/api/v1/auth/refresh', '/api/v1/me']);
  });

  it('a request that failed after someone else refreshed retries without refreshing again', async () => {
    const srv = rotatingServer();
    const { client: c } = client(srv.routes);
    c.setTokens({ access_token: 'stale', refresh_token: 'R1' });
    await c.get('/me'); // refresh #1
    await c.get('/bots');
    expect(c.refreshCount).toBe(1);
  });

  it('maps network failures and Retry-After', async () => {
    const { client: down } = client({});
    const failing = new (down.constructor as typeof import('./client').ApiClient)({
      fetch: () => Promise.reject(new TypeError('Failed to fetch')),
      store: { getRefresh: () => null, setRefresh: () => {} },
    });
    await expect(failing.get('/me', { auth: false })).rejects.toMatchObject({ status: 0, code: 'network_error' });
    const { client: c } = client({
      'POST /api/v1/auth/login': () => problem(429, 'too_many_attempts', 'Too many attempts', undefined, { 'Retry-After': '42' }),
    });
    await expect(c.post('/auth/login', {}, { auth: false })).rejects.toMatchObject({ status: 429, retryAfter: 42 });
  });

  it('sends JSON with the bearer token and parses 204 as undefined', async () => {
    const { client: c, calls } = client({ 'DELETE /api/v1/bots/7': () => new Response(null, { status: 204 }) });
    c.setTokens({ access_token: 'tok', refresh_token: 'R' });
    await expect(c.del('/bots/7')).resolves.toBeUndefined();
    expect(calls[0].auth).toBe('Bearer tok');
  });
});
