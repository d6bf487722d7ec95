# nemo-relay: one image, every role (api | worker | all | sim), chosen by the command; .ci/check-image.sh replays these steps.
ARG NODE_IMAGE=node:24-bookworm-slim

# Build: the full dependency tree (TypeScript and Vite are devDependencies), then compile src/ to dist/ and build the
# web console into dist/console.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: nothing here needs an install script; in particular the `node` devDependency (a Node binary for
# local development) stays uninstalled, and tsc runs on the image's own Node.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY console ./console
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && node node_modules/vite/bin/vite.js build --config console/vite.config.ts

# Production dependencies only. --omit=optional also drops TypeScript, which valibot (under bull-board) lists as an
# optional peer, and msgpackr's optional native accelerator (msgpackr falls back to plain JS); no install scripts run.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY assets ./assets
# The CLI on PATH (`docker compose exec api nemo-relay list`); staging and output directories owned by the runtime user
# (a named volume mounted there takes the ownership from the image).
RUN chmod +x dist/cli/main.js \
  && ln -s /app/dist/cli/main.js /usr/local/bin/nemo-relay \
  && mkdir -p /app/data/uploads /app/data/outputs \
  && chown -R node:node /app/data
USER node
# 8080 api (and all), 9090 a worker's /healthz + /metrics (METRICS_PORT), 4010 the simulator.
EXPOSE 8080 9090 4010
# The check finds the role from the container's main process and asks that role's health route.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["node", "dist/healthcheck.js"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["all"]
