// A listen address (server.listen, server.metricsListen) as host and port: `[::1]:9464` binds ::1, the brackets only
// keep an IPv6 address apart from its port. The config schema has already refused anything not HOST:PORT.
export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}
