# syntax=docker/dockerfile:1
# Tavern from this repository: docker build -t tavern . (README "Running in a container").
# The build stage runs what CI runs (.ci/run: npm ci --no-audit --no-fund; npm test builds with npm run build);
# test/packaging/dockerfile.test.ts keeps the two in step, and scripts/dockerfile-replay.mjs replays these steps
# without a container runtime.

FROM node:20-bookworm-slim AS build
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file changes.
# patches/ first: npm ci's postinstall applies them (patch-package).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.plugin.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
COPY assets ./assets
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# A fixed uid/gid, so a bind-mounted storage directory can be chowned to it on the host (chown 10001:10001 DIR).
RUN groupadd --system --gid 10001 tavern \
 && useradd --system --uid 10001 --gid tavern --home-dir /var/cache/tavern --shell /usr/sbin/nologin tavern \
 && install -d -o tavern -g tavern -m 0700 /var/cache/tavern \
 && install -d -m 0755 /etc/tavern
WORKDIR /opt/tavern
COPY --from=build /src/package.json /src/oclif.manifest.json ./
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/assets/dashboard ./assets/dashboard
COPY --from=build /src/patches ./patches
COPY --from=build /src/node_modules ./node_modules
RUN ln -s /opt/tavern/bin/run.js /usr/local/bin/tavern
# Found by serve (and by status, purge … for the socket) in the working directory; mount your own over it, or pass flags.
COPY examples/docker/tavern.config.yaml /etc/tavern/tavern.config.yaml
WORKDIR /etc/tavern
USER tavern
VOLUME ["/var/cache/tavern"]
EXPOSE 8080
STOPSIGNAL SIGTERM
# The admin socket inside the container: the same user and working directory find the same socket as serve.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["tavern", "status"]
ENTRYPOINT ["tavern", "serve"]
