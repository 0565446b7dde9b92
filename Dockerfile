# syntax=docker/dockerfile:1
# lb: multi-stage image. The builder compiles exactly what `npm ci && npm run build` compiles; the runtime
# stage has production dependencies only, the compiled dist/, and runs as the non-root user `node`.
#   docker build -t lb .
#   docker run --rm -p 8080:8080 -v "$PWD/lb.config.yaml:/app/lb.config.yaml:ro" lb

FROM node:24-bookworm AS builder
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build runs once, below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    ADMIN_PORT=9901
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs `npm run build`, which needs the devDependencies left out here;
# dist/ comes from the builder instead.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=builder /app/dist ./dist
COPY config ./config
COPY examples ./examples
COPY lb.config.schema.json ./
RUN chown -R node:node /app
USER node
EXPOSE 8080
# The admin server stays on 127.0.0.1 inside the container (no token needed): the probe runs in the
# container too, so it reaches loopback. /healthz never needs the admin token.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('node:http').get({ host: '127.0.0.1', port: process.env.ADMIN_PORT || 9901, path: '/healthz', timeout: 2000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli.js", "start"]
