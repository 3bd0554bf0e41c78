// The hot path: a raw node:http handler that normalises, classifies and forwards every request
// that is not the gateway's own, without Express (see docs/design.md §13.3, "The shape of the hot path").
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/schema.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../shared/logger.js';
import { isChunkUploadInfo } from './chunkUpload.js';
import { ANONYMOUS_CLASSES, classifyRequest, type RouteClass } from './classifyRequest.js';
import { forward } from './forward.js';
import { watchRequestBody } from './bodyTimeout.js';
import { buildRequestHeaders, connectionNamesDecidedHeader } from './headers.js';
import { normalisePath, type NormalisedTarget } from './normalisePath.js';
import { createProxyContext, destroyContext, hasRequestBody, socketAddress } from './proxyContext.js';
import { admitUpgrade, replyInternalError } from './admitUpgrade.js';
import { authRequired, LOGOUT_PATH, loginUrlFromQuery, redirect } from './gatewayReplies.js';
import { logRequest, requestIdOf } from './requestLog.js';
import { resolveAssertion, type SessionDeps, type SessionLookup } from './resolveAssertion.js';

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
}

export interface Proxy {
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
}

const rawPathOf = (url: string | undefined): string => (url ?? '').split('?', 1)[0]!;

export function createProxy(deps: ProxyDeps): Proxy {
  const ctx = createProxyContext(deps.config);
  const { config } = ctx;
  const clientAddress = deps.clientAddress ?? socketAddress;
  const upgraded = new Set<Duplex>();

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
    const outcome = await resolveAssertion(req, deps);
    // The body may have stalled (and been answered with a 408) while the session was looked up.
    if (res.headersSent || res.destroyed) return;
    if (outcome.kind === 'none') return authRequired(req, res, t.target, outcome.secondFactor === true);
    if (outcome.kind === 'error') return renderError(req, res, outcome.error);
    send(req, res, t, 'session', requestId, outcome.assertion);
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
    let t: NormalisedTarget;
    try {
      t = normalisePath(req.url ?? '', ctx.allowedHosts);
    } catch (err) {
      return renderError(req, res, isGatewayError(err) ? err : new GatewayError('GW_BAD_PATH'));
    }
    path = t.rawPath;
    // Classification reads the headers as received, so they must be the ones forwarded: nothing it
    // (or the session lookup, or framing) reads may be dropped later as hop-by-hop.
    if (connectionNamesDecidedHeader(req.headers.connection, ctx.policy.assertionHeader) !== undefined) {
      return renderError(req, res, new GatewayError('GW_BAD_CONNECTION_HEADER'));
    }
    const cls = classifyRequest({ path: t.path, authorization: req.headers.authorization }, config.bypass);
    route = cls;
    switch (cls) {
      case 'gateway':
        req.url = t.target;
        return deps.gatewayApp(req, res);
      case 'redirectLogin':
        return redirect(res, loginUrlFromQuery(t.query));
      case 'redirectLogout':
        return redirect(res, LOGOUT_PATH);
      case 'internalOnly':
        return renderError(req, res, new GatewayError('GW_NOT_FOUND'));
      case 'session':
        return void sendWithSession(req, res, t, requestId).catch((err: unknown) =>
          renderError(req, res, new GatewayError('GW_INTERNAL', undefined, { cause: err })),
        );
      default:
        return send(req, res, t, cls, requestId);
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
