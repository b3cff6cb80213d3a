// Routes. Later areas (support inbox, CRM, campaigns) add a lazy page here,
// a row in auth/nav.ts and messages in i18n/messages.ts.
import { Navigate, Route, Routes } from 'react-router-dom';
import { RequireAuth, RequireRole } from './auth/guards';
import { homeFor } from './auth/nav';
import { useSession } from './auth/session';
import { Layout } from './components/Layout';
import { AccountPage } from './pages/Account';
import { AcceptInvitePage } from './pages/AcceptInvite';
import { BotDetailPage } from './pages/BotDetail';
import { BotsPage } from './pages/Bots';
import { HomePage } from './pages/Home';
import { LoginPage } from './pages/Login';
import { NotFound } from './pages/NotFound';
import { OperatorPage } from './pages/Operator';
import { QueuesPage } from './pages/ops/Queues';
import { TasksPage } from './pages/ops/Tasks';
import { UsagePage } from './pages/ops/Usage';
import { WebhooksPage } from './pages/ops/Webhooks';
import { ResetConfirmPage, ResetRequestPage } from './pages/PasswordReset';
import { SettingsPage } from './pages/Settings';
import { SignupPage } from './pages/Signup';
import { TeamPage } from './pages/Team';
import { TextsPage } from './pages/Texts';
import { CannedPage } from './pages/support/Canned';
import { InboxPage } from './pages/support/Inbox';
import { MetricsPage } from './pages/support/Metrics';
import { RoutingPage } from './pages/support/Routing';
import { StaffGroupsPage } from './pages/support/StaffGroups';
import { TicketPage } from './pages/support/Ticket';

function Home() {
  const { user } = useSession();
  if (user?.role === 'operator') return <Navigate to={homeFor('operator')} replace />;
  return <HomePage />;
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/signup" element={<SignupPage />} />
      <Route path="/invite/:token" element={<AcceptInvitePage />} />
      <Route path="/reset-password" element={<ResetRequestPage />} />
      <Route path="/reset-password/:token" element={<ResetConfirmPage />} />
      <Route
        element={
          <RequireAuth>
            <Layout />
          </RequireAuth>
        }
      >
        <Route index element={<Home />} />
        <Route path="inbox" element={<RequireRole need="agent"><InboxPage /></RequireRole>} />
        <Route path="inbox/:id" element={<RequireRole need="agent"><TicketPage /></RequireRole>} />
        <Route path="support/canned" element={<RequireRole need="agent"><CannedPage /></RequireRole>} />
        <Route path="support/staff-groups" element={<RequireRole need="admin"><StaffGroupsPage /></RequireRole>} />
        <Route path="support/routing" element={<RequireRole need="admin"><RoutingPage /></RequireRole>} />
        <Route path="support/metrics" element={<RequireRole need="admin"><MetricsPage /></RequireRole>} />
        <Route path="team" element={<RequireRole need="agent"><TeamPage /></RequireRole>} />
        <Route path="bots" element={<RequireRole need="admin"><BotsPage /></RequireRole>} />
        <Route path="bots/:id" element={<RequireRole need="admin"><BotDetailPage /></RequireRole>} />
        <Route path="settings" element={<RequireRole need="admin"><SettingsPage /></RequireRole>} />
        <Route path="settings/texts" element={<RequireRole need="admin"><TextsPage /></RequireRole>} />
        <Route path="operator" element={<RequireRole need="operator"><OperatorPage /></RequireRole>} />
        <Route path="operator/queues" element={<RequireRole need="operator"><QueuesPage /></RequireRole>} />
        <Route path="operator/queues/:queue" element={<RequireRole need="operator"><TasksPage /></RequireRole>} />
        <Route path="operator/bots" element={<RequireRole need="operator"><WebhooksPage /></RequireRole>} />
        <Route path="operator/usage" element={<RequireRole need="operator"><UsagePage /></RequireRole>} />
        <Route path="account" element={<AccountPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
