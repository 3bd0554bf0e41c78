// Docker HEALTHCHECK: exit 0 when /_gateway/healthz answers 200. The port follows SAG_SERVER__LISTEN
// when that override is used, else HEALTHCHECK_URL, else the default listen port 8080.
const listen = process.env.SAG_SERVER__LISTEN ?? '';
const port = /:(\d+)$/.exec(listen)?.[1] ?? '8080';
const url = process.env.HEALTHCHECK_URL ?? `http://127.0.0.1:${port}/_gateway/healthz`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2500) });
  process.exit(res.status === 200 ? 0 : 1);
} catch {
  process.exit(1);
}
