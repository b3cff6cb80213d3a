import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter } from 'react-router-dom';
import type { ApiClient } from '../api/client';
import { SessionProvider } from '../auth/session';
import { I18nProvider, type Lang } from '../i18n/i18n';

export function renderWith(ui: ReactElement, { client, path = '/', lang = 'en' }: { client: ApiClient; path?: string; lang?: Lang }) {
  return render(
    <I18nProvider initial={lang}>
      <SessionProvider client={client}>
        <MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter>
      </SessionProvider>
    </I18nProvider>,
  );
}
