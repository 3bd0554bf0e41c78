// The 2 KB page both bench upstreams serve (the nginx one from a file, bench/nodeUpstream.ts from
// memory), so the two harnesses move the same bytes.
export const BENCH_PAGE = `<!doctype html><title>bench</title>${'<p>sentry</p>'.repeat(145)}`.padEnd(2048, ' ').slice(0, 2048);
