// Small shared pieces: loading and empty states, page headers, confirm buttons,
// and a hook that loads data with loading/error states.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { isApiError } from '../api/problem';
import { useI18n } from '../i18n/i18n';

export function Loading({ label }: { label?: string }) {
  const { t } = useI18n();
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label ?? t('common.loading')}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useI18n();
  const msg = isApiError(error) ? (error.code === 'network_error' ? t('error.network') : error.detail) : String(error);
  return (
    <div className="alert error" role="alert">
      <p>{msg}</p>
      {onRetry && (
        <button type="button" className="btn small" onClick={onRetry}>
          {t('common.retry')}
        </button>
      )}
    </div>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="page-header">
      <h1>{title}</h1>
      {children && <div className="actions">{children}</div>}
    </header>
  );
}

/** A button that asks "sure?" in place before doing something destructive. */
export function ConfirmButton({ label, confirm, onConfirm, className = 'btn danger small', disabled }: {
  label: string;
  confirm: string;
  onConfirm: () => void | Promise<void>;
  className?: string;
  disabled?: boolean;
}) {
  const { t } = useI18n();
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking) {
    return (
      <button type="button" className={className} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span className="confirm">
      <button
        type="button"
        className={className}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await onConfirm();
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        {confirm}
      </button>
      <button type="button" className="btn small ghost" onClick={() => setAsking(false)}>
        {t('common.cancel')}
      </button>
    </span>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
  setData: (v: T) => void;
}

/** Loads with fn on mount (and when deps change); keeps the last data while reloading. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const live = useRef(true);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const reload = useCallback(async () => {
    setLoading(true);
    try {
      const v = await fnRef.current();
      if (live.current) {
        setData(v);
        setError(null);
      }
    } catch (e) {
      if (live.current) setError(e);
    } finally {
      if (live.current) setLoading(false);
    }
  }, []);
  useEffect(() => {
    live.current = true;
    void reload();
    return () => {
      live.current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { data, error, loading, reload, setData };
}

/** Renders loading / error / content for a Loaded value. */
export function Async<T>({ value, children }: { value: Loaded<T>; children: (v: T) => ReactNode }) {
  if (value.data === undefined) {
    if (value.error) return <ErrorBox error={value.error} onRetry={() => void value.reload()} />;
    return <Loading />;
  }
  return (
    <>
      {value.error ? <ErrorBox error={value.error} onRetry={() => void value.reload()} /> : null}
      {children(value.data)}
    </>
  );
}

/** Copies text to the clipboard, with a visible "copied" state. */
export function CopyButton({ text }: { text: string }) {
  const { t } = useI18n();
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="btn small"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setDone(true);
        } catch {
          setDone(false);
        }
      }}
    >
      {done ? t('common.copied') : t('common.copy')}
    </button>
  );
}
