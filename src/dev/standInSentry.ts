// A stand-in for Sentry's web app in the demo: verifies the gateway's assertion against its JWKS and shows who it sees.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

export interface StandInSentry {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startStandInSentry(o: { jwksUrl: string; issuer: string; audience: string; header: string }): Promise<StandInSentry> {
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
        res.end(JSON.stringify(claims ? { user: claims } : { error: problem }));
        return;
      }
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Stand-in Sentry</title>
<style>body{font:16px/1.5 system-ui,"WenQuanYi Micro Hei",sans-serif;max-width:720px;margin:40px auto;padding:0 16px}code,pre{background:#f4f2f7;padding:2px 4px;border-radius:4px}pre{padding:12px;overflow:auto}</style></head><body>
<h1>Stand-in Sentry</h1>
${claims ? `<p id="who">Signed in as <strong>${esc(claims.name)}</strong> (<code>${esc(claims.preferred_username)}</code>, ${esc(claims.email)}).</p><p>Verified assertion claims:</p><pre>${esc(JSON.stringify(claims, null, 2))}</pre>` : `<p id="who">${esc(problem)}</p>`}
<p>Path: <code>${esc(path)}</code></p>
<p><a href="/_gateway/me">/_gateway/me</a> · <a href="/_gateway/logout">Sign out</a></p></body></html>`);
    })().catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, close: () => new Promise((r) => server.close(() => r())) };
}
