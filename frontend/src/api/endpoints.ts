// Typed calls of the public API, one function per route.
import { api, type ApiClient, type TokenPair } from './client';
import {
  items,
  type BindCode,
  type Bot,
  type BotPreview,
  type CannedReply,
  type CreatedInvite,
  type Invite,
  type ListResponse,
  type OpsBot,
  type OpsQueues,
  type OpsTask,
  type OpsTaskState,
  type OpsTenant,
  type OpsUsage,
  type Routing,
  type RoutingUpdate,
  type Session,
  type Signup,
  type StaffGroup,
  type SupportMetrics,
  type Tenant,
  type TenantPatch,
  type TenantRole,
  type TextEntry,
  type TotpSetup,
  type TotpStatus,
  type Ticket,
  type TicketFilter,
  type TicketMessage,
  type User,
  type WebhookHealth,
} from './types';

const pub = { auth: false } as const;
const enc = encodeURIComponent;

export function endpoints(c: ApiClient) {
  return {
    // account
    signup: (b: { company: string; email: string; password: string; name: string; language?: string }) => c.post<Signup>('/signup', b, pub),
    login: (b: { email: string; password: string; totp_code?: string }) => c.post<TokenPair>('/auth/login', b, pub),
    logout: () => c.post<void>('/auth/logout'),
    me: () => c.get<User>('/me'),
    totpStatus: () => c.get<TotpStatus>('/me/totp'),
    totpStart: (password: string) => c.post<TotpSetup>('/me/totp', { password }),
    totpConfirm: (code: string) => c.post<void>('/me/totp/confirm', { code }),
    totpDisable: (password: string, code: string) => c.post<void>('/me/totp/disable', { password, code }),
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
    checkBot: (token: string) => c.post<BotPreview>('/bots/check', { token }),
    connectBot: (token: string) => c.post<Bot>('/bots', { token }),
    webhook: (id: number) => c.get<WebhookHealth>(`/bots/${id}/webhook`),
    resetWebhook: (id: number) => c.post<void>(`/bots/${id}/webhook`),
    replaceToken: (id: number, token: string) => c.put<Bot>(`/bots/${id}/token`, { token }),
    removeBot: (id: number) => c.del(`/bots/${id}`),

    // support desk
    tickets: async (f: TicketFilter) => {
      const q: Record<string, string | undefined> = { limit: String(f.limit), offset: String(f.offset) };
      for (const k of ['status', 'assignee', 'tag', 'from', 'to'] as const) if (f[k]) q[k] = f[k];
      return items(await c.get<ListResponse<Ticket>>('/support/tickets', { query: q }), 'tickets');
    },
    ticket: (id: string) => c.get<{ ticket: Ticket; messages: TicketMessage[] }>(`/support/tickets/${enc(id)}`),
    reply: (id: string, text: string) => c.post<TicketMessage>(`/support/tickets/${enc(id)}/reply`, { text }),
    setStatus: (id: string, status: string) => c.post<void>(`/support/tickets/${enc(id)}/status`, { status }),
    /** Assigns a console member (null: nobody). */
    setAssignee: (id: string, userId: string | null) => c.post<void>(`/support/tickets/${enc(id)}/assignee`, { user_id: userId }),
    messageFile: (id: string) => c.blob(`/support/messages/${enc(id)}/file`),
    canned: async () => items(await c.get<ListResponse<CannedReply>>('/support/canned'), 'canned'),
    createCanned: (b: { name: string; text: string }) => c.post<CannedReply>('/support/canned', b),
    updateCanned: (id: string, b: { name: string; text: string }) => c.put<CannedReply>(`/support/canned/${enc(id)}`, b),
    deleteCanned: (id: string) => c.del(`/support/canned/${enc(id)}`),
    bindCode: () => c.post<BindCode>('/support/staff-groups/bind-code'),
    staffGroups: async () => items(await c.get<ListResponse<StaffGroup>>('/support/staff-groups'), 'staff_groups'),
    routing: () => c.get<Routing>('/support/routing'),
    saveRouting: (b: RoutingUpdate) => c.put<Routing>('/support/routing', b),
    metrics: (from: string, to: string) => c.get<SupportMetrics>('/support/metrics', { query: { from, to } }),

    // operators (served under /ops, outside /api/v1)
    opsTenants: async () => items(await c.get<ListResponse<OpsTenant>>('/ops/tenants', { root: true }), 'tenants'),
    setTenantStatus: (id: string, status: 'active' | 'suspended') => c.patch<OpsTenant>(`/ops/tenants/${enc(id)}`, { status }, { root: true }),
    opsQueues: async () => {
      const r = await c.get<OpsQueues>('/ops/queues', { root: true });
      return { queues: r?.queues ?? [], dead_updates: r?.dead_updates ?? 0 };
    },
    pauseQueue: (queue: string, paused: boolean) => c.post<void>(`/ops/queues/${enc(queue)}/${paused ? 'pause' : 'resume'}`, undefined, { root: true }),
    opsTasks: async (queue: string, state: OpsTaskState) =>
      items(await c.get<ListResponse<OpsTask>>(`/ops/queues/${enc(queue)}/tasks`, { root: true, query: { state } }), 'tasks'),
    runTask: (queue: string, id: string) => c.post<void>(`/ops/queues/${enc(queue)}/tasks/${enc(id)}/run`, undefined, { root: true }),
    deleteTask: (queue: string, id: string) => c.del(`/ops/queues/${enc(queue)}/tasks/${enc(id)}`, { root: true }),
    opsBots: async (unhealthy: boolean) =>
      items(await c.get<ListResponse<OpsBot>>('/ops/bots', { root: true, query: unhealthy ? { unhealthy: 'true' } : undefined }), 'bots'),
    opsUsage: async (days: number) => {
      const r = await c.get<OpsUsage>('/ops/usage', { root: true, query: { days: String(days) } });
      return { days: r?.days ?? days, tenants: r?.tenants ?? [] };
    },
  };
}

export const API = endpoints(api);
