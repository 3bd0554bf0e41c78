// What is wrong with an nginx configuration written by hand for the nginx mode, where it can be told from the text:
// the rules the generated one (nginxConfig.ts) keeps, checked against the gateway's config. Pure.
import type { Config } from '../config/schema.js';
import { gatewayCookieNames } from '../shared/cookies.js';
import { AUTH_DECISION_PATH, FORWARD_STYLE_QUERY, ORIGINAL_HEADERS } from '../proxy/authDecision.js';
import { gatewayUrlOf } from './nginxConfig.js';

export interface NginxProblem {
  line: number;
  severity: 'error' | 'warning';
  message: string;
}

interface Directive {
  name: string;
  args: string[];
  line: number;
  block?: Directive[];
}

/** nginx's syntax, enough to walk it: words, quoted strings, `;`, `{`, `}`, `#` comments. */
function parse(text: string): Directive[] {
  const root: Directive[] = [];
  const stack: Directive[][] = [root];
  let words: string[] = [];
  let wordLine = 1;
  let line = 1;
  let i = 0;
  const flush = (block?: Directive[]) => {
    if (words.length === 0) return;
    const d: Directive = { name: words[0]!, args: words.slice(1), line: wordLine, ...(block ? { block } : {}) };
    stack[stack.length - 1]!.push(d);
    words = [];
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '#') while (i < text.length && text[i] !== '\n') i++;
    else if (c === ';') {
      flush();
      i++;
    } else if (c === '{') {
      const block: Directive[] = [];
      flush(block);
      stack.push(block);
      i++;
    } else if (c === '}') {
      flush();
      if (stack.length > 1) stack.pop();
      i++;
    } else {
      if (words.length === 0) wordLine = line;
      let w = '';
      if (c === '"' || c === "'") {
        i++;
        while (i < text.length && text[i] !== c) {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          if (text[i] === '\n') line++;
          w += text[i++];
        }
        i++;
      } else {
        while (i < text.length && !/[\s;{}]/.test(text[i]!)) w += text[i++];
      }
      words.push(w);
    }
  }
  flush();
  return root;
}

function* walk(ds: Directive[], inside: Directive[] = []): Generator<{ d: Directive; inside: Directive[] }> {
  for (const d of ds) {
    yield { d, inside };
    if (d.block) yield* walk(d.block, [...inside, d]);
  }
}

const children = (d: Directive, name: string) => (d.block ?? []).filter((c) => c.name === name);
const setHeader = (d: Directive, header: string) => children(d, 'proxy_set_header').filter((c) => c.args[0]?.toLowerCase() === header.toLowerCase());
const upstreamVar = (header: string) => `$upstream_http_${header.toLowerCase().replace(/-/g, '_')}`;

export function checkNginxConfig(text: string, config: Config): NginxProblem[] {
  const out: NginxProblem[] = [];
  const error = (line: number, message: string) => out.push({ line, severity: 'error', message });
  const warning = (line: number, message: string) => out.push({ line, severity: 'warning', message });
  const tree = parse(text);
  const all = [...walk(tree)];
  const assertion = config.assertion.header;
  const sessionCookie = gatewayCookieNames(config.session.cookieName, config.server.publicUrl).session;

  const locations = all.filter(({ d }) => d.name === 'location');
  const authTarget = (loc: Directive) => children(loc, 'auth_request')[0]?.args[0];
  const authLocations = locations.filter(({ d }) => d.args[d.args.length - 1] === AUTH_DECISION_PATH);
  if (!all.some(({ d }) => d.name === 'auth_request' && d.args[0] !== 'off')) {
    error(1, `no auth_request: nothing asks ${AUTH_DECISION_PATH}, so nothing is decided`);
  }
  for (const { d } of all.filter(({ d }) => d.name === 'auth_request' && d.args[0] !== 'off' && d.args[0] !== AUTH_DECISION_PATH)) {
    error(d.line, `auth_request ${d.args[0] ?? ''}: the decision endpoint is ${AUTH_DECISION_PATH}`);
  }
  if (authLocations.length === 0) error(1, `no "location = ${AUTH_DECISION_PATH}": the decision must have a location of its own, marked internal`);
  for (const { d: loc } of authLocations) {
    if (children(loc, 'internal').length === 0) error(loc.line, `location ${loc.args.join(' ')} is not internal: any client could fetch an assertion from it`);
    if (loc.args[0] !== '=') warning(loc.line, `location ${loc.args.join(' ')} is a prefix: make it "= ${AUTH_DECISION_PATH}" so it covers the decision and nothing else`);
    const expect: [string, string][] = [
      [ORIGINAL_HEADERS.method, '$request_method'],
      [ORIGINAL_HEADERS.uri, '$request_uri'],
      [ORIGINAL_HEADERS.connection, '$http_connection'],
      [ORIGINAL_HEADERS.upgrade, '$http_upgrade'],
    ];
    for (const [header, value] of expect) {
      const set = setHeader(loc, header);
      if (set.length === 0) error(loc.line, `the decision is not sent ${header} (${value}): it cannot judge the request nginx forwards`);
      else if (set.some((s) => s.args[1] !== value)) error(set[0]!.line, `${header} must be ${value}${value === '$request_uri' ? ' (the raw target nginx forwards, not the normalised $uri)' : ''}`);
    }
    if (children(loc, 'proxy_pass_request_body')[0]?.args[0] !== 'off') warning(loc.line, 'the decision is sent the request body: add proxy_pass_request_body off and proxy_set_header Content-Length ""');
    for (const stale of children(loc, 'proxy_cache_use_stale')) if (stale.args.some((a) => a !== 'off')) error(stale.line, 'a stale decision is never served: proxy_cache_use_stale must be off');
    for (const valid of children(loc, 'proxy_cache_valid')) if (valid.args.length > 1 && valid.args.slice(0, -1).some((a) => a !== '200')) error(valid.line, 'only a 200 decision may be cached');
    if (children(loc, 'proxy_cache').some((c) => c.args[0] !== 'off') && children(loc, 'proxy_no_cache').length === 0) {
      error(loc.line, 'the decision cache has no proxy_no_cache: a request without a session cookie would share an entry');
    }
  }

  // The assertion header: only ever the decision's answer, and cleared wherever nginx forwards.
  const fromDecision = new Set(
    all.filter(({ d }) => d.name === 'auth_request_set' && d.args[1]?.toLowerCase() === upstreamVar(assertion)).map(({ d }) => d.args[0]),
  );
  for (const { d: loc } of locations) {
    if (!(loc.block ?? []).some((c) => c.name === 'proxy_pass')) continue;
    const internal = children(loc, 'internal').length > 0;
    const set = setHeader(loc, assertion);
    if (set.length === 0 && !internal) error(loc.line, `location ${loc.args.join(' ')} passes a client's own ${assertion} header on: set it from the decision, or to ""`);
    for (const s of set) {
      const v = s.args[1] ?? '';
      if (v !== '' && !fromDecision.has(v)) error(s.line, `${assertion} is set from ${v}, which is not the decision's answer: only a variable of auth_request_set … ${upstreamVar(assertion)}`);
    }
    if (authTarget(loc) === undefined && set.some((s) => fromDecision.has(s.args[1] ?? ''))) error(loc.line, `location ${loc.args.join(' ')} sets ${assertion} from a decision it never asks for`);
  }
  for (const { d } of all) {
    if (d.name === 'underscores_in_headers' && d.args[0] === 'on') error(d.line, `underscores_in_headers on: a client's ${assertion.replace(/-/g, '_')} would pass as ${assertion}`);
    if (d.name === 'ignore_invalid_headers' && d.args[0] === 'off') error(d.line, 'ignore_invalid_headers off passes headers spelled with underscores');
    if (d.name === 'set_real_ip_from' && ['0.0.0.0/0', '::/0', 'unix:'].includes(d.args[0] ?? '')) error(d.line, `set_real_ip_from ${d.args[0]}: any client could name its own address; list exactly the load balancer`);
    if (d.name === 'real_ip_recursive' && d.args[0] === 'on') warning(d.line, 'real_ip_recursive on: an address the client prepends to X-Forwarded-For may be believed');
    if (d.name === 'proxy_request_buffering' && d.args[0] === 'on') warning(d.line, 'proxy_request_buffering on: uploads are written to disk before Sentry sees a byte');
    const cookieVar = d.args.find((a) => /\$cookie_/i.test(a));
    if (cookieVar && sessionCookie.startsWith('__Host-') && /\$cookie___host/i.test(cookieVar)) {
      error(d.line, `${cookieVar} reads a cookie named __Host, not ${sessionCookie}: read the session cookie with a map on $http_cookie`);
    }
  }
  const asks = (loc: Directive, inside: Directive[]) =>
    [loc, ...inside].some((d) => children(d, 'auth_request').some((a) => a.args[0] !== 'off')) && children(loc, 'auth_request').every((a) => a.args[0] !== 'off');
  // The gateway as proxy_pass names it: its URL, or whatever the decision's own location passes to (an upstream).
  const origin = (target: string) => target.replace(/^([a-z]+:\/\/[^/]+).*$/i, '$1');
  const gateways = new Set([gatewayUrlOf(config), ...authLocations.flatMap(({ d }) => children(d, 'proxy_pass').map((p) => origin(p.args[0] ?? '')))]);
  // The refusal page's re-ask (the generated @sag_denied) goes to the gateway, not to Sentry: exactly a named location
  // that rewrites to the forward style with nothing appended, passes to the gateway alone and hides the assertion.
  const isRefusalPage = (loc: Directive) =>
    loc.args.length === 1 &&
    (loc.args[0] ?? '').startsWith('@') &&
    children(loc, 'rewrite').length === 1 &&
    children(loc, 'rewrite')[0]!.args.join(' ') === `^ ${AUTH_DECISION_PATH}${FORWARD_STYLE_QUERY}? break` &&
    children(loc, 'proxy_pass').length > 0 &&
    children(loc, 'proxy_pass').every((p) => p.args.length === 1 && gateways.has(p.args[0]!)) &&
    children(loc, 'proxy_hide_header').some((h) => h.args[0]?.toLowerCase() === assertion.toLowerCase());
  for (const { d: loc, inside } of locations) {
    const where = loc.args.join(' ');
    if (children(loc, 'proxy_pass').length === 0 || children(loc, 'internal').length > 0 || where.includes('_gateway') || isRefusalPage(loc)) continue;
    if (!asks(loc, inside) && !/api|store|envelope|js-sdk-loader|_health/.test(where)) error(loc.line, `location ${where} forwards to Sentry without asking ${AUTH_DECISION_PATH}`);
  }
  // A map's variable reads what its source string reads, when its result can vary: an `if` on a map of $request_uri
  // checks the raw target, one on a map whose every entry gives its default does not. $sag_ingest_raw is taken by
  // its name only when this file does not define it.
  const maps = new Map(
    all
      .filter(({ d }) => d.name === 'map' && d.args.length === 2)
      .map(({ d }) => {
        const entries = (d.block ?? []).filter((e) => !['hostnames', 'volatile', 'include'].includes(e.name));
        const fallback = entries.find((e) => e.name === 'default')?.args[0] ?? '';
        return [d.args[1]!, { source: d.args[0]!, varies: entries.some((e) => e.name !== 'default' && (e.args[0] ?? '') !== fallback) }] as const;
      }),
  );
  const readsRawTarget = (text: string, seen = new Set<string>()): boolean => {
    if (/\$request_uri(?![A-Za-z0-9_])/.test(text)) return true;
    if (/\$sag_ingest_raw(?![A-Za-z0-9_])/.test(text) && !maps.has('$sag_ingest_raw')) return true;
    for (const [, name] of text.matchAll(/\$\{?([A-Za-z0-9_]+)/g)) {
      const v = `$${name}`;
      if (seen.has(v)) continue;
      seen.add(v);
      const map = maps.get(v);
      if (map?.varies && readsRawTarget(map.source, seen)) return true;
    }
    return false;
  };
  const refuses = (d: Directive) => (d.block ?? []).some((c) => c.name === 'return' && /^4[0-9][0-9]$/.test(c.args[0] ?? ''));
  const ingestion = locations.filter(({ d: loc }) => authTarget(loc) === undefined && children(loc, 'proxy_pass').length > 0 && /api|store|envelope|js-sdk-loader|_health/.test(loc.args.join(' ')) && !loc.args.join(' ').includes('_gateway'));
  for (const { d: loc } of ingestion) {
    if (!(loc.block ?? []).some((c) => c.name === 'if' && readsRawTarget(c.args.join(' ')) && refuses(c))) {
      error(loc.line, `location ${loc.args.join(' ')} forwards without a decision but never checks the raw $request_uri (an "if" on it, or on a map of it, that returns a 4xx): nginx picks the location by the normalised path and forwards the raw one`);
    }
    if (setHeader(loc, 'Cookie').every((s) => (s.args[1] ?? '') !== '')) error(loc.line, `location ${loc.args.join(' ')} forwards without a decision but keeps Cookie: clear it (proxy_set_header Cookie "")`);
  }
  return out.sort((a, b) => a.line - b.line);
}
