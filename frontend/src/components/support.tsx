// Pieces the support screens share: "this API is not there yet", polling
// while a screen is open, status badges, durations, and media that is
// fetched with the auth header and shown through a blob: URL.
import { useEffect, useRef, useState } from 'react';
import { isApiError } from '../api/problem';
import type { TicketMessage } from '../api/types';
import { useApi } from '../auth/session';
import { useI18n, type T } from '../i18n/i18n';
import type { MessageKey } from '../i18n/messages';

/** The route is not served by this platform build (a newer console against an older backend). */
export function isMissingRoute(e: unknown): boolean {
  return isApiError(e) && e.status === 404 && e.code === 'route_not_found';
}

/** Calls fn every ms while the page is visible (and enabled); the caller's fn must be cheap and quiet. */
export function usePoll(fn: () => unknown, ms: number, enabled = true) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!enabled) return;
    const id = window.setInterval(() => {
      if (typeof document === 'undefined' || document.visibilityState !== 'hidden') ref.current();
    }, ms);
    return () => window.clearInterval(id);
  }, [ms, enabled]);
}

export const STATUSES = ['new', 'in_work', 'resolved'] as const;

export function statusLabel(t: T, s: string): string {
  return (STATUSES as readonly string[]).includes(s) ? t(`support.status.${s as 'new'}`) : s;
}

export function TicketStatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  const cls = status === 'resolved' ? 'ok' : status === 'new' ? 'warn' : 'info';
  return <span className={`badge ${cls}`} data-status={status}>{statusLabel(t, status)}</span>;
}

/** 95 → "1 min 35 s", 7300 → "2 h 1 min", 200000 → "2 d 7 h"; null → "—". */
export function duration(t: T, sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return '—';
  const s = Math.max(0, Math.round(sec));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts: [number, MessageKey][] =
    d > 0 ? [[d, 'unit.d'], [h, 'unit.h']] : h > 0 ? [[h, 'unit.h'], [m, 'unit.min']] : m > 0 ? [[m, 'unit.min'], [s % 60, 'unit.s']] : [[s, 'unit.s']];
  return parts
    .filter(([n], i) => i === 0 || n > 0)
    .map(([n, k]) => `${n} ${t(k)}`)
    .join(' ');
}

/** Content kinds that carry a file the platform can proxy. */
export const FILE_KINDS = new Set(['photo', 'video', 'animation', 'document', 'audio', 'voice', 'video_note', 'sticker']);
const IMAGE_KINDS = new Set(['photo', 'sticker']);

type MediaState = { url: string; type: string; size: number } | 'missing' | 'error' | null;

/** A message's file through GET /support/messages/:id/file: images inline, other files as a download link. */
export function MessageMedia({ m }: { m: TicketMessage }) {
  const { t } = useI18n();
  const api = useApi();
  const [state, setState] = useState<MediaState>(null);
  useEffect(() => {
    let live = true;
    let url = '';
    api.messageFile(m.id).then(
      (b) => {
        url = URL.createObjectURL(b);
        if (live) setState({ url, type: b.type, size: b.size });
        else URL.revokeObjectURL(url);
      },
      (e) => live && setState(isMissingRoute(e) || (isApiError(e) && e.status === 404) ? 'missing' : 'error'),
    );
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [api, m.id]);
  const kind = t(`support.kind.${m.kind as 'photo'}`) === `support.kind.${m.kind}` ? m.kind : t(`support.kind.${m.kind as 'photo'}`);
  if (state === null) return <div className="media muted small">{t('support.media.loading', { kind })}</div>;
  if (state === 'missing' || state === 'error') {
    return (
      <div className="media muted small" data-testid="media-unavailable">
        {t(state === 'missing' ? 'support.media.missing' : 'support.media.error', { kind })}
      </div>
    );
  }
  const isImage = state.type.startsWith('image/') || (IMAGE_KINDS.has(m.kind) && !state.type);
  if (isImage) {
    return (
      <a className="media" href={state.url} target="_blank" rel="noreferrer">
        <img src={state.url} alt={m.text || kind} data-testid="media-image" />
      </a>
    );
  }
  return (
    <div className="media">
      <a className="btn small" href={state.url} download={`${m.kind}-${m.id.slice(0, 8)}`} data-testid="media-download">
        ⬇ {t('support.media.download', { kind, size: Math.max(1, Math.round(state.size / 1024)) })}
      </a>
    </div>
  );
}
