import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import type { Bot } from '../api/types';
import { useApi } from '../auth/session';
import { collect, Field, FormAlert, useForm } from '../components/form';
import { isApiError } from '../api/problem';
import { Async, ConfirmButton, Empty, ErrorBox, Loading, PageHeader, useLoad } from '../components/ui';
import { useI18n } from '../i18n/i18n';
import { StatusBadge, tokenError } from './Bots';

export function BotDetailPage() {
  const { id = '' } = useParams();
  const botId = Number(id);
  const { t } = useI18n();
  const api = useApi();
  const nav = useNavigate();
  const bot = useLoad(() => api.bot(botId), [botId]);
  const [err, setErr] = useState<unknown>(null);
  return (
    <>
      <p>
        <Link to="/bots">← {t('bots.title')}</Link>
      </p>
      {isApiError(bot.error) && bot.error.status === 404 && !bot.data ? (
        <Empty>{t('bots.not_found')}</Empty>
      ) : (
        <Async value={bot}>
          {(b) => (
            <>
              <PageHeader title={b.name}>
                <StatusBadge status={b.status} />
              </PageHeader>
              <section className="card">
                <dl className="facts">
                  <dt>{t('bots.username')}</dt>
                  <dd>
                    <a href={`https://t.me/${b.username}`} target="_blank" rel="noreferrer">
                      @{b.username}
                    </a>
                  </dd>
                  <dt>{t('bots.id')}</dt>
                  <dd>{b.id}</dd>
                  <dt>{t('bots.webhook_url')}</dt>
                  <dd className="break">{b.webhook_url || '—'}</dd>
                </dl>
              </section>
              <WebhookHealthCard botId={b.id} />
              <ReplaceToken bot={b} onReplaced={bot.setData} />
              <section className="card danger-zone">
                <h2>{t('bots.remove')}</h2>
                <p className="muted">{t('bots.remove_lead')}</p>
                {err ? <ErrorBox error={err} /> : null}
                <ConfirmButton
                  className="btn danger"
                  label={t('bots.remove')}
                  confirm={t('bots.remove_confirm', { username: b.username })}
                  onConfirm={async () => {
                    setErr(null);
                    try {
                      await api.removeBot(b.id);
                      nav('/bots', { replace: true });
                    } catch (e) {
                      setErr(e);
                    }
                  }}
                />
              </section>
            </>
          )}
        </Async>
      )}
    </>
  );
}

function WebhookHealthCard({ botId }: { botId: number }) {
  const { t, dt } = useI18n();
  const api = useApi();
  const health = useLoad(() => api.webhook(botId), [botId]);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const reRegister = async () => {
    setBusy(true);
    setErr(null);
    setDone(false);
    try {
      await api.resetWebhook(botId);
      setDone(true);
      await health.reload();
    } catch (e) {
      setErr(e);
    } finally {
      setBusy(false);
    }
  };
  const h = health.data;
  const healthy = h && h.url_matches && !h.last_error_date;
  return (
    <section className="card" data-testid="webhook-health">
      <h2>{t('bots.webhook')}</h2>
      {health.loading && !h ? (
        <Loading />
      ) : health.error && !h ? (
        <ErrorBox error={health.error} onRetry={() => void health.reload()} />
      ) : h ? (
        <>
          <p>
            <span className={`badge ${healthy ? 'ok' : 'warn'}`}>{healthy ? t('bots.webhook_ok') : t('bots.webhook_problem')}</span>
          </p>
          <dl className="facts">
            <dt>{t('bots.webhook_registered')}</dt>
            <dd>{h.url_matches ? t('common.yes') : t('bots.webhook_mismatch')}</dd>
            <dt>{t('bots.pending')}</dt>
            <dd data-testid="pending">{h.pending_update_count}</dd>
            <dt>{t('bots.last_error')}</dt>
            <dd>{h.last_error_date ? `${dt(h.last_error_date)} — ${h.last_error_message ?? ''}` : t('bots.no_errors')}</dd>
            {h.max_connections ? (
              <>
                <dt>{t('bots.max_connections')}</dt>
                <dd>{h.max_connections}</dd>
              </>
            ) : null}
          </dl>
        </>
      ) : null}
      {err ? <ErrorBox error={err} /> : null}
      {done && (
        <div className="alert ok" role="status">
          {t('bots.webhook_reregistered')}
        </div>
      )}
      <div className="actions-row">
        <button type="button" className="btn" disabled={busy} onClick={() => void reRegister()}>
          {busy ? t('common.wait') : t('bots.webhook_reregister')}
        </button>
        <button type="button" className="btn ghost" disabled={health.loading} onClick={() => void health.reload()}>
          {t('common.refresh')}
        </button>
      </div>
    </section>
  );
}

function ReplaceToken({ bot, onReplaced }: { bot: Bot; onReplaced: (b: Bot) => void }) {
  const { t } = useI18n();
  const api = useApi();
  const [token, setToken] = useState('');
  const [done, setDone] = useState<Bot | null>(null);
  const form = useForm(['token']);
  const onSubmit = async (e: React.FormEvent) => {
    e.preventDefault();
    setDone(null);
    await form.submit(
      () => collect([['token', tokenError(t, token)]]),
      async () => {
        const b = await api.replaceToken(bot.id, token.trim());
        setToken('');
        setDone(b);
        onReplaced(b);
      },
    );
  };
  return (
    <section className="card">
      <h2>{t('bots.replace_token')}</h2>
      <p className="muted">{t('bots.replace_lead')}</p>
      <form onSubmit={onSubmit} noValidate>
        <FormAlert messages={form.general} />
        <Field label={t('bots.new_token')} name="token" autoComplete="off" spellCheck={false} value={token} onChange={(e) => setToken(e.target.value)} error={form.errors.token} />
        <button className="btn primary" type="submit" disabled={form.busy}>
          {form.busy ? t('bots.checking') : t('bots.replace_submit')}
        </button>
      </form>
      {done && (
        <div className="alert ok" role="status">
          {t('bots.replaced', { name: done.name, username: done.username })}
        </div>
      )}
    </section>
  );
}
