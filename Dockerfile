# Fleetvisor: the GraphQL control plane, built and run as `npm start` runs it.
# Node 24, the LTS line (Node 20 is end-of-life); CI runs the test suite on it as well as on
# the development machines' Node 20 (.ci/run). Both stages use the same tag, so that native
# addons built in the first one load in the second.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The dashboard Fleetvisor serves at /.
COPY client-examples/dashboard ./client-examples/dashboard
USER node
EXPOSE 4000
# Ready once the database answers, on the port PORT says.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# As `npm start`: V8 grows the heap by half, not by its default factor, before a full
# collection; see "Running it in production" in the README.
CMD ["node", "--heap-growing-percent=50", "dist/src/main.js"]
