// The console's team check before a rule is saved: every team a rule names exists in Sentry, or is created now on
// the admin's say-so, so a typo never silently becomes a team.
import type { Logger } from 'pino';
import type { SentryAdmin } from '../sentry/sentryAdmin.js';

export type TeamCheck =
  | { status: 'ok'; created: string[] }
  /** Teams Sentry does not have, and the admin did not ask to create. */
  | { status: 'missing'; slugs: string[] }
  /** Sentry refused to create `slug`; the teams before it in `created` were made. */
  | { status: 'failed'; slug: string; error: string; created: string[] };

export class SentryTeams {
  constructor(
    private readonly sentry: SentryAdmin | undefined,
    private readonly logger: Logger,
  ) {}

  /** Sentry's team slugs, sorted; empty without a Sentry configured, null when Sentry cannot be asked. */
  async list(): Promise<string[] | null> {
    if (!this.sentry) return [];
    try {
      return (await this.sentry.listTeamSlugs()).sort();
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'console: Sentry teams not listed');
      return null;
    }
  }

  /**
   * Asks Sentry afresh (not from a cache: another admin may have just made or removed a team). An unreadable list
   * lets the save go ahead, as provisioning creates a managed team it finds missing.
   */
  async ensure(slugs: readonly string[], opts: { create: boolean }): Promise<TeamCheck> {
    const known = await this.list();
    if (!this.sentry || !known) return { status: 'ok', created: [] };
    const missing = [...new Set(slugs.filter((s) => s && !known.includes(s)))];
    if (missing.length && !opts.create) return { status: 'missing', slugs: missing };
    const created: string[] = [];
    for (const slug of missing) {
      try {
        await this.sentry.createTeam(slug);
        created.push(slug);
      } catch (e) {
        return { status: 'failed', slug, error: (e as Error).message, created };
      }
    }
    return { status: 'ok', created };
  }
}
