import { describe, expect, it } from 'vitest';
import { ApiError, mapProblem, toProblem } from './problem';

const invalid = new ApiError({
  status: 422,
  code: 'validation_failed',
  detail: 'Some fields are invalid.',
  errors: [
    { field: 'email', code: 'invalid_email', message: 'Give a valid e-mail address.' },
    { field: 'password', code: 'weak_password', message: 'Use at least 10 characters.' },
    { field: 'password', code: 'too_long', message: 'Too long.' },
    { field: 'language', code: 'unsupported', message: 'Use ru or en.' },
  ],
});

describe('mapProblem', () => {
  it('puts each field error next to its field and the rest above the form', () => {
    const m = mapProblem(invalid, ['email', 'password']);
    expect(m.fields).toEqual({ email: 'Give a valid e-mail address.', password: 'Use at least 10 characters. Too long.' });
    expect(m.general).toEqual(['language: Use ru or en.']);
  });

  it('shows the detail when no field matches', () => {
    const err = new ApiError({ status: 409, code: 'email_taken', detail: 'An account with this e-mail address already exists.' });
    expect(mapProblem(err, ['email'])).toEqual({ fields: {}, general: ['An account with this e-mail address already exists.'] });
  });

  it('follows aliases such as languages[1] → languages', () => {
    const err = new ApiError({ status: 422, code: 'validation_failed', detail: 'x', errors: [{ field: 'languages[1]', code: 'duplicate', message: 'is listed twice' }] });
    expect(mapProblem(err, ['languages'], { 'languages[1]': 'languages' }).fields).toEqual({ languages: 'is listed twice' });
  });

  it('handles non-API errors', () => {
    expect(mapProblem(new Error('boom'), ['a']).general).toEqual(['boom']);
  });
});

describe('toProblem', () => {
  it('parses problem JSON and tolerates other bodies', () => {
    expect(toProblem(401, 'Unauthorized', '{"status":401,"code":"token_expired","detail":"d"}').code).toBe('token_expired');
    const p = toProblem(502, 'Bad Gateway', '<html>');
    expect(p).toMatchObject({ status: 502, code: 'http_502', detail: 'Bad Gateway' });
  });
});
