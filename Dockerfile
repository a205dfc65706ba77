# syntax=docker/dockerfile:1
# telefhir FHIR server. Build: docker build -t telefhir .   Run: see deploy/README.md.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: compile TypeScript to dist/src ----------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY build.mjs tsconfig.json tsconfig.build.json ./
COPY src ./src
# The build compiles every profile and writes the snapshots of the differential-only ones.
COPY profiles ./profiles
RUN npm run build

# --- runtime: production dependencies, compiled code and the data files it reads -------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/rds-global-bundle.pem
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# Amazon RDS certificate authorities, so DATABASE_URL can use sslmode=verify-full.
ADD --chmod=0444 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
# The server finds these from the directory holding package.json (src/paths.ts).
COPY --from=build /app/dist/src ./dist/src
# The R4 definitions compacted by the build (src/fhir/r4-definitions.ts) and the snapshots of
# the differential-only profiles (src/validation/snapshot-file.ts): a faster start.
COPY --from=build /app/dist/r4-structure-definitions.json ./dist/
COPY --from=build /app/dist/profile-snapshots.json ./dist/
COPY src/db/migrations ./src/db/migrations
COPY profiles ./profiles
COPY operations ./operations
COPY capability-statement.json ./
# DATA_DIR (the embedded database and development secret, unused with DATABASE_URL and
# AUTH_JWKS_URI) must be writable by the unprivileged user.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/main.js"]
