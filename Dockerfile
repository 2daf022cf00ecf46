# The product's image: the worker (and, from the same image, the CLI and migrations), on Node 22 LTS.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY workflows workflows
COPY activities activities
COPY migrations migrations
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/migrations migrations
# Read at run time: the dashboard's page and script (the API serves them from src/api/dashboard).
COPY --from=build /app/src/api/dashboard src/api/dashboard
USER node
# A larger young generation: see README, "Capacity, isolation and load".
CMD ["node", "--max-semi-space-size=16", "dist/src/worker/main.js"]
