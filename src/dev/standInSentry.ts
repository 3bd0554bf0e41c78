// A stand-in for Sentry's web app in the demo: verifies the gateway's assertion against its JWKS and shows who it sees.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

/** A person's membership as Sentry holds it (the demo reads it from its Sentry API). */
export interface StandInMembership {
  orgRole: string;
  pending: boolean;
  effectiveTeamRoles: Record<string, string>;
}

export interface StandInSentry {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface StandInOptions {
  jwksUrl: string;
  issuer: string;
  audience: string;
  header: string;
  /** The organization whose membership `membership` reports. */
  organization?: string;
  /** The signed-in person's membership in Sentry, by the assertion's email; shown beside the claims. */
  membership?: (email: string) => StandInMembership | undefined;
}

const TEAM_ROLE_NAMES: Record<string, string> = { contributor: 'Contributor', admin: 'Team Admin' };

function membershipHtml(o: StandInOptions, claims: JWTPayload): string {
  if (!o.membership) return '';
  const email = typeof claims.email === 'string' ? claims.email : '';
  const m = o.membership(email);
  if (!m) return `<section id="membership"><h2>In Sentry</h2><p>Not a member of <code>${esc(o.organization)}</code> (yet).</p></section>`;
  const teams = Object.entries(m.effectiveTeamRoles).sort(([a], [b]) => a.localeCompare(b));
  return `<section id="membership"><h2>In Sentry</h2>
<p>Organization <code>${esc(o.organization)}</code>: role <strong id="org-role">${esc(m.orgRole)}</strong>${m.pending ? ' (invite pending)' : ''}</p>
<table><thead><tr><th>team</th><th>role</th></tr></thead><tbody>${teams.map(([slug, role]) => `<tr><td><code>#${esc(slug)}</code></td><td>${esc(TEAM_ROLE_NAMES[role] ?? role)}</td></tr>`).join('') || '<tr><td colspan="2">no teams</td></tr>'}</tbody></table>
<p class="note">As the fake Sentry API holds it: the gateway provisioned it from AD groups at sign-in.</p></section>`;
}

export async function startStandInSentry(o: StandInOptions): Promise<StandInSentry> {
  const jwks = createRemoteJWKSet(new URL(o.jwksUrl), { cooldownDuration: 1000 });
  const server = createServer((req, res) => {
    void (async () => {
      const path = req.url ?? '/';
      if (/^\/api\/[1-9][0-9]*\//.test(path) || path.startsWith('/api/store/')) {
        req.resume();
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ id: crypto.randomUUID().replace(/-/g, '') }));
        return;
      }
      const token = req.headers[o.header.toLowerCase()];
      let claims: JWTPayload | undefined;
      let problem = 'no assertion header: this request did not come through the gateway with a session';
      if (typeof token === 'string') {
        try {
          claims = (await jwtVerify(token, jwks, { issuer: o.issuer, audience: o.audience, clockTolerance: 30 })).payload;
        } catch (e) {
          problem = `assertion rejected: ${(e as Error).message}`;
        }
      }
      const accept = req.headers.accept ?? '';
      if (!accept.includes('text/html')) {
        res.setHeader('Content-Type', 'application/json');
        const membership = claims && o.membership && typeof claims.email === 'string' ? (o.membership(claims.email) ?? null) : undefined;
        res.end(JSON.stringify(claims ? { user: claims, ...(membership !== undefined ? { membership } : {}) } : { error: problem }));
        return;
      }
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Stand-in Sentry</title>
<style>body{font:16px/1.5 system-ui,"WenQuanYi Micro Hei",sans-serif;max-width:720px;margin:40px auto;padding:0 16px}code,pre{background:#f4f2f7;padding:2px 4px;border-radius:4px}pre{padding:12px;overflow:auto}table{border-collapse:collapse}th,td{text-align:left;padding:4px 12px 4px 0;border-bottom:1px solid #e0dce6}.note{color:#555;font-size:14px}</style></head><body>
<h1>Stand-in Sentry</h1>
${claims ? `<p id="who">Signed in as <strong>${esc(claims.name)}</strong> (<code>${esc(claims.preferred_username)}</code>, ${esc(claims.email)}).</p>${membershipHtml(o, claims)}<h2>Verified assertion claims</h2><pre>${esc(JSON.stringify(claims, null, 2))}</pre>` : `<p id="who">${esc(problem)}</p>`}
<p>Path: <code>${esc(path)}</code></p>
<p><a href="/_gateway/me">/_gateway/me</a> · <a href="/_gateway/admin/">Admin console</a> · <a href="/_gateway/logout">Sign out</a></p></body></html>`);
    })().catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, close: () => new Promise((r) => server.close(() => r())) };
}
