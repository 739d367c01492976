# syntax=docker/dockerfile:1
# mxhook: multi-stage build on Node 24, running as a non-root user.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The base image has Node 24 already: the `node` devDependency (the pinned runtime for checkouts)
# installs here too, and goes with `npm prune --omit=dev`.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim AS runtime
# redis-server for the single-node default (no REDIS_URL); tini reaps it and forwards signals.
RUN apt-get update \
  && apt-get install -y --no-install-recommends redis-server tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    MXHOOK_DATA_DIR=/data \
    MXHOOK_SMTP_PORT=25 \
    MXHOOK_API_PORT=8080
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json README.md ./
RUN mkdir -p /data && chown node:node /data \
  && chmod +x dist/cli.js && ln -s /app/dist/cli.js /usr/local/bin/mxhook
# Binding port 25 as the non-root node user needs this capability on the node binary.
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
  && setcap 'cap_net_bind_service=+ep' "$(readlink -f "$(command -v node)")" \
  && apt-get purge -y libcap2-bin && rm -rf /var/lib/apt/lists/*
USER node
VOLUME ["/data"]
EXPOSE 25 8080
# `mxhook health` reads the port the API really bound (written to the data directory), so a
# `--api-port` given as a command argument is followed too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["mxhook", "health"]
# SIGTERM starts the drain: up to MXHOOK_SHUTDOWN_TIMEOUT (30 s) for SMTP sessions, then the POSTs in
# flight. docker stop waits 10 s by default: give it more (docker run --stop-timeout 45, compose's
# stop_grace_period: 45s in compose.yaml).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=8", "dist/cli.js"]
CMD ["start"]
