import { useState } from 'react';
import { Link } from 'react-router-dom';
import type { Bot } from '../api/types';
import { useApi } from '../auth/session';
import { collect, Field, FormAlert, useForm } from '../components/form';
import { Async, Empty, PageHeader, useLoad } from '../components/ui';
import { useI18n, type T } from '../i18n/i18n';

/** Telegram bot tokens look like 123456789:AA…(35 chars). */
export const TOKEN_RE = /^\d+:[\w-]{35}$/;

export function tokenError(t: T, token: string): string {
  if (!token.trim()) return t('form.required');
  return TOKEN_RE.test(token.trim()) ? '' : t('bots.token_format');
}

export function BotsPage() {
  const { t } = useI18n();
  const api = useApi();
  const bots = useLoad(() => api.bots(), []);
  return (
    <>
      <PageHeader title={t('bots.title')} />
      <ConnectBot onConnected={() => void bots.reload()} />
      <section className="card">
        <h2>{t('bots.list')}</h2>
        <Async value={bots}>
          {(list) =>
            list.length === 0 ? (
              <Empty>{t('bots.none')}</Empty>
            ) : (
              <ul className="rows" data-testid="bots">
                {list.map((b) => (
                  <li key={b.id} className="row">
                    <div className="grow">
                      <Link to={`/bots/${b.id}`}>
                        <strong>{b.name}</strong> <span className="muted">@{b.username}</span>
                      </Link>
                      <div className="muted small">id {b.id}</div>
                    </div>
                    <StatusBadge status={b.status} />
                  </li>
                ))}
              </ul>
            )
          }
        </Async>
      </section>
    </>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  const known = ['active', 'disabled', 'token_revoked'];
  const cls = status === 'active' ? 'ok' : 'warn';
  return <span className={`badge ${cls}`}>{known.includes(status) ? t(`bots.status.${status as 'active'}`) : status}</span>;
}

function ConnectBot({ onConnected }: { onConnected: (b: Bot) => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [token, setToken] = useState('');
  const [bot, setBot] = useState<Bot | null>(null);
  const form = useForm(['token']);
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBot(null);
    await form.submit(
      () => collect([['token', tokenError(t, token)]]),
      async () => {
        const b = await api.connectBot(token.trim());
        setBot(b);
        setToken('');
        onConnected(b);
      },
    );
  };
  return (
    <section className="card">
      <h2>{t('bots.connect')}</h2>
      <p className="muted">{t('bots.connect_lead')}</p>
      <form onSubmit={onSubmit} noValidate>
        <FormAlert messages={form.general} />
        <Field
          label={t('bots.token')}
          name="token"
          autoComplete="off"
          spellCheck={false}
          placeholder="123456789:AA…"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          error={form.errors.token}
          hint={t('bots.token_hint')}
        />
        <button className="btn primary" type="submit" disabled={form.busy}>
          {form.busy ? t('bots.checking') : t('bots.connect_submit')}
        </button>
      </form>
      {bot && (
        <div className="alert ok" role="status" data-testid="bot-connected">
          {t('bots.connected', { name: bot.name, username: bot.username })} <Link to={`/bots/${bot.id}`}>{t('bots.open')}</Link>
        </div>
      )}
    </section>
  );
}
