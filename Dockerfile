# syntax=docker/dockerfile:1
# lb: multi-stage image on Node 26 (the active LTS). The builder compiles exactly what `npm ci && npm run
# build` compiles; `deps` installs the production dependencies only; the runtime stage copies both in,
# owned by the non-root user `node` (COPY --chown: no `chown -R` layer duplicating /app), and runs as it.
#   docker build -t lb .
#   docker run --rm -p 8080:8080 -v "$PWD/lb.config.yaml:/app/lb.config.yaml:ro" lb
# The image carries no configuration: without a mounted lb.config.yaml (or config/backends.json, or
# LB_CONFIG / --config) `lb start` prints what to provide and exits 1 instead of balancing over made-up
# backends. Ports, worker count and the rest come from the mounted file, environment variables you pass,
# or the built-in defaults (listen :8080, admin 127.0.0.1:9901); the image sets none of them, so a
# mounted file is never overridden.

FROM node:26-trixie AS builder
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build runs once, below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

FROM node:26-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs `npm run build`, which needs the devDependencies left out here;
# dist/ comes from the builder instead. The npm cache stays in this stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:26-trixie-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --chown=node:node package.json LICENSE NOTICE lb.config.schema.json ./
COPY --chown=node:node --from=deps /app/node_modules ./node_modules
COPY --chown=node:node --from=builder /app/dist ./dist
COPY --chown=node:node examples ./examples
USER node
# 8080: HTTP listener; 8443: the TLS listener, when the configuration enables one.
EXPOSE 8080 8443
# The admin server stays on 127.0.0.1 inside the container (no token needed): the probe runs in the
# container too, so it reaches loopback. /healthz never needs the admin token. A configuration that moves
# the admin port should set ADMIN_PORT for the probe as well.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('node:http').get({ host: '127.0.0.1', port: process.env.ADMIN_PORT || 9901, path: '/healthz', timeout: 2000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli.js", "start"]
