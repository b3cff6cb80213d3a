// Shapes of the platform API (docs/openapi.yaml).

export type Role = 'owner' | 'admin' | 'agent' | 'operator';
export type TenantRole = Exclude<Role, 'operator'>;

export interface User {
  id: string;
  tenant_id: string | null;
  email: string;
  name: string;
  language: string;
  role: Role;
  disabled: boolean;
  created_at: string;
}

export interface TenantSummary {
  id: string;
  name: string;
  default_language: string;
  created_at: string;
}

export interface Signup {
  tenant: TenantSummary;
  user: User;
  access_token: string;
  refresh_token: string;
}

export interface Session {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  user_agent: string;
  ip: string;
  current: boolean;
}

export type InviteStatus = 'pending' | 'accepted' | 'revoked' | 'expired';

export interface Invite {
  id: string;
  email: string;
  role: TenantRole;
  invited_by: string | null;
  created_at: string;
  expires_at: string;
  accepted_at: string | null;
  revoked_at: string | null;
  status: InviteStatus;
}

export interface CreatedInvite {
  invite: Invite;
  link: string;
  emailed: boolean;
}

export const FEATURES = ['support', 'broadcasts', 'surveys', 'crm', 'dispatch', 'loyalty', 'cabinet', 'community'] as const;
export type Feature = (typeof FEATURES)[number];

export const LANGUAGES = ['ru', 'en'] as const;

export interface Tenant {
  id: string;
  slug?: string;
  name: string;
  timezone: string;
  languages: string[];
  default_language: string;
  features: Record<string, boolean>;
  status?: string;
  template?: string;
  created_at?: string;
  updated_at?: string;
}

export interface TenantPatch {
  name?: string;
  timezone?: string;
  languages?: string[];
  default_language?: string;
  features?: Record<string, boolean>;
}

export interface TextValue {
  value: string;
  default: string;
  overridden: boolean;
}

export interface TextEntry {
  key: string;
  description: string;
  placeholders: string[];
  values: Record<string, TextValue>;
}

export interface Bot {
  id: number;
  username: string;
  name: string;
  status: string;
  webhook_url: string;
  created_at: string;
  updated_at: string;
}

export interface WebhookHealth {
  url: string;
  url_matches: boolean;
  pending_update_count: number;
  last_error_date?: number;
  last_error_message?: string;
  max_connections?: number;
}

/** A tenant as operators see it (GET /ops/tenants): identity and aggregates only. */
export interface OpsTenant {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'suspended' | string;
  created_at: string;
  members: number;
  contacts: number;
  bots: number;
  events_24h: number;
  events_30d: number;
}

export interface OpsDay {
  date: string;
  processed: number;
  failed: number;
}

export interface OpsQueue {
  name: string;
  size: number;
  pending: number;
  active: number;
  scheduled: number;
  retry: number;
  archived: number;
  paused: boolean;
  latency_seconds: number;
  processed_today: number;
  failed_today: number;
  history: OpsDay[] | null;
}

export interface OpsQueues {
  queues: OpsQueue[];
  dead_updates: number;
}

export type OpsTaskState = 'retry' | 'archived';

export interface OpsTask {
  id: string;
  queue: string;
  type: string;
  state: OpsTaskState | string;
  last_error: string;
  retried: number;
  max_retry: number;
  last_failed_at?: string | null;
  next_process_at?: string | null;
}

export interface OpsBot {
  bot_id: number;
  tenant_id: string;
  tenant_name: string;
  username: string;
  status: string;
  healthy: boolean;
  pending_update_count: number;
  last_error_date?: number;
  last_error_message?: string;
  check_error?: string;
}

export interface OpsUsageRow {
  tenant_id: string;
  tenant_name: string;
  updates: number;
  messages_sent: number;
  messages_failed: number;
  throttled: number;
}

export interface OpsUsage {
  days: number;
  tenants: OpsUsageRow[];
}

/** Lists come bare or wrapped in one named key: {items: [...]}, {members: [...]}, {sessions: [...]}. */
export type ListResponse<T> = T[] | Record<string, T[] | null | unknown>;

export function items<T>(r: ListResponse<T> | null | undefined, key?: string): T[] {
  if (!r) return [];
  if (Array.isArray(r)) return r;
  if (key && Array.isArray(r[key])) return r[key] as T[];
  for (const v of Object.values(r)) if (Array.isArray(v)) return v as T[];
  return [];
}

// --- support desk (internal/support) ---

export type TicketStatus = 'new' | 'in_work' | 'resolved';

export interface Ticket {
  id: string;
  no: number;
  bot_id: number;
  contact_id: string;
  contact_name: string;
  status: TicketStatus | string;
  assignee_name: string;
  assignee_user_id: string | null;
  assignee_tg_user_id: number | null;
  tags: string[] | null;
  opened_at: string;
  first_response_at: string | null;
  resolved_at: string | null;
  /** Request type (routing), once the backend has it. */
  request_type?: string | null;
}

export interface TicketMessage {
  id: string;
  /** in: from the person; out: to the person; note: internal, never sent. */
  direction: 'in' | 'out' | 'note' | string;
  author_name: string;
  /** Telegram content kind: text, photo, document, video, voice, sticker, … */
  kind: string;
  text: string;
  relay: string;
  created_at: string;
}

export interface TicketFilter {
  status?: string;
  assignee?: string;
  tag?: string;
  from?: string;
  to?: string;
  limit: number;
  offset: number;
}

export interface CannedReply {
  id: string;
  name: string;
  text: string;
  updated_at: string;
}

export interface BindCode {
  code: string;
  command: string;
  expires_at: string;
}

export interface StaffGroup {
  bot_id: number;
  chat_id: number;
  title: string;
  status: 'ok' | 'missing_rights' | string;
  missing: string[] | null;
  /** Request types the group takes (empty: every type); newer servers only. */
  request_types?: string[] | null;
  /** Unresolved tickets in the group's topics (its load) and those nobody answered yet. */
  open?: number;
  backlog?: number;
}

export interface AgentMetrics {
  user_id: string | null;
  name: string;
  tickets_handled: number;
  median_first_response_seconds: number | null;
  median_resolution_seconds: number | null;
  csat_avg: number | null;
  csat_count: number;
}

export interface SupportMetrics {
  agents: AgentMetrics[];
  totals: Partial<Omit<AgentMetrics, 'user_id' | 'name'>> & Record<string, unknown>;
}

/** One entry of the support routing menu (settings.support.request_types). */
export interface RequestType {
  key: string;
  title: Record<string, string>;
  auto_reply?: Record<string, string>;
  tag?: string;
  staff_group?: { bot_id: number; chat_id: number } | null;
  assignee_user_id?: string | null;
}

export interface RoutingText {
  values: Record<string, string>;
  defaults: Record<string, string>;
  placeholders: string[];
}

/** GET/PUT /support/routing: the greeting, the menu's question and the menu. */
export interface Routing {
  languages: string[];
  greeting: RoutingText;
  route_prompt: RoutingText;
  request_types: RequestType[];
}

export interface RoutingUpdate {
  greeting?: Record<string, string>;
  route_prompt?: Record<string, string>;
  request_types: RequestType[];
}

/** POST /bots/check: what Telegram says about a token's bot (nothing saved). */
export interface BotPreview {
  id: number;
  username: string;
  name: string;
}

/** GET /me/totp: whether two-factor sign-in is on (or set up and waiting for a first code). */
export interface TotpStatus {
  enabled: boolean;
  pending: boolean;
  enabled_at?: string;
}

/** POST /me/totp: shown once, for the authenticator app. */
export interface TotpSetup {
  secret: string;
  otpauth_url: string;
  qr_png_base64: string;
}
