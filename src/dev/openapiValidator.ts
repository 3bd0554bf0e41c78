// Checks HTTP requests and responses against the trimmed Sentry OpenAPI document, so the fake
// Sentry (and any client talking to it) cannot drift from the published contract unnoticed.
// The document has no $refs, so every schema can be compiled on its own.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext the default import is the module object on some setups.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/**
 * The contract: a trimmed copy of Sentry's published OpenAPI document, kept in the repository
 * (src/dev/sentry-api/README.md says where it came from and how to refresh it).
 * SAG_SENTRY_OPENAPI points at another copy, e.g. a newer one being tried out.
 */
export const DEFAULT_OPENAPI_PATH =
  process.env.SAG_SENTRY_OPENAPI ?? fileURLToPath(new URL('./sentry-api/openapi-subset.json', import.meta.url));

type Schema = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}

interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: Schema }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

export interface MatchedOperation {
  /** Path template from the document, e.g. `/api/0/organizations/{organization_id_or_slug}/members/`. */
  template: string;
  method: string;
  operation: Operation;
  pathParams: Record<string, string>;
}

export interface RequestToCheck {
  method: string;
  pathname: string;
  query: URLSearchParams;
  contentType: string | undefined;
  /** Raw body text, '' when the request had none. */
  rawBody: string;
}

export interface RequestExemptions {
  /** Query parameters the real server accepts although the document does not declare them. */
  extraQuery?: readonly string[];
}

export interface ResponseToCheck {
  method: string;
  pathname: string;
  status: number;
  /** Parsed JSON body, or undefined when the response has no body. */
  body: unknown;
  hasBody: boolean;
}

export interface ResponseExemptions {
  /**
   * Set when the server deliberately answers with a status the document does not list, because the
   * real server does so (the reason is kept for the violation text if anything else is wrong).
   */
  unlistedStatusReason?: string;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

function formatErrors(where: string, errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const at = e.instancePath || '(root)';
    const extra = e.keyword === 'additionalProperties' ? ` '${String((e.params as { additionalProperty?: string }).additionalProperty)}'` : '';
    const allowed = e.keyword === 'enum' ? ` ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}` : '';
    return `${where} ${at} ${e.message ?? e.keyword}${extra}${allowed}`;
  });
}

export class OpenApiValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new WeakMap<object, ValidateFunction>();
  private readonly routes: { template: string; regex: RegExp; names: string[]; item: Record<string, Operation> }[];

  constructor(readonly document: { paths: Record<string, Record<string, unknown>> }) {
    // strict: false because OpenAPI adds keywords (example, x-*, deprecated) that plain JSON Schema
    // does not know; ajv understands OpenAPI's `nullable` natively.
    this.ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(this.ajv);
    // `double` is an OpenAPI number format with no extra constraint beyond `type: number`.
    this.ajv.addFormat('double', true);
    this.routes = Object.entries(document.paths).map(([template, item]) => {
      const names: string[] = [];
      const pattern = template
        .split(/(\{[^}]+\})/)
        .map((part) => {
          const m = /^\{([^}]+)\}$/.exec(part);
          if (m) {
            names.push(m[1]!);
            return '([^/]+)';
          }
          return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      return { template, regex: new RegExp(`^${pattern}$`), names, item: item as Record<string, Operation> };
    });
  }

  private validator(schema: Schema): ValidateFunction {
    let fn = this.compiled.get(schema);
    if (!fn) {
      fn = this.ajv.compile(schema);
      this.compiled.set(schema, fn);
    }
    return fn;
  }

  /** True when the document describes this path for some method. */
  coversPath(pathname: string): boolean {
    return this.routes.some((r) => r.regex.test(pathname));
  }

  match(method: string, pathname: string): MatchedOperation | undefined {
    const m = method.toLowerCase();
    for (const r of this.routes) {
      const hit = r.regex.exec(pathname);
      if (!hit) continue;
      const operation = (METHODS as readonly string[]).includes(m) ? r.item[m] : undefined;
      if (!operation) return undefined;
      const pathParams: Record<string, string> = {};
      r.names.forEach((n, i) => (pathParams[n] = decodeURIComponent(hit[i + 1]!)));
      return { template: r.template, method: m, operation, pathParams };
    }
    return undefined;
  }

  /** A parameter value arrives as text; coerce it to the schema's scalar type before checking. */
  private checkParam(where: string, p: Parameter, raw: string): string[] {
    const schema = p.schema ?? {};
    let value: unknown = raw;
    const type = schema.type;
    if (type === 'integer' || type === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) return [`${where} ${p.in} parameter '${p.name}' must be a ${String(type)}, got ${JSON.stringify(raw)}`];
      value = n;
    } else if (type === 'boolean') {
      if (raw !== 'true' && raw !== 'false') return [`${where} ${p.in} parameter '${p.name}' must be true or false, got ${JSON.stringify(raw)}`];
      value = raw === 'true';
    }
    const fn = this.validator(schema);
    return fn(value) ? [] : formatErrors(`${where} ${p.in} parameter '${p.name}':`, fn.errors);
  }

  /** Problems with a request, as readable sentences; [] when it matches the document. */
  checkRequest(req: RequestToCheck, exempt: RequestExemptions = {}): string[] {
    const matched = this.match(req.method, req.pathname);
    const label = `${req.method.toUpperCase()} ${req.pathname}`;
    if (!matched) {
      return this.coversPath(req.pathname) ? [`request ${label}: method not in the OpenAPI document for this path`] : [];
    }
    const problems: string[] = [];
    const params = matched.operation.parameters ?? [];
    for (const p of params) {
      if (p.in === 'path') problems.push(...this.checkParam(`request ${label}:`, p, matched.pathParams[p.name] ?? ''));
      if (p.in === 'query') {
        const values = req.query.getAll(p.name);
        if (values.length === 0) {
          if (p.required) problems.push(`request ${label}: missing required query parameter '${p.name}'`);
          continue;
        }
        if (values.length > 1) problems.push(`request ${label}: query parameter '${p.name}' given ${values.length} times`);
        problems.push(...this.checkParam(`request ${label}:`, p, values[0]!));
      }
    }
    // Undeclared query parameters are reported because a misspelt one is silently ignored by the
    // real server, which is exactly the kind of client bug these checks exist to surface.
    const declared = new Set([...params.filter((p) => p.in === 'query').map((p) => p.name), ...(exempt.extraQuery ?? [])]);
    for (const name of new Set(req.query.keys())) {
      if (!declared.has(name)) problems.push(`request ${label}: query parameter '${name}' is not in the OpenAPI document`);
    }

    const rb = matched.operation.requestBody;
    const hasBody = req.rawBody.trim() !== '';
    if (!rb) {
      if (hasBody) problems.push(`request ${label}: sends a body but the operation takes none`);
      return problems;
    }
    if (!hasBody) {
      if (rb.required) problems.push(`request ${label}: request body is required`);
      return problems;
    }
    const mediaType = (req.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    const media = rb.content[mediaType];
    if (!media) {
      problems.push(`request ${label}: content type ${JSON.stringify(req.contentType ?? '')} not in ${JSON.stringify(Object.keys(rb.content))}`);
      return problems;
    }
    let body: unknown;
    try {
      body = JSON.parse(req.rawBody);
    } catch {
      problems.push(`request ${label}: body is not valid JSON`);
      return problems;
    }
    if (media.schema) {
      const fn = this.validator(media.schema);
      if (!fn(body)) problems.push(...formatErrors(`request ${label}: body`, fn.errors));
    }
    return problems;
  }

  /** Problems with a response, as readable sentences; [] when it matches the document. */
  checkResponse(res: ResponseToCheck, exempt: ResponseExemptions = {}): string[] {
    const matched = this.match(res.method, res.pathname);
    if (!matched) return [];
    const label = `${res.method.toUpperCase()} ${res.pathname} -> ${res.status}`;
    const spec = matched.operation.responses[String(res.status)] ?? matched.operation.responses.default;
    if (!spec) {
      if (exempt.unlistedStatusReason) return [];
      return [`response ${label}: status ${res.status} is not listed (listed: ${Object.keys(matched.operation.responses).join(', ')})`];
    }
    if (res.status === 204 || res.status === 304) {
      return res.hasBody ? [`response ${label}: must not have a body`] : [];
    }
    const schema = spec.content?.['application/json']?.schema;
    // Statuses documented without content (most error statuses) carry DRF error bodies in practice;
    // the document says nothing about them, so there is nothing to check.
    if (!schema) return [];
    if (!res.hasBody) return [`response ${label}: body missing`];
    const fn = this.validator(schema);
    return fn(res.body) ? [] : formatErrors(`response ${label}: body`, fn.errors);
  }
}

let shared: OpenApiValidator | undefined;

/** One validator per process: compiling the schemas is the slow part. */
export function loadOpenApiValidator(path = DEFAULT_OPENAPI_PATH): OpenApiValidator {
  if (path === DEFAULT_OPENAPI_PATH && shared) return shared;
  const v = new OpenApiValidator(JSON.parse(readFileSync(path, 'utf8')));
  if (path === DEFAULT_OPENAPI_PATH) shared = v;
  return v;
}
