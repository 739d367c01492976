# syntax=docker/dockerfile:1
# mxhook: multi-stage build on Node 24, running as a non-root user.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
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
RUN mkdir -p /data && chown node:node /data
# Binding port 25 as the non-root node user needs this capability on the node binary.
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
  && setcap 'cap_net_bind_service=+ep' "$(readlink -f "$(command -v node)")" \
  && apt-get purge -y libcap2-bin && rm -rf /var/lib/apt/lists/*
USER node
VOLUME ["/data"]
EXPOSE 25 8080
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:'+(process.env.MXHOOK_API_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=16", "dist/cli.js"]
CMD ["start"]
