// While Sentry's system.url-prefix differs from server.publicUrl, admins see it on the console's front page and
// in readiness details. Checked at most once a minute, one check in flight, never on an anonymous request.
import { readFileSync } from 'node:fs';
import type { Deps } from '../deps.js';
import { checkSentryUrlPrefix, type UrlPrefixFinding } from '../sentry/urlPrefix.js';
import { urlPrefixAdvice, type Lang } from './i18n.js';

const RECHECK_MS = 60_000;

export interface UrlPrefixWarning {
  code: 'sentry_url_prefix';
  message: string;
}

export type UrlPrefixMonitor = (lang?: Lang) => Promise<UrlPrefixWarning | undefined>;

const monitors = new WeakMap<Deps, UrlPrefixMonitor>();

/** One monitor per gateway instance (tests run several in a process). */
export function urlPrefixMonitorFor(deps: Deps): UrlPrefixMonitor {
  let m = monitors.get(deps);
  if (!m) monitors.set(deps, (m = createMonitor(deps)));
  return m;
}

function createMonitor(deps: Deps): UrlPrefixMonitor {
  const { config } = deps;
  const tokenFile = config.sentry.tokenFile;
  if (!tokenFile || !config.sentry.organization) return async () => undefined;
  let last: { at: number; finding: UrlPrefixFinding } | undefined;
  let pending: Promise<UrlPrefixFinding> | undefined;
  const check = async (): Promise<UrlPrefixFinding> => {
    const token = readFileSync(tokenFile, 'utf8').split(/\r?\n/)[0]!.trim();
    return checkSentryUrlPrefix({ apiBase: config.sentry.url ?? config.upstream.url, organization: config.sentry.organization, token, publicUrl: config.server.publicUrl, timeoutMs: 3_000 });
  };
  return async (lang = 'en') => {
    if (!last || Date.now() - last.at > RECHECK_MS) {
      pending ??= check()
        .catch((e: unknown): UrlPrefixFinding => ({ status: 'unknown', reason: (e as Error).message }))
        .finally(() => (pending = undefined));
      const finding = await pending;
      last = { at: Date.now(), finding };
    }
    const f = last.finding;
    return f.status === 'mismatch' ? { code: 'sentry_url_prefix', message: urlPrefixAdvice(f, lang) } : undefined;
  };
}
