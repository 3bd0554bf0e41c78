// The hot path: a raw node:http handler that normalises, classifies and forwards every request
// that is not the gateway's own, without Express (see docs/design.md §13.3, "The shape of the hot path").
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../shared/logger.js';
import { AUTH_DECISION_PATH, createAuthDecisions, decisionStyle } from './authDecision.js';
import { isChunkUploadInfo } from './chunkUpload.js';
import { ANONYMOUS_CLASSES, type RouteClass } from './classifyRequest.js';
import { decideRoute, decideSession, type RequestFacts } from './decideRequest.js';
import { forward } from './forward.js';
import { watchRequestBody } from './bodyTimeout.js';
import { buildRequestHeaders } from './headers.js';
import type { NormalisedTarget } from './normalisePath.js';
import { createProxyContext, destroyContext, hasRequestBody, socketAddress } from './proxyContext.js';
import { admitUpgrade, replyInternalError } from './admitUpgrade.js';
import { authRequiredJson, redirect } from './gatewayReplies.js';
import { logRequest, requestIdOf } from './requestLog.js';
import type { SessionDeps, SessionLookup } from './resolveAssertion.js';

export type { SessionLookup, RouteClass };

export interface ProxyDeps extends SessionDeps {
  config: Config;
  logger: Logger;
  /** Express app for /_gateway/…; receives the request with an origin-form url. */
  gatewayApp(req: IncomingMessage, res: ServerResponse): void;
  /** Renders a gateway error as HTML or JSON by Accept. */
  renderError(req: IncomingMessage, res: ServerResponse, err: GatewayError): void;
  /** Called once per request when its response closes; `routeClass` is 'invalid' for refused paths. */
  onProxied?(routeClass: string, status: number, ms: number): void;
  /** The trusted client address for X-Forwarded-For; defaults to the socket peer. */
  clientAddress?(req: IncomingMessage): string;
  /** True for a socket peer covered by server.trustProxy: the only one the decision endpoint answers (nginx mode). */
  isTrustedPeer?(address: string): boolean;
}

export interface Proxy {
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

const rawPathOf = (url: string | undefined): string => (url ?? '').split('?', 1)[0]!;
const factsOf = (req: IncomingMessage): RequestFacts => ({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });

export function createProxy(deps: ProxyDeps): Proxy {
  const ctx = createProxyContext(deps.config);
  const { config } = ctx;
  const clientAddress = deps.clientAddress ?? socketAddress;
  const upgraded = new Set<Duplex>();
  // Off unless the nginx mode is configured; then it answers only the trusted proxy in front, and anyone else
  // reaches the gateway's pages, which know no such path (the same 404 as with the mode off).
  const decisions =
    config.nginx.enabled && deps.isTrustedPeer
      ? createAuthDecisions({ rules: ctx.rules, assertionHeader: config.assertion.header, isTrustedPeer: deps.isTrustedPeer, renderError: deps.renderError }, deps)
      : undefined;

  const renderError = (req: IncomingMessage, res: ServerResponse, err: GatewayError) => {
    if (res.headersSent) return void res.destroy();
    // Answering before the body is read: close instead of letting node drain a large upload.
    if (hasRequestBody(req)) res.setHeader('Connection', 'close');
    deps.renderError(req, res, err);
  };

  const headersFor = (req: IncomingMessage, route: RouteClass, requestId: string, assertion?: string, websocket = false) =>
    buildRequestHeaders(req.headers, ctx.policy, {
      clientAddress: clientAddress(req),
      anonymous: ANONYMOUS_CLASSES.has(route),
      assertion,
      requestId,
      websocket,
    });

  function send(req: IncomingMessage, res: ServerResponse, t: NormalisedTarget, route: RouteClass, requestId: string, assertion?: string): void {
    const chunkUpload = isChunkUploadInfo(req.method ?? '', t.path);
    const headers = headersFor(req, route, requestId, assertion);
    // We edit that small JSON answer, so ask for it uncompressed (and still decode if ignored).
    if (chunkUpload) headers['accept-encoding'] = 'identity';
    forward(req, res, {
      upstream: ctx.upstreamFor(route),
      target: t.target,
      headers,
      maxBodyBytes: config.upstream.maxBodyBytes,
      respond: chunkUpload ? ctx.responders.chunkUpload : ctx.responders.stream,
      fail: (err) => renderError(req, res, err),
    });
  }

  async function sendWithSession(req: IncomingMessage, res: ServerResponse, t: NormalisedTarget, requestId: string): Promise<void> {
    const decision = await decideSession(req, factsOf(req), t, deps);
    // The body may have stalled (and been answered with a 408) while the session was looked up.
    if (res.headersSent || res.destroyed) return;
    if (decision.kind === 'signIn') return decision.location === undefined ? authRequiredJson(req, res) : redirect(res, decision.location);
    if (decision.kind === 'refuse') return renderError(req, res, decision.error);
    send(req, res, t, 'session', requestId, decision.assertion);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const requestId = requestIdOf(req);
    let route = 'invalid';
    let path = rawPathOf(req.url);
    res.once('close', () => {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      const method = req.method ?? '';
      logRequest(deps.logger, { requestId, method, path, route, status: res.statusCode, ms, aborted: !res.writableFinished });
      deps.onProxied?.(route, res.statusCode, ms);
    });
    if (hasRequestBody(req)) {
      watchRequestBody(req, res, config.server.bodyTimeout, () => {
        if (res.headersSent) return void req.socket.destroy();
        renderError(req, res, new GatewayError('GW_BODY_TIMEOUT', 'request body stalled'));
      });
    }
    const decision = decideRoute(factsOf(req), ctx.rules);
    switch (decision.kind) {
      case 'refuse':
        route = decision.route;
        if (decision.target) path = decision.target.rawPath;
        return renderError(req, res, decision.error);
      case 'gateway':
        route = 'gateway';
        path = decision.target.rawPath;
        req.url = decision.target.target;
        if (decisions && decision.target.path === AUTH_DECISION_PATH && decisions.answers(req)) {
          // Counted apart from the gateway's pages: beside nginx's request count it is the decision cache's miss rate.
          route = 'decision';
          const style = decisionStyle(decision.target.query);
          if (style === undefined) return renderError(req, res, new GatewayError('GW_BAD_REQUEST', 'decision asked with an unknown query'));
          return void decisions.answer(req, res, style === 'forward' ? 'forward' : undefined);
        }
        return deps.gatewayApp(req, res);
      case 'redirect':
        route = decision.route;
        path = decision.target.rawPath;
        return redirect(res, decision.location);
      case 'forward': {
        route = decision.route;
        const t = decision.target;
        path = t.rawPath;
        if (decision.route !== 'session') return send(req, res, t, decision.route, requestId);
        return void sendWithSession(req, res, t, requestId).catch((err: unknown) =>
          renderError(req, res, new GatewayError('GW_INTERNAL', undefined, { cause: err })),
        );
      }
    }
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const started = performance.now();
    const requestId = requestIdOf(req);
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    admitUpgrade(req, socket, head, ctx, deps, (r, route, assertion, websocket) => headersFor(r, route, requestId, assertion, websocket))
      .catch(() => replyInternalError(socket))
      .then((status) => {
        const ms = Math.round((performance.now() - started) * 10) / 10;
        logRequest(deps.logger, { requestId, method: 'UPGRADE', path: rawPathOf(req.url), route: 'websocket', status, ms, aborted: false });
      });
  }

  return {
    onRequest,
    onUpgrade,
    close() {
      for (const socket of upgraded) socket.destroy();
      destroyContext(ctx);
    },
  };
}
