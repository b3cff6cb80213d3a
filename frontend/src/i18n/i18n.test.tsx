import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { detectLang, format, I18nProvider, LANG_KEY, LangSwitch, useI18n } from './i18n';
import { en, ru } from './messages';

function Probe() {
  const { t } = useI18n();
  return <p>{t('auth.login.title')}</p>;
}

describe('i18n', () => {
  it('picks the saved language, else the browser language, else English', () => {
    expect(detectLang('ru', ['en-US'])).toBe('ru');
    expect(detectLang(null, ['ru-RU', 'en'])).toBe('ru');
    expect(detectLang(null, ['de-DE', 'en-GB'])).toBe('en');
    expect(detectLang(null, ['de-DE'])).toBe('en');
    expect(detectLang('fr', [])).toBe('en');
  });

  it('has the same keys in both dictionaries, none empty, same placeholders', () => {
    expect(Object.keys(ru).sort()).toEqual(Object.keys(en).sort());
    for (const k of Object.keys(en) as (keyof typeof en)[]) {
      expect(ru[k].trim(), k).not.toBe('');
      const vars = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
      expect(vars(ru[k]), k).toEqual(vars(en[k]));
    }
  });

  it('fills placeholders', () => {
    expect(format('Try again in {n} s.', { n: 5 })).toBe('Try again in 5 s.');
  });

  it('switches language and remembers it', () => {
    render(
      <I18nProvider initial="en">
        <Probe />
        <LangSwitch />
      </I18nProvider>,
    );
    expect(screen.getByText('Log in')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'RU' }));
    expect(screen.getByText('Вход')).toBeTruthy();
    expect(localStorage.getItem(LANG_KEY)).toBe('ru');
    expect(document.documentElement.lang).toBe('ru');
  });
});
