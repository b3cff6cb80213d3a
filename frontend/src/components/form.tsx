// Form building blocks: fields that show their own error, the general error
// box, and a hook that merges client-side checks with the server's problem.
import { useCallback, useId, useState, type InputHTMLAttributes, type ReactNode } from 'react';
import { isApiError, mapProblem } from '../api/problem';
import { useI18n, type T } from '../i18n/i18n';
import type { MessageKey } from '../i18n/messages';

export type Errors = Record<string, string>;

export interface FormState {
  errors: Errors;
  general: string[];
  busy: boolean;
  /** Runs a submit: client checks first (they block the request), then the call; server errors land on fields. */
  submit: (check: () => Errors, run: () => Promise<void>) => Promise<boolean>;
  setGeneral: (msgs: string[]) => void;
  reset: () => void;
}

export function useForm(fields: readonly string[], aliases: Record<string, string> = {}): FormState {
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const { t } = useI18n();
  const key = fields.join(',');
  const submit = useCallback(
    async (check: () => Errors, run: () => Promise<void>) => {
      const local = check();
      setErrors(local);
      setGeneral([]);
      if (Object.keys(local).length) return false;
      setBusy(true);
      try {
        await run();
        return true;
      } catch (e) {
        const m = mapProblem(e, key.split(','), aliases);
        setErrors(m.fields);
        setGeneral(m.general.map((g) => explain(e, g, t)));
        return false;
      } finally {
        setBusy(false);
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key, t],
  );
  const reset = useCallback(() => {
    setErrors({});
    setGeneral([]);
  }, []);
  return { errors, general, busy, submit, setGeneral, reset };
}

/** Adds what the console knows about a few codes (network trouble) to the server's words. */
function explain(e: unknown, msg: string, t: T): string {
  if (isApiError(e) && e.code === 'network_error') return t('error.network');
  return msg;
}

interface FieldProps extends InputHTMLAttributes<HTMLInputElement> {
  label: string;
  name: string;
  error?: string;
  hint?: ReactNode;
}

export function Field({ label, name, error, hint, ...input }: FieldProps) {
  const id = useId();
  const errId = `${id}-err`;
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <input id={id} name={name} aria-invalid={!!error} aria-describedby={error ? errId : undefined} {...input} />
      {hint && !error && <div className="hint">{hint}</div>}
      {error && (
        <div className="field-error" id={errId} role="alert" data-field={name}>
          {error}
        </div>
      )}
    </div>
  );
}

export function FieldError({ name, error }: { name: string; error?: string }) {
  if (!error) return null;
  return (
    <div className="field-error" role="alert" data-field={name}>
      {error}
    </div>
  );
}

export function FormAlert({ messages }: { messages: string[] }) {
  if (!messages.length) return null;
  return (
    <div className="alert error" role="alert" data-testid="form-alert">
      {messages.map((m, i) => (
        <p key={i}>{m}</p>
      ))}
    </div>
  );
}

// Client-side checks mirror the server's rules so people learn early; the
// server remains the judge and its messages replace these.
export const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const MIN_PASSWORD = 10;

export function checks(t: T) {
  const msg = (k: MessageKey, v?: Record<string, string | number>) => t(k, v);
  return {
    required: (v: string) => (v.trim() ? '' : msg('form.required')),
    email: (v: string) => (!v.trim() ? msg('form.required') : EMAIL_RE.test(v.trim()) ? '' : msg('form.email')),
    password: (v: string) => (!v ? msg('form.required') : v.length < MIN_PASSWORD ? msg('form.password_short', { n: MIN_PASSWORD }) : ''),
  };
}

/** Builds an Errors object from [field, message] pairs, dropping empty messages. */
export function collect(pairs: [string, string][]): Errors {
  const out: Errors = {};
  for (const [f, m] of pairs) if (m) out[f] = m;
  return out;
}
