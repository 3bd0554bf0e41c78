-- Prints one JSON line (errors.status counts answers >= 400) with what bench/run.ts needs; optional POST body of BODY_BYTES from the environment.
local bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "0")
if bytes > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", bytes)
  wrk.headers["Content-Type"] = "application/x-sentry-envelope"
end
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end
wrk.headers["Accept"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"seconds":%.3f,"p50us":%d,"p99us":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
