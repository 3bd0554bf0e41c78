// The nginx configuration of the nginx mode (docs/nginx-mode.md), generated from the gateway's own config so paths,
// cookie names and the assertion header never drift: nginx carries every byte, and asks GET /_gateway/auth (the
// proxy's own decision, proxy/decideRequest.ts) before anything but ingestion reaches Sentry. Pure: the tests
// run real nginx on its output.
import type { Config } from '../config/schema.js';
import { gatewayCookieNames } from '../shared/cookies.js';
import { splitListen } from '../shared/splitListen.js';
import { ANSWER_HEADERS, AUTH_DECISION_PATH, FORWARD_STYLE_QUERY, FORWARDED_ORIGINAL, ORIGINAL_HEADERS } from '../proxy/authDecision.js';
import { AUTH_REQUIRED_JSON } from '../proxy/gatewayReplies.js';
import { DECIDED_ON, IDENTITY_HEADERS } from '../proxy/headers.js';

/** Where nginx reaches the gateway: nginx.gatewayUrl, else server.listen with a wildcard address made loopback. */
export function gatewayUrlOf(config: Config): string {
  if (config.nginx.gatewayUrl) return config.nginx.gatewayUrl.replace(/\/+$/, '');
  const { host, port } = splitListen(config.server.listen);
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/** host:port of an http(s) URL for an nginx `server` line, and whether it is https. */
export function serverOf(url: string): { server: string; https: boolean } {
  const u = new URL(url);
  const https = u.protocol === 'https:';
  return { server: `${u.hostname}:${u.port || (https ? '443' : '80')}`, https };
}

/** nginx's variable for a response header of the upstream: lower case, '-' as '_'. */
const upstreamVar = (header: string) => `$upstream_http_${header.toLowerCase().replace(/-/g, '_')}`;

/** A quoted nginx string: no quote, backslash, `$` or control ever comes from config here, but refuse them anyway. */
function q(s: string): string {
  if (/["\\$\x00-\x1f\x7f;{}]/.test(s)) throw new Error(`cannot put ${JSON.stringify(s)} into an nginx string`);
  return `"${s}"`;
}

// Cookie names are letters, digits, '_' and '-' (schema.ts): nothing in them is special to a regex.
const literal = (s: string) => {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) throw new Error(`cannot match cookie name ${JSON.stringify(s)} literally`);
  return s;
};

// One path segment of a raw ingestion target: unreserved characters only, never a leading dot (no dot segments),
// never empty (no //), never a percent (nothing decodes differently between nginx, Relay and the gateway).
const SEG = '[A-Za-z0-9_~-][A-Za-z0-9._~-]*';
const BELOW = `(?:/(?:${SEG}/)*(?:${SEG})?)?`;
/** The ingestion classes of classifyRequest, on nginx's normalised $uri. */
const INGESTION_URI = '^(?:/api/store/|/_health/|/api/[1-9][0-9]*/.*|/api/embed/error-page(?:/.*)?|/js-sdk-loader(?:/.*)?)$';
/** The same on the raw $request_uri, with nothing that normalises differently. */
export const INGESTION_RAW = `^(?:/api/store/|/_health/|/api/[1-9][0-9]*/(?:${SEG}/)*(?:${SEG})?|/api/embed/error-page${BELOW}|/js-sdk-loader${BELOW})(?:[?].*)?$`;

// Headers that name other forwarded facts than ours, cleared on every route (nginx cannot drop headers by prefix, so
// the forwarded-identity families other proxies set are listed by name; underscore spellings never pass: underscores_in_headers off).
export const FORWARDED_FAMILY = [
  'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-server', 'x-forwarded-uri', 'x-forwarded-method', 'x-forwarded-ssl',
  'x-forwarded-email', 'x-forwarded-groups', 'x-forwarded-preferred-username', 'x-forwarded-access-token',
  'x-auth-request-user', 'x-auth-request-email', 'x-auth-request-groups', 'x-auth-request-preferred-username', 'x-auth-request-access-token', 'x-auth-request-redirect',
];

export interface NginxConfigOptions {
  /** The config file it was generated from, named in the header comment. */
  source?: string;
}

export function nginxConfig(config: Config, opts: NginxConfigOptions = {}): string {
  const publicUrl = new URL(config.server.publicUrl);
  const publicHost = publicUrl.host;
  const publicProto = publicUrl.protocol.slice(0, -1);
  const assertion = config.assertion.header;
  const cookies = gatewayCookieNames(config.session.cookieName, config.server.publicUrl);
  const web = serverOf(config.upstream.url);
  const relay = config.upstream.ingestUrl ? serverOf(config.upstream.ingestUrl) : undefined;
  const gateway = serverOf(gatewayUrlOf(config));
  const out: string[] = [];
  const line = (s = '') => out.push(s);

  // Every header a client could use to claim an identity, an address or another URL: never from the client.
  const clearClientClaims = (indent: string, { assertionToo = true, originalToo = true } = {}) => {
    for (const h of [...IDENTITY_HEADERS, ...FORWARDED_FAMILY]) line(`${indent}proxy_set_header ${h} "";`);
    if (assertionToo) line(`${indent}proxy_set_header ${assertion} "";`);
    if (originalToo) for (const h of Object.values(ORIGINAL_HEADERS)) line(`${indent}proxy_set_header ${h} "";`);
  };
  // What both asks of the gateway (the decision, and the refusal page's re-ask) send: a bodiless GET whose own hop
  // headers are empty, no client claim, the public host and the client address; and how long they wait.
  const askGateway = () => {
    line('        proxy_method GET;');
    line('        proxy_pass_request_body off;');
    line('        proxy_set_header Content-Length "";');
    line('        proxy_set_header Connection "";');
    line('        proxy_set_header Upgrade "";');
    clearClientClaims('        ', { originalToo: false });
    line(`        proxy_set_header Host ${q(publicHost)};`);
    line('        proxy_set_header X-Forwarded-For $remote_addr;');
  };
  const askTimeouts = () => {
    line('        proxy_connect_timeout 5s;');
    line('        proxy_send_timeout 15s;');
    line('        proxy_read_timeout 15s;');
  };
  const scheme = (u: { https: boolean }) => (u.https ? 'https' : 'http');
  const forwarded = (indent: string) => {
    line(`${indent}proxy_set_header Host ${q(publicHost)};`);
    line(`${indent}proxy_set_header X-Forwarded-For $remote_addr;`);
    line(`${indent}proxy_set_header X-Forwarded-Proto ${publicProto};`);
    line(`${indent}proxy_set_header X-Forwarded-Host ${q(publicHost)};`);
    line(`${indent}proxy_set_header X-Request-Id $request_id;`);
  };

  line(`# Generated by \`sentry-ad-gateway nginx-config\`${opts.source ? ` from ${opts.source}` : ''}: regenerate it after changing`);
  line('# the gateway\'s config, never edit it by hand (docs/nginx-mode.md). Include it in nginx\'s http { } block.');
  line();
  line('# The gateway\'s own cookies never reach Sentry: each map removes one of them from the Cookie header, spaces');
  line('# before its = included (the gateway reads `name =value` as name).');
  let cookieVar = '$http_cookie';
  cookies.own.forEach((name, i) => {
    const next = `$sag_cookie_${i + 1}`;
    line(`map ${cookieVar} ${next} {`);
    line(`    "~^(?<sag_c${i}a>(?:.*;)?)[ \\t]*${literal(name)}[ \\t]*=[^;]*;?[ \\t]*(?<sag_c${i}b>.*)$" "$sag_c${i}a$sag_c${i}b";`);
    line(`    default ${cookieVar};`);
    line('}');
    cookieVar = next;
  });
  line('# Still one left (a cookie sent twice): the request is refused rather than passed on.');
  line(`map ${cookieVar} $sag_cookie_left {`);
  line(`    "~(?:^|;)[ \\t]*(?:${cookies.own.map(literal).join('|')})[ \\t]*=" 1;`);
  line('    default 0;');
  line('}');
  line('# Only a request the gateway decided is a signed-in one keeps its (other) cookies.');
  line(`map $sag_route $sag_cookie_forward {`);
  line('    volatile;');
  line(`    session ${cookieVar};`);
  line('    default "";');
  line('}');
  const cacheSeconds = Math.floor(config.nginx.decisionCache / 1000);
  if (cacheSeconds > 0) {
    line('# The session cookie\'s value, read by hand: $cookie___Host-… would read a cookie named __Host.');
    line('map $http_cookie $sag_session_value {');
    line(`    "~(?:^|;)[ \\t]*${literal(cookies.session)}[ \\t]*=(?<sag_sv>[^;]*)" $sag_sv;`);
    line('    default "";');
    line('}');
    line('# No session cookie: never cached, never served from the cache (no empty key, no shared entry).');
    line('map $sag_session_value $sag_no_cache {');
    line('    "" 1;');
    line('    default 0;');
    line('}');
    line(`proxy_cache_path ${config.nginx.cacheDir} levels=1:2 keys_zone=sag_decisions:10m max_size=64m inactive=${Math.max(60, cacheSeconds * 10)}s use_temp_path=off;`);
  }
  line('map $http_upgrade $sag_connection {');
  line('    default upgrade;');
  line('    "" "";');
  line('}');
  line('# A Connection header naming a header the decision reads is refused (400), as the node proxy refuses it.');
  line('map $http_connection $sag_connection_bad {');
  line(`    "~*(?:^|,)[ \\t]*(?:${[...DECIDED_ON, assertion.toLowerCase()].join('|')})[ \\t]*(?:,|$)" 1;`);
  line('    default 0;');
  line('}');
  if (config.bypass.ingestion) {
    line('# nginx picks a location by the normalised path but forwards the raw one: ingestion is only what is ingestion both ways.');
    line('map $request_uri $sag_ingest_raw {');
    line(`    "~${INGESTION_RAW}" 1;`);
    line('    default 0;');
    line('}');
    line('# Ingestion is refused (400) unless its raw target is ingestion too and its Connection header is harmless: one test.');
    line('map "$sag_ingest_raw$sag_connection_bad" $sag_ingest_refused {');
    line('    10 0;');
    line('    default 1;');
    line('}');
  }
  line();
  line('upstream sag_gateway {');
  line(`    server ${gateway.server};`);
  line('    keepalive 32;');
  line('}');
  line('upstream sag_sentry {');
  line(`    server ${web.server};`);
  line('    keepalive 64;');
  line('}');
  if (relay) {
    line('upstream sag_relay {');
    line(`    server ${relay.server};`);
    line('    keepalive 64;');
    line('}');
  }
  line();
  line('server {');
  line(`    listen ${config.nginx.listen};`);
  line(`    server_name ${publicUrl.hostname};`);
  line('    # A header spelled with underscores (X_Sentry_Gateway_Assertion) is dropped, never passed on.');
  line('    underscores_in_headers off;');
  line('    ignore_invalid_headers on;');
  if (config.nginx.realIpFrom.length) {
    line('    # $remote_addr is the client as the load balancer saw it, and only the load balancer is believed.');
    for (const cidr of config.nginx.realIpFrom) line(`    set_real_ip_from ${cidr};`);
    line('    real_ip_header X-Forwarded-For;');
    line('    real_ip_recursive off;');
  }
  line('    # Uploads stream through; the limit is upstream.maxBodyBytes (sourcemaps go in chunks well below it).');
  line(`    client_max_body_size ${config.upstream.maxBodyBytes};`);
  line('    proxy_request_buffering off;');
  line('    proxy_http_version 1.1;');
  line('    # Room for the many headers cleared below.');
  line('    proxy_headers_hash_max_size 1024;');
  line('    proxy_headers_hash_bucket_size 128;');
  line(`    proxy_read_timeout ${Math.max(1, Math.ceil(config.upstream.timeout / 1000))}s;`);
  line('    proxy_redirect off;');
  line();
  line('    # The decision: internal, so no client can fetch an assertion from it.');
  line(`    location = ${AUTH_DECISION_PATH} {`);
  line('        internal;');
  line(`        proxy_pass ${scheme(gateway)}://sag_gateway${AUTH_DECISION_PATH};`);
  askGateway();
  line(`        proxy_set_header ${ORIGINAL_HEADERS.method} $request_method;`);
  line(`        proxy_set_header ${ORIGINAL_HEADERS.uri} $request_uri;`);
  line(`        proxy_set_header ${ORIGINAL_HEADERS.connection} $http_connection;`);
  line(`        proxy_set_header ${ORIGINAL_HEADERS.upgrade} $http_upgrade;`);
  if (cacheSeconds > 0) {
    line(`        # A signed-in GET or HEAD's 200 is reused for ${cacheSeconds}s: the revocation delay. The key is the session`);
    line('        # and everything else the decision reads that nginx sees; nothing else is cached, nothing stale is served.');
    line('        # The cache files hold the session cookie and the assertion for that long: keep cacheDir on tmpfs, nginx\'s only.');
    line('        proxy_cache sag_decisions;');
    line('        proxy_cache_key "$sag_session_value|$request_method|$request_uri|$http_accept|$http_connection|$http_upgrade|$http_origin|$remote_addr";');
    line('        proxy_cache_methods GET HEAD;');
    line(`        proxy_cache_valid 200 ${cacheSeconds}s;`);
    line('        # With an Authorization header (a token) the decision is always asked: no token is written to the cache.');
    line('        proxy_cache_bypass $sag_no_cache $http_authorization;');
    line('        proxy_no_cache $sag_no_cache $http_authorization;');
    line('        proxy_cache_use_stale off;');
    line('        proxy_cache_background_update off;');
    line('        proxy_ignore_headers Cache-Control Expires Vary X-Accel-Expires;');
    line('        # A hit opens its cache file through this cache: no open, stat and close per request. A held descriptor');
    line('        # is reused only for the inode the cache entry recorded (or any while none is recorded yet, as the cache');
    line('        # loads after a start), and expiry is read from the file\'s own header on every hit: no decision outlives');
    line('        # its own validity. Each worker keeps at most 256 open.');
    line(`        open_file_cache max=256 inactive=${Math.max(10, cacheSeconds * 2)}s;`);
    line('        open_file_cache_errors off;');
  }
  askTimeouts();
  line('    }');
  line();
  line('    # The gateway\'s own pages (sign-in, second factor, console), with the raw request target.');
  line('    location ^~ /_gateway/ {');
  line(`        proxy_pass ${scheme(gateway)}://sag_gateway;`);
  line('        proxy_set_header Connection $sag_connection;');
  line('        proxy_set_header Upgrade $http_upgrade;');
  clearClientClaims('        ');
  forwarded('        ');
  line('    }');
  line('    location = /_gateway {');
  line(`        proxy_pass ${scheme(gateway)}://sag_gateway;`);
  clearClientClaims('        ');
  forwarded('        ');
  line('    }');
  line();
  if (config.bypass.ingestion) {
    line();
    line(`    # Ingestion: straight to ${relay ? 'Relay' : 'Sentry web (no upstream.ingestUrl)'}, no decision asked, no cookie, no assertion.`);
    line(`    location ~ ${INGESTION_URI} {`);
    line('        if ($sag_ingest_refused) {');
    line('            return 400;');
    line('        }');
    line(`        proxy_pass ${relay ? `${scheme(relay)}://sag_relay` : `${scheme(web)}://sag_sentry`};`);
    line('        proxy_set_header Connection "";');
    line('        proxy_set_header Cookie "";');
    clearClientClaims('        ');
    forwarded('        ');
    line('    }');
  }
  line();
  line('    # Everything else: asked first; only the decision\'s own answer becomes the assertion header.');
  line('    location / {');
  line('        if ($sag_cookie_left) {');
  line('            return 400;');
  line('        }');
  line(`        auth_request ${AUTH_DECISION_PATH};`);
  line(`        auth_request_set $sag_assertion ${upstreamVar(assertion)};`);
  line(`        auth_request_set $sag_route ${upstreamVar(ANSWER_HEADERS.route)};`);
  line(`        auth_request_set $sag_status ${upstreamVar(ANSWER_HEADERS.status)};`);
  line(`        auth_request_set $sag_location ${upstreamVar(ANSWER_HEADERS.location)};`);
  line('        error_page 401 403 = @sag_denied;');
  line(`        proxy_pass ${scheme(web)}://sag_sentry;`);
  line('        proxy_set_header Connection $sag_connection;');
  line('        proxy_set_header Upgrade $http_upgrade;');
  line('        proxy_set_header Cookie $sag_cookie_forward;');
  clearClientClaims('        ');
  line(`        proxy_set_header ${assertion} $sag_assertion;`);
  forwarded('        ');
  line('    }');
  line();
  line('    # The answer the decision meant, which auth_request can only carry as 401 or 403.');
  line('    location @sag_denied {');
  line('        # The Location the gateway chose, as it chose it (a path on this site).');
  line('        absolute_redirect off;');
  line('        add_header Cache-Control no-store always;');
  line('        default_type "application/json; charset=utf-8";');
  line('        if ($sag_status = 302) {');
  line('            return 302 $sag_location;');
  line('        }');
  line('        if ($sag_status = 401) {');
  line(`            return 401 '${JSON.stringify(AUTH_REQUIRED_JSON)}';`);
  line('        }');
  line('        if ($sag_status = 500) {');
  line('            return 500;');
  line('        }');
  line('        # 400, 404, 503: the gateway\'s own page (HTML or JSON, in the client\'s language), asked for in the forward');
  line('        # style, which answers the refusal itself; anything else the decision meant is a plain 403.');
  line('        if ($sag_status !~ "^(?:400|404|503)$") {');
  line('            return 403;');
  line('        }');
  line('        # The trailing ? keeps nginx from appending the original query: it would be no style the gateway knows.');
  line(`        rewrite ^ ${AUTH_DECISION_PATH}${FORWARD_STYLE_QUERY}? break;`);
  line(`        proxy_pass ${scheme(gateway)}://sag_gateway;`);
  askGateway();
  line('        # The forward style reads X-Forwarded-Method/-Uri; the nginx style\'s facts are never passed from a client.');
  line(`        proxy_set_header ${ORIGINAL_HEADERS.method} "";`);
  line(`        proxy_set_header ${ORIGINAL_HEADERS.uri} "";`);
  line(`        proxy_set_header ${FORWARDED_ORIGINAL.method} $request_method;`);
  line(`        proxy_set_header ${FORWARDED_ORIGINAL.uri} $request_uri;`);
  line(`        proxy_set_header ${ORIGINAL_HEADERS.connection} $http_connection;`);
  line(`        proxy_set_header ${ORIGINAL_HEADERS.upgrade} $http_upgrade;`);
  line('        # Asked twice, a decision could differ (Redis back): no assertion ever reaches the client from here.');
  line(`        proxy_hide_header ${assertion};`);
  line(`        proxy_hide_header ${ANSWER_HEADERS.route};`);
  askTimeouts();
  line('    }');
  line('}');
  return out.join('\n') + '\n';
}
