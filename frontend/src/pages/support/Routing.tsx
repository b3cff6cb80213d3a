// The greeting and the routing menu: what /start answers, the question
// above the menu's buttons, and the request types a person picks from after
// their first message, each routed to a staff group, a tag and/or an agent.
// One save replaces the whole menu (PUT /support/routing); the server names
// every bad field (request_types[2].title.ru) and the form shows it there.
import { useState } from 'react';
import type { RequestType, Routing, StaffGroup, User } from '../../api/types';
import { useApi } from '../../auth/session';
import { collect, FieldError, FormAlert, useForm, type Errors } from '../../components/form';
import { isMissingRoute } from '../../components/support';
import { Async, Empty, PageHeader, useLoad } from '../../components/ui';
import { useI18n, type T } from '../../i18n/i18n';

export const LANGS = ['ru', 'en'] as const;
export const TYPE_KEY_RE = /^[a-z0-9_]{1,32}$/;
export const TAG_RE = /^[a-z0-9_-]{1,32}$/;
export const MAX_TYPES = 20;
const MAX_TITLE = 64;

/** A menu entry being edited: the request type plus a stable React key. */
interface Item extends RequestType {
  uid: number;
  /** The key follows the English label until someone edits it (new entries only). */
  autoKey: boolean;
}

let nextUid = 1;

/** A key derived from a label: lower-case a–z, 0–9 and _, at most 32. */
export function slugKey(label: string): string {
  return label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 32)
    .replace(/_+$/, '');
}

function freeKey(items: Item[]): string {
  for (let n = items.length + 1; ; n++) if (!items.some((i) => i.key === `type_${n}`)) return `type_${n}`;
}

const groupValue = (g?: { bot_id: number; chat_id: number } | null) => (g ? `${g.bot_id}:${g.chat_id}` : '');

/** Client checks mirroring the server's; the server's messages replace them. */
export function checkRouting(t: T, langs: readonly string[], greeting: Record<string, string>, prompt: Record<string, string>, items: Item[]): Errors {
  const pairs: [string, string][] = [];
  for (const l of LANGS) {
    pairs.push([`greeting.${l}`, greeting[l]?.trim() ? '' : t('form.required')]);
    pairs.push([`route_prompt.${l}`, prompt[l]?.trim() ? '' : t('form.required')]);
  }
  if (items.length > MAX_TYPES) pairs.push(['request_types', t('support.routing.too_many', { n: MAX_TYPES })]);
  const seen = new Set<string>();
  items.forEach((it, i) => {
    const f = `request_types[${i}].`;
    const key = it.key.trim();
    pairs.push([f + 'key', !TYPE_KEY_RE.test(key) ? t('support.routing.key_rule') : seen.has(key) ? t('support.routing.key_taken') : '']);
    seen.add(key);
    for (const l of LANGS) {
      const v = (it.title[l] ?? '').trim();
      pairs.push([f + `title.${l}`, !v && langs.includes(l) ? t('form.required') : v.length > MAX_TITLE ? t('support.routing.title_long', { n: MAX_TITLE }) : '']);
    }
    const tag = (it.tag ?? '').trim();
    pairs.push([f + 'tag', tag && !TAG_RE.test(tag) ? t('support.routing.tag_rule') : '']);
  });
  return collect(pairs);
}

export function fieldNames(count: number): string[] {
  const out = ['request_types'];
  for (const l of LANGS) out.push(`greeting.${l}`, `route_prompt.${l}`);
  for (let i = 0; i < count; i++) {
    const f = `request_types[${i}].`;
    out.push(f + 'key', f + 'title.ru', f + 'title.en', f + 'tag', f + 'staff_group', f + 'assignee_user_id', f + 'auto_reply.ru', f + 'auto_reply.en');
  }
  return out;
}

export function RoutingPage() {
  const { t } = useI18n();
  const api = useApi();
  const routing = useLoad(() => api.routing(), []);
  // Targets to choose from; a server without these routes just offers none.
  const groups = useLoad(() => api.staffGroups().catch(() => [] as StaffGroup[]), []);
  const members = useLoad(() => api.members().catch(() => [] as User[]), []);
  // Kept here: a save re-creates the form from what the server answered.
  const [saved, setSaved] = useState(false);
  return (
    <>
      <PageHeader title={t('support.routing.title')} />
      <p className="muted">{t('support.routing.lead')}</p>
      {routing.error && isMissingRoute(routing.error) ? (
        <Empty>{t('support.routing.unavailable')}</Empty>
      ) : (
        <Async value={routing}>
          {(r) => (
            <RoutingForm
              key={JSON.stringify(r)}
              routing={r}
              groups={groups.data ?? []}
              members={(members.data ?? []).filter((m) => !m.disabled)}
              saved={saved}
              setSaved={setSaved}
              onSaved={(v) => routing.setData(v)}
            />
          )}
        </Async>
      )}
    </>
  );
}

function RoutingForm({ routing, groups, members, saved, setSaved, onSaved }: {
  routing: Routing;
  groups: StaffGroup[];
  members: User[];
  saved: boolean;
  setSaved: (v: boolean) => void;
  onSaved: (r: Routing) => void;
}) {
  const { t } = useI18n();
  const api = useApi();
  const [greeting, setGreeting] = useState<Record<string, string>>({ ...routing.greeting.values });
  const [prompt, setPrompt] = useState<Record<string, string>>({ ...routing.route_prompt.values });
  const [items, setItems] = useState<Item[]>(() => routing.request_types.map((rt) => ({ ...rt, uid: nextUid++, autoKey: false })));
  const form = useForm(fieldNames(items.length));
  const langs = routing.languages?.length ? routing.languages : [...LANGS];

  const change = (uid: number, patch: Partial<Item>) => {
    setSaved(false);
    setItems((list) => list.map((it) => (it.uid === uid ? { ...it, ...patch } : it)));
  };
  const setTitle = (it: Item, lang: string, v: string) => {
    const patch: Partial<Item> = { title: { ...it.title, [lang]: v } };
    if (lang === 'en' && it.autoKey) {
      const k = slugKey(v);
      if (k) patch.key = k;
    }
    change(it.uid, patch);
  };
  const move = (i: number, by: number) => {
    setSaved(false);
    form.reset(); // errors name positions
    setItems((list) => {
      const j = i + by;
      if (j < 0 || j >= list.length) return list;
      const out = [...list];
      [out[i], out[j]] = [out[j], out[i]];
      return out;
    });
  };
  const remove = (uid: number) => {
    setSaved(false);
    form.reset();
    setItems((list) => list.filter((it) => it.uid !== uid));
  };
  const add = () => {
    setSaved(false);
    setItems((list) => [...list, { key: freeKey(list), title: {}, uid: nextUid++, autoKey: true }]);
  };

  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const ok = await form.submit(
      () => checkRouting(t, langs, greeting, prompt, items),
      async () => {
        const body = {
          greeting,
          route_prompt: prompt,
          request_types: items.map(({ uid: _u, autoKey: _a, ...rt }) => ({
            ...rt,
            key: rt.key.trim(),
            tag: rt.tag?.trim() || undefined,
            staff_group: rt.staff_group ?? undefined,
            assignee_user_id: rt.assignee_user_id || undefined,
          })),
        };
        const r = await api.saveRouting(body);
        setSaved(true);
        onSaved(r);
      },
    );
    if (!ok) setSaved(false);
  };

  const textBlock = (name: 'greeting' | 'route_prompt', values: Record<string, string>, set: (v: Record<string, string>) => void) => {
    const spec = routing[name];
    return (
      <div className="side-by-side">
        {LANGS.map((l) => {
          const field = `${name}.${l}`;
          const id = `routing-${name}-${l}`;
          const err = form.errors[field];
          return (
            <div key={l} className={`field${err ? ' has-error' : ''}`}>
              <label htmlFor={id}>{t(`support.routing.${name}_label`, { lang: l.toUpperCase() })}</label>
              <textarea id={id} rows={name === 'greeting' ? 3 : 2} value={values[l] ?? ''} aria-invalid={!!err} onChange={(e) => {
                setSaved(false);
                set({ ...values, [l]: e.target.value });
              }} />
              <FieldError name={field} error={err} />
              {spec.defaults[l] !== undefined && values[l] !== spec.defaults[l] && (
                <button type="button" className="btn small ghost" onClick={() => {
                  setSaved(false);
                  set({ ...values, [l]: spec.defaults[l] });
                }}>
                  {t('support.routing.use_default')}
                </button>
              )}
            </div>
          );
        })}
      </div>
    );
  };

  return (
    <form onSubmit={onSubmit} noValidate data-testid="routing-form">
      <FormAlert messages={form.general} />
      <section className="card">
        <h2>{t('support.routing.greeting')}</h2>
        <p className="muted small">{t('support.routing.greeting_hint')}</p>
        {routing.greeting.placeholders.length > 0 && (
          <p className="muted small">
            {t('support.routing.placeholders')} {routing.greeting.placeholders.map((p) => <code key={p}>{`{${p}}`} </code>)}
          </p>
        )}
        {textBlock('greeting', greeting, setGreeting)}
      </section>

      <section className="card">
        <h2>{t('support.routing.menu')}</h2>
        <p className="muted small">{t('support.routing.menu_hint')}</p>
        {textBlock('route_prompt', prompt, setPrompt)}
        <FieldError name="request_types" error={form.errors.request_types} />
        {items.length === 0 ? (
          <Empty>{t('support.routing.none')}</Empty>
        ) : (
          <ol className="rows request-types" data-testid="request-types">
            {items.map((it, i) => {
              const f = `request_types[${i}].`;
              const err = (k: string) => form.errors[f + k];
              const id = (k: string) => `rt-${it.uid}-${k}`;
              return (
                <li key={it.uid} className="row request-type" data-key={it.key}>
                  <fieldset className="grow request-type-body">
                    <legend>{t('support.routing.item', { n: i + 1 })}</legend>
                    <div className="side-by-side">
                      {LANGS.map((l) => (
                        <div key={l} className={`field${err(`title.${l}`) ? ' has-error' : ''}`}>
                          <label htmlFor={id(`title-${l}`)}>{t('support.routing.label', { lang: l.toUpperCase() })}</label>
                          <input id={id(`title-${l}`)} value={it.title[l] ?? ''} aria-invalid={!!err(`title.${l}`)} maxLength={200}
                            onChange={(e) => setTitle(it, l, e.target.value)} />
                          <FieldError name={f + `title.${l}`} error={err(`title.${l}`)} />
                        </div>
                      ))}
                    </div>
                    <div className="side-by-side">
                      <div className={`field${err('staff_group') ? ' has-error' : ''}`}>
                        <label htmlFor={id('group')}>{t('support.routing.group')}</label>
                        <select id={id('group')} value={groupValue(it.staff_group)} aria-invalid={!!err('staff_group')} onChange={(e) => {
                          const g = groups.find((x) => groupValue(x) === e.target.value);
                          change(it.uid, { staff_group: g ? { bot_id: g.bot_id, chat_id: g.chat_id } : null });
                        }}>
                          <option value="">{t('support.routing.group_any')}</option>
                          {groups.map((g) => (
                            <option key={groupValue(g)} value={groupValue(g)}>{g.title || g.chat_id}</option>
                          ))}
                          {it.staff_group && !groups.some((g) => groupValue(g) === groupValue(it.staff_group)) && (
                            <option value={groupValue(it.staff_group)}>{t('support.routing.group_gone', { id: it.staff_group.chat_id })}</option>
                          )}
                        </select>
                        <FieldError name={f + 'staff_group'} error={err('staff_group')} />
                      </div>
                      <div className={`field${err('assignee_user_id') ? ' has-error' : ''}`}>
                        <label htmlFor={id('agent')}>{t('support.routing.agent')}</label>
                        <select id={id('agent')} value={it.assignee_user_id ?? ''} aria-invalid={!!err('assignee_user_id')}
                          onChange={(e) => change(it.uid, { assignee_user_id: e.target.value || null })}>
                          <option value="">{t('support.routing.agent_none')}</option>
                          {members.map((m) => (
                            <option key={m.id} value={m.id}>{m.name || m.email}</option>
                          ))}
                          {it.assignee_user_id && !members.some((m) => m.id === it.assignee_user_id) && (
                            <option value={it.assignee_user_id}>{t('support.routing.agent_gone')}</option>
                          )}
                        </select>
                        <FieldError name={f + 'assignee_user_id'} error={err('assignee_user_id')} />
                      </div>
                      <div className={`field${err('tag') ? ' has-error' : ''}`}>
                        <label htmlFor={id('tag')}>{t('support.routing.tag')}</label>
                        <input id={id('tag')} value={it.tag ?? ''} autoComplete="off" spellCheck={false} aria-invalid={!!err('tag')}
                          placeholder={t('support.filter.tag_hint')} onChange={(e) => change(it.uid, { tag: e.target.value })} />
                        <FieldError name={f + 'tag'} error={err('tag')} />
                      </div>
                      <div className={`field${err('key') ? ' has-error' : ''}`}>
                        <label htmlFor={id('key')}>{t('support.routing.key')}</label>
                        <input id={id('key')} value={it.key} autoComplete="off" spellCheck={false} aria-invalid={!!err('key')}
                          onChange={(e) => change(it.uid, { key: e.target.value, autoKey: false })} />
                        {err('key') ? <FieldError name={f + 'key'} error={err('key')} /> : <div className="hint">{t('support.routing.key_hint')}</div>}
                      </div>
                    </div>
                    <div className="row-actions">
                      <button type="button" className="btn small" disabled={i === 0} onClick={() => move(i, -1)} aria-label={t('support.routing.up_named', { n: i + 1 })}>
                        ↑ {t('support.routing.up')}
                      </button>
                      <button type="button" className="btn small" disabled={i === items.length - 1} onClick={() => move(i, 1)}
                        aria-label={t('support.routing.down_named', { n: i + 1 })}>
                        ↓ {t('support.routing.down')}
                      </button>
                      <button type="button" className="btn danger small" onClick={() => remove(it.uid)} aria-label={t('support.routing.remove_named', { n: i + 1 })}>
                        {t('support.routing.remove')}
                      </button>
                    </div>
                  </fieldset>
                </li>
              );
            })}
          </ol>
        )}
        <div className="actions-row">
          <button type="button" className="btn" onClick={add} disabled={items.length >= MAX_TYPES}>
            {t('support.routing.add')}
          </button>
        </div>
        {groups.length === 0 && <p className="muted small">{t('support.routing.no_groups')}</p>}
      </section>

      <div className="actions-row">
        <button className="btn primary" type="submit" disabled={form.busy}>
          {t('support.routing.save')}
        </button>
        {saved && (
          <span className="ok-text" role="status">
            {t('common.saved')}
          </span>
        )}
      </div>
    </form>
  );
}
