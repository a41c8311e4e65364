# One image, two entry points: `node dist/controller/main.js` and `node dist/webhook/main.js`
# (deploy/base sets the command of each Deployment). Build from the repository root:
#   docker build -t ghcr.io/rqlite-operator/rqlite-operator:$(node -p 'require("./package.json").version') .
# The Node image is pinned to an exact release of the current LTS line: bump it deliberately
# (test/install/dockerfile.test.ts keeps its major at or above package.json's engines). Every stage
# is FROM this one argument, so another base with node and npm can stand in for it unchanged:
# hack/build-images.sh passes one assembled from Debian packages and the npm registry's Node.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# Compile TypeScript with every dependency, dev ones included. Without install scripts: tsc needs
# no native module.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
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
