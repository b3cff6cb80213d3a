// The authenticated frame: a top bar with the menu button on phones, a side
// navigation filtered by role, and the page.
import { useEffect, useState } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router-dom';
import { navFor } from '../auth/nav';
import { useSession } from '../auth/session';
import { LangSwitch, useI18n } from '../i18n/i18n';

export function Layout() {
  const { user, logout } = useSession();
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const loc = useLocation();
  useEffect(() => setOpen(false), [loc.pathname]);
  const items = navFor(user?.role);
  return (
    <div className={`shell${open ? ' nav-open' : ''}`}>
      <header className="topbar">
        <button
          type="button"
          className="menu-btn"
          aria-label={t('nav.menu')}
          aria-expanded={open}
          aria-controls="main-nav"
          onClick={() => setOpen((o) => !o)}
        >
          <span aria-hidden="true">☰</span>
        </button>
        <span className="brand">tgdesk</span>
        <span className="whoami" title={user?.email}>
          {user?.name || user?.email} · <span className="role">{user ? t(`role.${user.role}`) : ''}</span>
        </span>
        <LangSwitch />
        <button type="button" className="btn small ghost" onClick={() => void logout()} data-testid="logout">
          {t('auth.logout')}
        </button>
      </header>
      <nav id="main-nav" className="sidenav" aria-label={t('nav.main')}>
        <ul>
          {items.map((i) => (
            <li key={i.path}>
              <NavLink to={i.path} end>
                {t(i.label)}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}

/** The frame for pages used before logging in. */
export function PublicLayout({ children }: { children: React.ReactNode }) {
  return (
    <div className="public">
      <div className="public-top">
        <span className="brand">tgdesk</span>
        <LangSwitch />
      </div>
      <main className="card narrow">{children}</main>
    </div>
  );
}
