// Renders server-side pages from views/: templates get view models only, never config objects or secrets.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Mustache from 'mustache';
import { accountMessages, adminMessages, messages, type Lang } from './i18n.js';
import { escapeControlsKeepLines } from '../shared/terminalText.js';

/** HTML-escaped as mustache does, and controls (C0, C1, bidi overrides) shown as `\u00XX` escapes. */
const escape = (value: unknown) => Mustache.escape(escapeControlsKeepLines(String(value)));

const VIEWS = fileURLToPath(new URL('../../views/', import.meta.url));
const cache = new Map<string, string>();

function template(name: string): string {
  let t = cache.get(name);
  if (t === undefined) {
    t = readFileSync(`${VIEWS}${name}`, 'utf8');
    cache.set(name, t);
  }
  return t;
}

export function stylesheet(): string {
  return template('gateway.css');
}

export interface PageModel {
  lang: Lang;
  title: string;
  /** Link to the same page in the other language, if it makes sense to offer one. */
  otherLangHref?: string;
  [key: string]: unknown;
}

export function adminStylesheet(): string {
  return template('admin/admin.css');
}

export type AdminView = 'mappings' | 'rule' | 'history' | 'explain' | 'sync' | 'syncRun' | 'audit' | 'sessions' | 'mfa';

/** Console pages: the admin layout (navigation, who is signed in) around `views/admin/<view>.mustache`. */
export function renderAdminPage(view: AdminView, model: PageModel): string {
  const t = messages(model.lang);
  const otherLangCode = model.lang === 'en' ? 'zh-CN' : 'en';
  return Mustache.render(template('admin/layout.mustache'), { ...model, t, a: adminMessages(model.lang), otherLangCode }, { body: template(`admin/${view}.mustache`) }, { escape });
}

/** The second-factor pages' one script (WebAuthn), served from our own origin so the CSP needs no inline script. */
export function mfaScript(): string {
  return template('mfa.js');
}

export function renderPage(view: 'login' | 'reauth' | 'message' | 'mfa' | 'mfaEnrol' | 'mfaDone', model: PageModel): string {
  const t = messages(model.lang);
  const otherLangCode = model.lang === 'en' ? 'zh-CN' : 'en';
  return Mustache.render(template('layout.mustache'), { ...model, t, otherLangCode }, { body: template(`${view}.mustache`) }, { escape });
}

/** The self-service page: the console's look (its stylesheet, a bar with who is signed in) without its navigation. */
export function renderAccountPage(model: PageModel): string {
  const t = messages(model.lang);
  const otherLangCode = model.lang === 'en' ? 'zh-CN' : 'en';
  return Mustache.render(template('accountLayout.mustache'), { ...model, t, m: accountMessages(model.lang), otherLangCode }, { body: template('account.mustache') }, { escape });
}
