# One image, two entry points: `node dist/controller/main.js` and `node dist/webhook/main.js`
# (deploy/base sets the command of each Deployment). Build from the repository root:
#   docker build -t ghcr.io/rqlite-operator/rqlite-operator:$(node -p 'require("./package.json").version') .
# The Node image is pinned to an exact release: bump it deliberately (test/install/dockerfile.test.ts
# keeps its major equal to package.json's engines).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# Compile TypeScript with every dependency, dev ones included.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY shared ./shared
COPY controller ./controller
COPY webhook ./webhook
RUN npx tsc -p tsconfig.json && test -f dist/controller/main.js && test -f dist/webhook/main.js

# Production dependencies only, resolved from the same lock file.
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="rqlite-operator" \
      org.opencontainers.image.description="Kubernetes operator for rqlite: controller and admission webhook" \
      org.opencontainers.image.source="https://github.com/rqlite-operator/rqlite-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# 65532: the conventional non-root "nonroot" id; deploy/base runs the Pods as the same numeric
# user, so runAsNonRoot can be checked without a user database.
USER 65532:65532
EXPOSE 8080 8081 9443
CMD ["node", "dist/controller/main.js"]
