// Saved replies: agents read them (and send one with /t name in a topic or
// pick one when replying here); admins create, edit and delete.
import { useState } from 'react';
import type { CannedReply } from '../../api/types';
import { allowed } from '../../auth/nav';
import { useApi, useSession } from '../../auth/session';
import { collect, Field, FieldError, FormAlert, useForm } from '../../components/form';
import { Async, ConfirmButton, Empty, PageHeader, useLoad } from '../../components/ui';
import { useI18n, type T } from '../../i18n/i18n';

export const CANNED_NAME_RE = /^[a-z0-9_-]{1,32}$/;

function check(t: T, name: string, text: string) {
  const n = name.trim().toLowerCase();
  return collect([
    ['name', !n ? t('form.required') : CANNED_NAME_RE.test(n) ? '' : t('support.canned.name_rule')],
    ['text', !text.trim() ? t('form.required') : text.trim().length > 4096 ? t('support.canned.too_long') : ''],
  ]);
}

export function CannedPage() {
  const { t } = useI18n();
  const api = useApi();
  const { user } = useSession();
  const canWrite = allowed(user?.role, 'admin');
  const list = useLoad(() => api.canned(), []);
  const [editing, setEditing] = useState<string | null>(null);
  return (
    <>
      <PageHeader title={t('support.canned.title')} />
      <p className="muted">{t('support.canned.lead')}</p>
      {canWrite && <CannedForm key="new" onSaved={() => void list.reload()} />}
      <section className="card">
        <h2>{t('support.canned.list')}</h2>
        <Async value={list}>
          {(items) =>
            items.length === 0 ? (
              <Empty>{canWrite ? t('support.canned.none_admin') : t('support.canned.none')}</Empty>
            ) : (
              <ul className="rows" data-testid="canned">
                {items.map((c) =>
                  editing === c.id ? (
                    <li key={c.id} className="row">
                      <div className="grow">
                        <CannedForm
                          item={c}
                          onSaved={() => {
                            setEditing(null);
                            void list.reload();
                          }}
                          onCancel={() => setEditing(null)}
                        />
                      </div>
                    </li>
                  ) : (
                    <li key={c.id} className="row" data-name={c.name}>
                      <div className="grow">
                        <code>/t {c.name}</code>
                        <div className="canned-text">{c.text}</div>
                      </div>
                      {canWrite && (
                        <div className="row-actions">
                          <button type="button" className="btn small" onClick={() => setEditing(c.id)}>
                            {t('support.canned.edit')}
                          </button>
                          <ConfirmButton
                            label={t('support.canned.delete')}
                            confirm={t('support.canned.delete_confirm', { name: c.name })}
                            onConfirm={async () => {
                              await api.deleteCanned(c.id);
                              await list.reload();
                            }}
                          />
                        </div>
                      )}
                    </li>
                  ),
                )}
              </ul>
            )
          }
        </Async>
      </section>
    </>
  );
}

function CannedForm({ item, onSaved, onCancel }: { item?: CannedReply; onSaved: () => void; onCancel?: () => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [name, setName] = useState(item?.name ?? '');
  const [text, setText] = useState(item?.text ?? '');
  const [done, setDone] = useState(false);
  const form = useForm(['name', 'text']);
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setDone(false);
    const ok = await form.submit(
      () => check(t, name, text),
      async () => {
        const b = { name: name.trim().toLowerCase(), text: text.trim() };
        if (item) await api.updateCanned(item.id, b);
        else await api.createCanned(b);
      },
    );
    if (ok) {
      if (!item) {
        setName('');
        setText('');
        setDone(true);
      }
      onSaved();
    }
  };
  const body = (
    <form onSubmit={onSubmit} noValidate data-testid={item ? 'canned-edit' : 'canned-new'}>
      <FormAlert messages={form.general} />
      <Field
        label={t('support.canned.name')}
        name="name"
        autoComplete="off"
        spellCheck={false}
        value={name}
        onChange={(e) => setName(e.target.value)}
        error={form.errors.name}
        hint={t('support.canned.name_hint')}
      />
      <div className={`field${form.errors.text ? ' has-error' : ''}`}>
        <label htmlFor={item ? `canned-text-${item.id}` : 'canned-text-new'}>{t('support.canned.text')}</label>
        <textarea
          id={item ? `canned-text-${item.id}` : 'canned-text-new'}
          rows={3}
          value={text}
          aria-invalid={!!form.errors.text}
          onChange={(e) => setText(e.target.value)}
        />
        <FieldError name="text" error={form.errors.text} />
      </div>
      <div className="actions-row">
        <button className="btn primary" type="submit" disabled={form.busy}>
          {item ? t('common.save') : t('support.canned.add')}
        </button>
        {onCancel && (
          <button className="btn" type="button" onClick={onCancel}>
            {t('common.cancel')}
          </button>
        )}
        {done && (
          <span className="ok-text" role="status">
            {t('common.saved')}
          </span>
        )}
      </div>
    </form>
  );
  if (item) return body;
  return (
    <section className="card">
      <h2>{t('support.canned.new')}</h2>
      {body}
    </section>
  );
}
