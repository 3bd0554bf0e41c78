// The gateway's own pages speak English and Simplified Chinese; `?lang=` overrides Accept-Language. The text is in
// one catalogue per language (messages/); this module picks the language and hands out each page's part of it.
import type { AuditFilterKind } from '../audit/auditKinds.js';
import type { ErrorCode } from '../errors.js';
import type { UrlPrefixFinding } from '../sentry/urlPrefix.js';
import { en, type Catalogue } from './messages/en.js';
import { zhCN } from './messages/zh-CN.js';

export type Lang = 'en' | 'zh-CN';
export type Messages = Catalogue['page'];
export type AccountMessages = Catalogue['account'];
export type AdminMessages = Catalogue['admin'];

const catalogues: Record<Lang, Catalogue> = { en, 'zh-CN': zhCN };

/**
 * The same page in the other language: `path?lang=…`, with `next` kept unless it is the default `/`
 * (`keepRootNext`: the re-authentication page, whose `next` is always written out).
 */
export function otherLangHref(path: string, lang: Lang, next: string, keepRootNext = false): string {
  const q = new URLSearchParams({ lang: lang === 'en' ? 'zh-CN' : 'en' });
  if (next !== '/' || keepRootNext) q.set('next', next);
  return `${path}?${q.toString()}`;
}

export function messages(lang: Lang): Messages {
  return catalogues[lang].page;
}

/** The self-service page's words (`/_gateway/account`). */
export function accountMessages(lang: Lang): AccountMessages {
  return catalogues[lang].account;
}

/** The admin console's words. */
export function adminMessages(lang: Lang): AdminMessages {
  return catalogues[lang].admin;
}

/** The name of each kind and family the console's audit filter offers. */
export function auditKindLabels(lang: Lang): Record<AuditFilterKind, string> {
  return catalogues[lang].auditKinds;
}

export function errorMessage(lang: Lang, code: ErrorCode): string {
  const errors: Partial<Record<ErrorCode, string>> = catalogues[lang].errors;
  return errors[code] ?? errors.GW_INTERNAL ?? 'Error';
}

/** What an operator reads, and does: the value Sentry has, the value it needs and where to set it. */
export function urlPrefixAdvice(f: Extract<UrlPrefixFinding, { status: 'mismatch' }>, lang: Lang = 'en'): string {
  return format(catalogues[lang].urlPrefix.mismatch, { urlPrefix: f.urlPrefix, publicUrl: f.publicUrl });
}

/** The example account name the hint is built around; an override replaces the whole hint. */
const EXAMPLE_ACCOUNT = 'alice';

/**
 * The hint under the username field: the forms this directory accepts, built from `ldap.netbiosDomain` and
 * `ldap.upnSuffixes` (`alice, ACME\\alice or alice@ad.acme.example`), unless `ui.usernameHint` sets the text
 * for this language.
 */
export function usernameHint(lang: Lang, ldap: { netbiosDomain: string; upnSuffixes: readonly string[] }, override: Partial<Record<Lang, string>> = {}): string {
  const own = override[lang]?.trim();
  if (own) return own;
  const forms = [EXAMPLE_ACCOUNT];
  if (ldap.netbiosDomain) forms.push(`${ldap.netbiosDomain}\\${EXAMPLE_ACCOUNT}`);
  if (ldap.upnSuffixes[0]) forms.push(`${EXAMPLE_ACCOUNT}@${ldap.upnSuffixes[0]}`);
  if (forms.length === 1) return forms[0]!;
  const t = catalogues[lang].page;
  return format(t.usernameHintOr, { forms: forms.slice(0, -1).join(t.usernameHintSep), last: forms.at(-1)! });
}

export function format(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

/** `?lang=` wins; otherwise the first Accept-Language entry we speak, by quality; English by default. */
export function pickLang(queryLang: unknown, acceptLanguage: string | undefined): Lang {
  if (typeof queryLang === 'string') {
    if (/^zh/i.test(queryLang)) return 'zh-CN';
    if (/^en/i.test(queryLang)) return 'en';
  }
  const prefs = (acceptLanguage ?? '')
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
      return { tag: tag.toLowerCase(), q: q ? Number(q) : 1, i };
    })
    .filter((p) => p.tag && p.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const p of prefs) {
    if (p.tag.startsWith('zh')) return 'zh-CN';
    if (p.tag.startsWith('en')) return 'en';
  }
  return 'en';
}
