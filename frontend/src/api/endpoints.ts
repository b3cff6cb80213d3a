// Typed calls of the public API, one function per route.
import { api, type ApiClient, type TokenPair } from './client';
import {
  items,
  type Bot,
  type CreatedInvite,
  type Invite,
  type ListResponse,
  type OpsTenant,
  type Session,
  type Signup,
  type Tenant,
  type TenantPatch,
  type TenantRole,
  type TextEntry,
  type User,
  type WebhookHealth,
} from './types';

const pub = { auth: false } as const;
const enc = encodeURIComponent;

export function endpoints(c: ApiClient) {
  return {
    // account
    signup: (b: { company: string; email: string; password: string; name: string; language?: string }) => c.post<Signup>('/signup', b, pub),
    login: (b: { email: string; password: string }) => c.post<TokenPair>('/auth/login', b, pub),
    logout: () => c.post<void>('/auth/logout'),
    me: () => c.get<User>('/me'),
    changePassword: (b: { current_password: string; new_password: string }) => c.post<void>('/me/password', b),
    sessions: async () => items(await c.get<ListResponse<Session>>('/auth/sessions'), 'sessions'),
    revokeSession: (id: string) => c.del(`/auth/sessions/${enc(id)}`),
    requestReset: (email: string) => c.post<void>('/auth/password-reset', { email }, pub),
    confirmReset: (token: string, password: string) => c.post<void>('/auth/password-reset/confirm', { token, password }, pub),

    // team
    members: async () => items(await c.get<ListResponse<User>>('/members'), 'members'),
    updateMember: (id: string, b: { role?: TenantRole; disabled?: boolean }) => c.patch<User>(`/members/${enc(id)}`, b),
    removeMember: (id: string) => c.del(`/members/${enc(id)}`),
    invites: async () => items(await c.get<ListResponse<Invite>>('/invites'), 'invites'),
    createInvite: (b: { email: string; role: TenantRole }) => c.post<CreatedInvite>('/invites', b),
    revokeInvite: (id: string) => c.del(`/invites/${enc(id)}`),
    acceptInvite: (b: { token: string; name: string; password: string }) => c.post<{ user: User } & TokenPair>('/invites/accept', b, pub),

    // tenant
    tenant: () => c.get<Tenant>('/tenant'),
    updateTenant: (b: TenantPatch) => c.patch<Tenant>('/tenant', b),
    texts: async () => items(await c.get<ListResponse<TextEntry>>('/texts'), 'texts'),
    setText: (key: string, lang: string, value: string) => c.put<TextEntry>(`/texts/${enc(key)}`, { lang, value }),
    resetText: (key: string, lang: string) => c.del<TextEntry>(`/texts/${enc(key)}`, { query: { lang } }),

    // bots
    bots: async () => items(await c.get<ListResponse<Bot>>('/bots'), 'items'),
    bot: (id: number) => c.get<Bot>(`/bots/${id}`),
    connectBot: (token: string) => c.post<Bot>('/bots', { token }),
    webhook: (id: number) => c.get<WebhookHealth>(`/bots/${id}/webhook`),
    resetWebhook: (id: number) => c.post<void>(`/bots/${id}/webhook`),
    replaceToken: (id: number, token: string) => c.put<Bot>(`/bots/${id}/token`, { token }),
    removeBot: (id: number) => c.del(`/bots/${id}`),

    // operators (served under /ops, outside /api/v1)
    opsTenants: async () => items(await c.get<ListResponse<OpsTenant>>('/ops/tenants', { root: true }), 'tenants'),
    setTenantStatus: (id: string, status: 'active' | 'suspended') => c.patch<OpsTenant>(`/ops/tenants/${enc(id)}`, { status }, { root: true }),
  };
}

export const API = endpoints(api);
