// While Sentry's system.url-prefix differs from server.publicUrl, admins see it on the console's front page and
// in readiness details. Checked at most once a minute, one check in flight, never on an anonymous request.
import type { Config } from '../config/schema.js';
import type { Clock } from '../shared/clock.js';
import { checkSentryUrlPrefix, type UrlPrefixFinding } from './urlPrefix.js';

const RECHECK_MS = 60_000;

/** A url-prefix that differs from server.publicUrl; the page or command that shows it words it in its own language. */
export type UrlPrefixMismatch = Extract<UrlPrefixFinding, { status: 'mismatch' }>;

export type UrlPrefixMonitor = () => Promise<UrlPrefixMismatch | undefined>;

export interface UrlPrefixMonitorOptions {
  config: Config;
  /** The Sentry API token as the admin client reads it (sentry.tokenFile, taken up again when rotated); absent without one. */
  token?: () => string;
  clock: Clock;
}

/** One per gateway instance (the composition root builds it; tests run several in a process). */
export function urlPrefixMonitor({ config, token, clock }: UrlPrefixMonitorOptions): UrlPrefixMonitor {
  const organization = config.sentry.organization;
  if (!token || !organization) return async () => undefined;
  let last: { at: number; finding: UrlPrefixFinding } | undefined;
  let pending: Promise<UrlPrefixFinding> | undefined;
  const check = async (): Promise<UrlPrefixFinding> =>
    checkSentryUrlPrefix({ apiBase: config.sentry.url ?? config.upstream.url, organization, token: token(), publicUrl: config.server.publicUrl, timeoutMs: 3_000 });
  return async () => {
    if (!last || clock.now() - last.at > RECHECK_MS) {
      pending ??= check()
        .catch((e: unknown): UrlPrefixFinding => ({ status: 'unknown', reason: (e as Error).message }))
        .finally(() => (pending = undefined));
      const finding = await pending;
      last = { at: clock.now(), finding };
    }
    const f = last.finding;
    return f.status === 'mismatch' ? f : undefined;
  };
}
