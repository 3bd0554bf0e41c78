# sentry-ad-gateway image: Node 24 LTS, production dependencies only, runs as a non-root user and
# on a read-only root file system (only assertion.keysDir must be writable).
#
# Every RUN step is a plain npm command that CI also runs (test/integration/deployment.test.ts
# replays them), so a step that breaks shows up in `bash .ci/run` on a machine without Docker;
# the apt-get steps name Debian packages, which the replay checks CI has installed.
ARG NODE_IMAGE=node:24-bookworm-slim

# 0. What the optional Kerberos binding (kerberos, N-API) needs to build against the system GSSAPI:
# node-gyp's compiler and python, and the MIT Kerberos headers. Built from source, never a downloaded binary.
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ libkrb5-dev && rm -rf /var/lib/apt/lists/*
ENV npm_config_build_from_source=true

# 1. Compile TypeScript with the dev dependencies.
FROM toolchain AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only, installed from the lock file (the Kerberos binding built here).
FROM toolchain AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# 3. The runtime: no compiler, no npm cache, no source; the GSSAPI library the Kerberos binding links to
# (without it the gateway starts with Kerberos off and says why).
FROM ${NODE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends libgssapi-krb5-2 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Templates are read from ../../views relative to dist/http/render.js.
COPY views ./views
# The stand-in Sentry that docker-compose.yml runs for development, and the health probe.
COPY docker/standInSentry.mjs docker/healthcheck.mjs ./docker/
# The keys directory must exist and belong to the runtime user: an empty named volume mounted
# here copies this ownership, so a read-only root file system still has one writable place.
COPY --chown=node:node docker/keys-dir/ /var/lib/sentry-ad-gateway/keys/
VOLUME ["/var/lib/sentry-ad-gateway/keys"]
# The node image's unprivileged user (uid 1000).
USER node
EXPOSE 8080
# node, not curl/wget: the slim image has neither, and nothing else need be installed.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 CMD ["node", "docker/healthcheck.mjs"]
# node directly, not `npm start`: npm writes to the home directory, which is read-only here.
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/sentry-ad-gateway/gateway.yaml"]
