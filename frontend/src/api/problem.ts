// RFC 9457 problem details as the platform sends them, and the mapping of
// their field errors onto form fields.

export interface FieldProblem {
  field: string;
  code: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  code: string;
  detail?: string;
  request_id?: string;
  errors?: FieldProblem[];
}

/** ApiError is thrown for every non-2xx answer (and for network failures, status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly fields: FieldProblem[];
  /** Seconds from Retry-After (429), if any. */
  readonly retryAfter?: number;
  readonly requestId?: string;

  constructor(p: Problem, retryAfter?: number) {
    super(p.detail || p.title || p.code);
    this.name = 'ApiError';
    this.status = p.status;
    this.code = p.code;
    this.detail = p.detail || p.title || p.code;
    this.fields = Array.isArray(p.errors) ? p.errors : [];
    this.retryAfter = retryAfter;
    this.requestId = p.request_id;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** Parses a response body into a Problem, tolerating non-JSON bodies. */
export function toProblem(status: number, statusText: string, body: string): Problem {
  try {
    const v = JSON.parse(body) as Partial<Problem>;
    if (v && typeof v === 'object' && typeof v.code === 'string') {
      return { ...v, status: typeof v.status === 'number' ? v.status : status, code: v.code };
    }
  } catch {
    /* not JSON */
  }
  return { status, code: `http_${status}`, title: statusText, detail: statusText || `HTTP ${status}` };
}

export interface FormErrors {
  /** Messages per form field name. */
  fields: Record<string, string>;
  /** What is left to show above the form: the detail, and messages for fields the form does not have. */
  general: string[];
}

/**
 * Maps a server error onto a form: each `errors[].field` that names one of
 * the form's fields goes next to it (several messages are joined); the rest,
 * and the `detail` when no field matched, go to the general list. `aliases`
 * lets a form show a server field under another input (e.g. "value" → "value.ru").
 */
export function mapProblem(err: unknown, formFields: readonly string[], aliases: Record<string, string> = {}): FormErrors {
  const out: FormErrors = { fields: {}, general: [] };
  if (!isApiError(err)) {
    out.general.push(err instanceof Error ? err.message : String(err));
    return out;
  }
  for (const f of err.fields) {
    const name = aliases[f.field] ?? f.field;
    if (formFields.includes(name)) {
      out.fields[name] = out.fields[name] ? `${out.fields[name]} ${f.message}` : f.message;
    } else {
      out.general.push(f.field ? `${f.field}: ${f.message}` : f.message);
    }
  }
  if (Object.keys(out.fields).length === 0) out.general.unshift(err.detail);
  return out;
}
