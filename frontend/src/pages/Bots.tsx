import { useState } from 'react';
import { Link } from 'react-router-dom';
import type { Bot, BotPreview } from '../api/types';
import { useApi } from '../auth/session';
import { collect, Field, FormAlert, useForm } from '../components/form';
import { isMissingRoute } from '../components/support';
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

// Two steps: the token is checked with Telegram (getMe, nothing saved) and
// the bot's name and @username are shown; "Connect" then saves it and sets
// its webhook. A server without the check route connects at once.
function ConnectBot({ onConnected }: { onConnected: (b: Bot) => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [token, setToken] = useState('');
  const [preview, setPreview] = useState<BotPreview | null>(null);
  const [bot, setBot] = useState<Bot | null>(null);
  const form = useForm(['token']);
  const connect = async (tok: string) => {
    const b = await api.connectBot(tok);
    setBot(b);
    setPreview(null);
    setToken('');
    onConnected(b);
  };
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBot(null);
    const tok = token.trim();
    if (preview) {
      await form.submit(() => ({}), () => connect(tok));
      return;
    }
    await form.submit(
      () => collect([['token', tokenError(t, token)]]),
      async () => {
        try {
          setPreview(await api.checkBot(tok));
        } catch (err) {
          if (isMissingRoute(err)) await connect(tok);
          else throw err;
        }
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
          onChange={(e) => {
            setToken(e.target.value);
            setPreview(null);
          }}
          error={form.errors.token}
          hint={t('bots.token_hint')}
        />
        {preview && (
          <div className="alert info" role="status" data-testid="bot-preview">
            {t('bots.preview', { name: preview.name, username: preview.username })}
          </div>
        )}
        <div className="actions-row">
          <button className="btn primary" type="submit" disabled={form.busy}>
            {form.busy ? t('bots.checking') : preview ? t('bots.connect_submit') : t('bots.check_submit')}
          </button>
          {preview && (
            <button className="btn" type="button" onClick={() => setPreview(null)}>
              {t('common.cancel')}
            </button>
          )}
        </div>
      </form>
      {bot && (
        <div className="alert ok" role="status" data-testid="bot-connected">
          {t('bots.connected', { name: bot.name, username: bot.username })} <Link to={`/bots/${bot.id}`}>{t('bots.open')}</Link>
        </div>
      )}
    </section>
  );
}
