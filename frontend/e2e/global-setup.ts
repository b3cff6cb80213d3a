// Starts the real platform for the browser tests: builds bin/helpdesk and
// bin/tgsandbox, creates a fresh PostgreSQL database and claims a free Redis
// database, migrates, creates an operator, starts the sandbox and
// `helpdesk all` with a 5-second access-token lifetime, waits for /readyz,
// and probes which API areas answer. Teardown always kills both processes,
// drops the database and frees the Redis database.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const artifacts = join(root, 'test-artifacts');
const PG = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', process.env.PGHOST_ADDR ?? '127.0.0.1', '-p', process.env.PGPORT_NUM ?? '5432', '-U', 'postgres'];
const REDIS = ['-h', process.env.REDIS_HOST ?? '127.0.0.1', '-p', process.env.REDIS_PORT ?? '6379'];

export interface Env {
  baseURL: string;
  sandboxURL: string;
  artifacts: string;
  chromium: string;
  operator: { email: string; password: string } | null;
  /** API areas that answer (a probe got something other than 404 route_not_found). */
  routes: Record<'auth' | 'tenant' | 'bots' | 'ops' | 'support' | 'supportFiles' | 'supportMetrics', boolean>;
  accessTTLSeconds: number;
  /** The platform's database (the e2e run's own), for the few faults a test makes on purpose. */
  database: string;
  /** The telegram:sweep period (a short one, so a test can make one fail). */
  sweepSeconds: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    env: Env;
  }
}

const log = (msg: string) => process.stdout.write(`[e2e] ${msg}\n`);

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? root, env: opts.env ?? process.env, input: opts.input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

async function waitFor(what: string, fn: () => Promise<boolean>, ms: number, proc?: ChildProcess) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`${what}: the process exited with ${proc.exitCode}; see test-artifacts/*.log`);
    try {
      if (await fn()) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Claims a Redis logical database 10–15 with the same lock keys as internal/platform/testenv. */
function claimRedis(owner: string): number {
  for (let n = 10; n <= 15; n++) {
    const ok = run('redis-cli', [...REDIS, 'SET', `helpdesk:testenv:db:${n}`, owner, 'NX', 'EX', '1800']).trim();
    if (ok === 'OK') {
      run('redis-cli', [...REDIS, '-n', String(n), 'FLUSHDB']);
      return n;
    }
  }
  throw new Error('no free Redis database among 10–15');
}

export default async function setup(project: TestProject) {
  mkdirSync(artifacts, { recursive: true });
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(chromium)) throw new Error(`${chromium} is missing: deploy/dev/frontend.sh installs Debian's chromium package`);
  const procs: ChildProcess[] = [];
  const cleanups: (() => void)[] = [];
  const teardown = async () => {
    // Stop the platform and the sandbox gracefully (SIGKILL after 15 s), then drop what was made.
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((done) => {
            if (p.exitCode !== null || p.signalCode !== null) return done();
            const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
            p.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            p.kill('SIGTERM');
          }),
      ),
    );
    for (const c of cleanups.reverse()) {
      try {
        c();
      } catch (e) {
        log(`cleanup: ${(e as Error).message}`);
      }
    }
    cleanups.length = 0;
  };
  try {
    log('building bin/helpdesk and bin/tgsandbox');
    run('go', ['build', '-o', 'bin/helpdesk', './cmd/helpdesk']);
    run('go', ['build', '-o', 'bin/tgsandbox', './cmd/tgsandbox']);

    const tag = randomBytes(6).toString('hex');
    const dbName = `e2e_${tag}`;
    run('psql', [...PG, '-c', `CREATE DATABASE ${dbName} OWNER helpdesk`]);
    cleanups.push(() => run('psql', [...PG, '-c', `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`]));
    const redisDB = claimRedis(tag);
    cleanups.push(() => {
      run('redis-cli', [...REDIS, '-n', String(redisDB), 'FLUSHDB']);
      const cur = run('redis-cli', [...REDIS, 'GET', `helpdesk:testenv:db:${redisDB}`]).trim();
      if (cur === tag) run('redis-cli', [...REDIS, 'DEL', `helpdesk:testenv:db:${redisDB}`]);
    });

    const [port, sbPort] = [await freePort(), await freePort()];
    const baseURL = `http://127.0.0.1:${port}`;
    const sandboxURL = `http://127.0.0.1:${sbPort}`;
    const accessTTLSeconds = 5;
    const sweepSeconds = 2;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HELPDESK_DATABASE_URL: `postgres://helpdesk_app@127.0.0.1:5432/${dbName}?sslmode=disable`,
      HELPDESK_MIGRATE_DATABASE_URL: `postgres://helpdesk@127.0.0.1:5432/${dbName}?sslmode=disable`,
      HELPDESK_REDIS_URL: `redis://127.0.0.1:6379/${redisDB}`,
      HELPDESK_SECRET_KEY: randomBytes(32).toString('base64'),
      HELPDESK_JWT_SECRET: randomBytes(30).toString('base64url').slice(0, 40),
      HELPDESK_HTTP_ADDR: `127.0.0.1:${port}`,
      HELPDESK_PUBLIC_URL: baseURL,
      HELPDESK_TELEGRAM_API_URL: sandboxURL,
      HELPDESK_ACCESS_TTL: `${accessTTLSeconds}s`,
      // Short, so operator.spec.ts can make a sweep fail and find it archived soon.
      HELPDESK_UPDATES_SWEEP_INTERVAL: `${sweepSeconds}s`,
      HELPDESK_LOG_FORMAT: 'text',
    };

    log(`database ${dbName}, redis db ${redisDB}, platform ${baseURL}, sandbox ${sandboxURL}`);
    run(join(root, 'bin/helpdesk'), ['migrate'], { env });

    let operator: Env['operator'] = null;
    const opPassword = `op-${randomBytes(9).toString('base64url')}`;
    try {
      run(join(root, 'bin/helpdesk'), ['operator', 'create', '--email', `operator-${tag}@example.com`, '--password-stdin'], { env, input: `${opPassword}\n` });
      operator = { email: `operator-${tag}@example.com`, password: opPassword };
    } catch (e) {
      log(`operator not created, operator checks will be skipped: ${(e as Error).message.split('\n')[0]}`);
    }

    const start = (name: string, cmd: string, args: string[]) => {
      const out = createWriteStream(join(artifacts, `${name}.log`));
      const p = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout!.pipe(out);
      p.stderr!.pipe(out);
      procs.push(p);
      return p;
    };
    const sb = start('tgsandbox', join(root, 'bin/tgsandbox'), ['-addr', `127.0.0.1:${sbPort}`]);
    await waitFor('tgsandbox', async () => (await fetch(sandboxURL + '/')).status < 500, 20_000, sb);
    const hd = start('helpdesk', join(root, 'bin/helpdesk'), ['all']);
    await waitFor('helpdesk /readyz', async () => (await fetch(baseURL + '/readyz')).ok, 30_000, hd);

    const routes = await probe(baseURL, operator);
    for (const [area, ok] of Object.entries(routes)) {
      if (!ok && (area === 'supportFiles' || area === 'supportMetrics')) log(`NOTE: the ${area} API answers 404 route_not_found; its screens are checked in their "not available yet" state`);
      else if (!ok) log(`SKIP: the ${area} API answers 404 route_not_found; specs needing it are skipped until the routes are wired`);
    }
    const provided: Env = { baseURL, sandboxURL, artifacts, chromium, operator, routes, accessTTLSeconds, database: dbName, sweepSeconds };
    project.provide('env', provided);
  } catch (e) {
    await teardown();
    throw e;
  }
  return teardown;
}

/**
 * Which areas answer. Everything under /api/v1 past the public routes sits
 * behind authentication, so the probe signs up a throw-away tenant and asks
 * with its token; /ops is asked with the operator's token. Only 404
 * route_not_found counts as missing.
 */
async function probe(base: string, operator: Env['operator']): Promise<Env['routes']> {
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const r = await fetch(base + path, {
      method,
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await r.json().catch(() => ({}))) as Record<string, unknown>;
    return { status: r.status, json, exists: !(r.status === 404 && json.code === 'route_not_found') };
  };
  const out = { auth: false, tenant: false, bots: false, ops: false, support: false, supportFiles: false, supportMetrics: false };
  const signup = await call('POST', '/api/v1/signup', undefined, {
    company: 'Probe', name: 'Probe', email: `probe-${randomBytes(4).toString('hex')}@example.com`, password: 'probe tenant password 1',
  });
  const token = signup.json.access_token as string | undefined;
  out.auth = signup.exists && !!token && (await call('GET', '/api/v1/me', token)).status === 200;
  if (token) {
    out.tenant = (await call('GET', '/api/v1/tenant', token)).exists;
    out.bots = (await call('GET', '/api/v1/bots', token)).exists;
    out.support = (await call('GET', '/api/v1/support/tickets', token)).exists;
    out.supportFiles = (await call('GET', '/api/v1/support/messages/00000000-0000-7000-8000-000000000000/file', token)).exists;
    out.supportMetrics = (await call('GET', `/api/v1/support/metrics?from=${new Date(Date.now() - 86400_000).toISOString()}&to=${new Date().toISOString()}`, token)).exists;
  }
  if (operator && out.auth) {
    const login = await call('POST', '/api/v1/auth/login', undefined, operator);
    const op = login.json.access_token as string | undefined;
    if (op) out.ops = (await call('GET', '/ops/tenants', op)).exists;
  }
  return out;
}
