// Express serves only the gateway's own pages under /_gateway/; proxied traffic never enters it (see proxy/).
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import passport from 'passport';
import { Strategy as CustomStrategy } from 'passport-custom';
import type { Deps } from './compositionRoot.js';
import { GatewayError } from './errors.js';
import { requireCsrf, type CsrfOptions } from './http/csrfMiddleware.js';
import { sendError } from './http/errorResponse.js';
import { adminStylesheet, mfaScript, stylesheet } from './http/render.js';
import { adminRouter } from './http/admin/adminRouter.js';
import { healthz, jwks, me, readyz } from './http/routes/infoRoutes.js';
import { bearerCheck, metricsHandler } from './http/routes/metricsRoute.js';
import { showLogin, submitLogin, type Credentials, type SignInOptions } from './http/routes/loginRoutes.js';
import { showLogout, submitLogout } from './http/routes/logoutRoutes.js';
import { showReauth, submitReauth } from './http/routes/reauthRoutes.js';
import { showAccount, submitAccount } from './http/routes/accountRoutes.js';
import { noSecondFactorsYet } from './auth/secondFactorGate.js';
import { showEnrol, showMfa, submitEnrolPassword, submitEnrolTotp, submitMfa, webauthnEnrolOptions, webauthnEnrolVerify, webauthnSignInOptions, webauthnSignInVerify } from './http/routes/mfaRoutes.js';
import type { Identity } from './session/identity.js';
import { gatewayCookieNames } from './shared/cookies.js';

type Handler = (req: Request, res: Response, next: NextFunction) => unknown;

/** Turns a rejected promise into next(err), so no async handler can leave a request hanging. */
const safe =
  (h: Handler): Handler =>
  (req, res, next) => {
    Promise.resolve(h(req, res, next)).catch(next);
  };

export function createGatewayApp(deps: Deps): express.Express {
  const { config } = deps;
  const publicUrl = new URL(config.server.publicUrl);
  const secure = publicUrl.protocol === 'https:';
  // `__Host-<session.cookieName>` on https, so no sibling subdomain can plant a session cookie.
  const cookies = gatewayCookieNames(config.session.cookieName, config.server.publicUrl);
  const csrf: CsrfOptions = { secrets: deps.sessionSecrets, secure, publicOrigin: publicUrl.origin };
  const app = express();
  // The sign-in page may show a logo from another origin (server.logoUrl): allow exactly that origin, nothing wider.
  const logoOrigin = /^https:/.test(config.server.logoUrl) ? [new URL(config.server.logoUrl).origin] : [];

  // Client addresses behind a load balancer come from X-Forwarded-For only when trustProxy says the hop is ours.
  app.set('trust proxy', config.server.trustProxy);
  app.disable('x-powered-by');
  // The sign-in page gets a strict CSP and framing ban; proxied Sentry responses never pass through here.
  app.use(
    helmet({
      contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], styleSrc: ["'self'"], scriptSrc: ["'self'"], connectSrc: ["'self'"], imgSrc: ["'self'", 'data:', ...logoOrigin], formAction: ["'self'"], frameAncestors: ["'none'"], baseUri: ["'none'"], upgradeInsecureRequests: secure ? [] : null } },
      strictTransportSecurity: secure,
      // With no-referrer (helmet's default) a browser sends `Origin: null` on our own form posts, which
      // are refused like any other null origin; same-origin still tells other sites nothing.
      referrerPolicy: { policy: 'same-origin' },
    }),
  );
  // Sessions are written only at sign-in and sign-out; reading them for the proxy happens in session/sessionResolver.
  const sessions = session({
    name: cookies.session,
    secret: deps.sessionSecrets,
    store: deps.store,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    unset: 'destroy',
    cookie: { httpOnly: true, secure, sameSite: 'lax', path: '/', maxAge: config.session.absoluteTimeout },
  });
  // A store that cannot be read is an outage (503), not a bug (500).
  app.use((req, res, next) =>
    sessions(req, res, (err?: unknown) => {
      // With `unset: 'destroy'` and a session that failed to load, express-session destroys it as the
      // response ends and reports that failure through next() a second time: already answered, drop it.
      if (err && res.headersSent) return;
      next(err ? new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'session store unavailable', { cause: err }) : undefined);
    }),
  );
  // One authenticator per app: passport's default instance is process-global, and tests run several gateways.
  const auth = new passport.Passport();
  // The strategy reads no form: the route hands it the credentials it read and checked (http/routes/loginRoutes.ts).
  auth.use(
    'ad-password',
    new CustomStrategy({ passOptionsToCallback: true }, (req, options: Partial<SignInOptions>, done) => {
      const credentials = options.credentials;
      if (!credentials) return done(new GatewayError('GW_BAD_REQUEST'));
      deps.login.login(credentials.username, credentials.password, deps.addressOf(req)).then(
        (identity) => done(null, identity),
        (err: unknown) => done(err),
      );
    }),
  );
  const signInOptions = (credentials: Credentials): SignInOptions => ({ credentials });
  auth.serializeUser((identity, done) => done(null, identity as Identity));
  app.use(auth.initialize());
  const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 20 });

  // The route table: every gateway route and its pipeline.
  app.get('/_gateway/static/gateway.css', (_req, res) => void res.type('css').setHeader('Cache-Control', 'public, max-age=3600').send(stylesheet()));
  app.get('/_gateway/login', safe(showLogin(deps, csrf)));
  app.post('/_gateway/login', form, requireCsrf(csrf, { preSession: true }), submitLogin(deps, csrf, (credentials, done) => auth.authenticate('ad-password', signInOptions(credentials), done) as RequestHandler));
  // The signed-in person types their AD password again (Sentry's sudo prompt links here): a new session id, a fresh auth_time.
  app.get('/_gateway/reauth', safe(showReauth(deps, csrf)));
  app.post('/_gateway/reauth', form, requireCsrf(csrf), safe(submitReauth(deps, csrf, deps.secondFactorGate ?? noSecondFactorsYet)));
  // The second factor after the password, and adding one (the first at sign-in, or another from the account page).
  const json = express.json({ limit: '64kb' });
  app.get('/_gateway/static/mfa.js', (_req, res) => void res.type('application/javascript').setHeader('Cache-Control', 'public, max-age=3600').send(mfaScript()));
  app.get('/_gateway/mfa', safe(showMfa(deps, csrf)));
  app.post('/_gateway/mfa', form, requireCsrf(csrf), safe(submitMfa(deps, csrf)));
  app.post('/_gateway/mfa/webauthn/options', json, requireCsrf(csrf), safe(webauthnSignInOptions(deps)));
  app.post('/_gateway/mfa/webauthn/verify', json, requireCsrf(csrf), safe(webauthnSignInVerify(deps)));
  app.get('/_gateway/mfa/enrol', safe(showEnrol(deps, csrf, secure)));
  app.post('/_gateway/mfa/enrol/password', form, requireCsrf(csrf), safe(submitEnrolPassword(deps, csrf)));
  app.post('/_gateway/mfa/enrol/totp', form, requireCsrf(csrf), safe(submitEnrolTotp(deps, csrf)));
  app.post('/_gateway/mfa/enrol/webauthn/options', json, requireCsrf(csrf), safe(webauthnEnrolOptions(deps)));
  app.post('/_gateway/mfa/enrol/webauthn/verify', json, requireCsrf(csrf), safe(webauthnEnrolVerify(deps)));
  app.get('/_gateway/logout', showLogout(deps, csrf));
  app.post('/_gateway/logout', form, requireCsrf(csrf), safe(submitLogout(deps, secure)));
  app.get('/_gateway/me', safe(me(deps)));
  app.get('/_gateway/healthz', healthz);
  app.get('/_gateway/readyz', safe(readyz(deps)));
  app.get('/_gateway/jwks.json', jwks(deps));
  app.get('/_gateway/static/admin.css', (_req, res) => void res.type('css').setHeader('Cache-Control', 'public, max-age=3600').send(adminStylesheet()));
  // The signed-in person's own second factors (list, rename, remove, recovery codes).
  app.get('/_gateway/account', safe(showAccount(deps, csrf)));
  app.post('/_gateway/account', form, requireCsrf(csrf), safe(submitAccount(deps, csrf)));
  // The admin console: its own route table, every route admin-only (http/admin/adminRouter.ts).
  app.use('/_gateway/admin', adminRouter(deps, csrf));
  // With server.metricsListen set, metrics live only on that listener; on the public port they need the bearer
  // token from server.metricsTokenFile. Otherwise this path falls through to 404.
  if (!config.server.metricsListen && config.server.metricsTokenFile) app.get('/_gateway/metrics', metricsHandler(deps.metrics, bearerCheck(config.server.metricsTokenFile)));
  app.use('/_gateway', (_req, _res, next) => next(new GatewayError('GW_NOT_FOUND')));

  // Anything that escaped a handler becomes a generic error; only GatewayErrors say more than "something went wrong".
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    let out = err;
    if (e.type === 'entity.too.large') out = new GatewayError('GW_PAYLOAD_TOO_LARGE');
    // body-parser's own 4xx (a bad body, an unsupported charset or encoding: 415) are the client's fault, not a 500.
    else if (e.type && e.status !== undefined && e.status >= 400 && e.status < 500) out = new GatewayError('GW_BAD_REQUEST');
    if (!(out instanceof GatewayError) || out.status >= 500) deps.logger.error({ err: (err as Error).message, code: (out as GatewayError).code }, 'gateway page error');
    sendError(req, res, out, res.getHeader('X-Request-Id') as string | undefined);
  });
  return app;
}
