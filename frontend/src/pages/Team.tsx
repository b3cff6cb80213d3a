import { useState } from 'react';
import type { CreatedInvite, Invite, TenantRole, User } from '../api/types';
import { allowed } from '../auth/nav';
import { useApi, useSession } from '../auth/session';
import { checks, collect, Field, FieldError, FormAlert, useForm } from '../components/form';
import { Async, ConfirmButton, CopyButton, Empty, ErrorBox, PageHeader, useLoad } from '../components/ui';
import { useI18n } from '../i18n/i18n';

const ROLES: TenantRole[] = ['owner', 'admin', 'agent'];

export function TeamPage() {
  const { t, dt } = useI18n();
  const { user } = useSession();
  const api = useApi();
  const admin = allowed(user?.role, 'admin');
  const members = useLoad(() => api.members(), []);
  const invites = useLoad(() => (admin ? api.invites() : Promise.resolve([] as Invite[])), [admin]);
  const [actionError, setActionError] = useState<unknown>(null);

  // Only owners hand out the owner role; the server enforces it too.
  const grantable = ROLES.filter((r) => r !== 'owner' || user?.role === 'owner');

  const act = async (fn: () => Promise<unknown>) => {
    setActionError(null);
    try {
      await fn();
    } catch (e) {
      setActionError(e);
    }
    await members.reload();
  };

  return (
    <>
      <PageHeader title={t('team.title')} />
      {actionError ? <ErrorBox error={actionError} /> : null}
      {admin && <InviteForm roles={grantable} onCreated={() => void invites.reload()} />}

      <section className="card">
        <h2>{t('team.members')}</h2>
        <Async value={members}>
          {(list) =>
            list.length === 0 ? (
              <Empty>{t('team.no_members')}</Empty>
            ) : (
              <ul className="rows" data-testid="members">
                {list.map((m) => (
                  <MemberRow key={m.id} m={m} self={m.id === user?.id} admin={admin} roles={grantable} act={act} />
                ))}
              </ul>
            )
          }
        </Async>
      </section>

      {admin && (
        <section className="card">
          <h2>{t('team.invites')}</h2>
          <Async value={invites}>
            {(list) => {
              const pending = list.filter((i) => i.status === 'pending');
              return pending.length === 0 ? (
                <Empty>{t('team.no_invites')}</Empty>
              ) : (
                <ul className="rows" data-testid="invites">
                  {pending.map((i) => (
                    <li key={i.id} className="row">
                      <div className="grow">
                        <strong>{i.email}</strong>
                        <div className="muted small">
                          {t(`role.${i.role}`)} · {t('team.expires', { when: dt(i.expires_at) })}
                        </div>
                      </div>
                      <ConfirmButton
                        label={t('team.revoke')}
                        confirm={t('team.revoke_confirm')}
                        onConfirm={async () => {
                          setActionError(null);
                          try {
                            await api.revokeInvite(i.id);
                          } catch (e) {
                            setActionError(e);
                          }
                          await invites.reload();
                        }}
                      />
                    </li>
                  ))}
                </ul>
              );
            }}
          </Async>
        </section>
      )}
    </>
  );
}

function MemberRow({ m, self, admin, roles, act }: {
  m: User;
  self: boolean;
  admin: boolean;
  roles: TenantRole[];
  act: (fn: () => Promise<unknown>) => Promise<void>;
}) {
  const { t } = useI18n();
  const api = useApi();
  const canManage = admin && !self;
  return (
    <li className={`row${m.disabled ? ' disabled' : ''}`} data-email={m.email}>
      <div className="grow">
        <strong>{m.name || m.email}</strong> {self && <span className="badge">{t('team.you')}</span>}
        {m.disabled && <span className="badge warn">{t('team.disabled')}</span>}
        <div className="muted small">{m.email}</div>
      </div>
      {canManage ? (
        <div className="row-actions">
          <select
            aria-label={t('team.role_of', { name: m.name || m.email })}
            value={m.role}
            onChange={(e) => void act(() => api.updateMember(m.id, { role: e.target.value as TenantRole }))}
          >
            {(roles.includes(m.role as TenantRole) ? roles : [m.role as TenantRole, ...roles]).map((r) => (
              <option key={r} value={r}>
                {t(`role.${r}`)}
              </option>
            ))}
          </select>
          <button type="button" className="btn small" onClick={() => void act(() => api.updateMember(m.id, { disabled: !m.disabled }))}>
            {m.disabled ? t('team.enable') : t('team.disable')}
          </button>
          <ConfirmButton label={t('team.remove')} confirm={t('team.remove_confirm')} onConfirm={() => act(() => api.removeMember(m.id))} />
        </div>
      ) : (
        <span className="badge">{t(`role.${m.role}`)}</span>
      )}
    </li>
  );
}

function InviteForm({ roles, onCreated }: { roles: TenantRole[]; onCreated: () => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<TenantRole>('agent');
  const [created, setCreated] = useState<CreatedInvite | null>(null);
  const form = useForm(['email', 'role']);
  const c = checks(t);
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setCreated(null);
    const ok = await form.submit(
      () => collect([['email', c.email(email)]]),
      async () => {
        setCreated(await api.createInvite({ email: email.trim(), role }));
      },
    );
    if (ok) {
      setEmail('');
      onCreated();
    }
  };
  return (
    <section className="card">
      <h2>{t('team.invite')}</h2>
      <form className="inline-form" onSubmit={onSubmit} noValidate>
        <FormAlert messages={form.general} />
        <Field label={t('field.email')} name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={form.errors.email} />
        <div className="field">
          <label htmlFor="invite-role">{t('field.role')}</label>
          <select id="invite-role" name="role" value={role} onChange={(e) => setRole(e.target.value as TenantRole)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {t(`role.${r}`)}
              </option>
            ))}
          </select>
          <FieldError name="role" error={form.errors.role} />
        </div>
        <button className="btn primary" type="submit" disabled={form.busy}>
          {t('team.send_invite')}
        </button>
      </form>
      {created && (
        <div className="alert ok" role="status" data-testid="invite-link">
          <p>
            {created.emailed ? t('team.invite_emailed', { email: created.invite.email }) : t('team.invite_created', { email: created.invite.email })}
          </p>
          <div className="copy-line">
            <input readOnly value={created.link} aria-label={t('team.invite_link')} onFocus={(e) => e.target.select()} />
            <CopyButton text={created.link} />
          </div>
        </div>
      )}
    </section>
  );
}

