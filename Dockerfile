# nemo-relay: one image, every role (api | worker | all | sim), chosen by the command.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --omit=optional
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY assets ./assets
RUN mkdir -p /app/data/uploads && chown -R node:node /app/data
USER node
EXPOSE 8080 4010
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node dist/healthcheck.js
ENTRYPOINT ["node", "dist/main.js"]
CMD ["all"]
