import "reflect-metadata";
import type { DataSource } from "typeorm";
import { TokenService } from "./auth/token.service.js";
import { TokenUsage } from "./auth/token-usage.js";
import type { Config } from "./config/config.js";
import { openDatabases } from "./db/connect.js";
import { describeDatabaseError } from "./db/db-errors.js";
import { pendingMigrations, runMigrations } from "./db/migrate.js";
import { MemoryEventBus, RedisEventBus, type EventBus } from "./events/event-bus.js";
import { AuditTrail } from "./events/audit-trail.js";
import { EventFeed } from "./events/event-feed.js";
import { EventLogReads } from "./events/event-log-reads.js";
import { EventLogService } from "./events/event-log.service.js";
import { EventRetention } from "./events/event-retention.js";
import { EventStreams } from "./events/event-stream.js";
import { tokenEvents } from "./events/token-events.js";
import type { Services } from "./graphql/context.js";
import { buildFleetvisorSchema } from "./graphql/schema.js";
import { SharedAnswers } from "./graphql/shared-answers.js";
import { startHttpServer, type Readiness, type RunningHttpServer } from "./http/http-server.js";
import { ensureCanListen, listenError } from "./http/listen-check.js";
import { ControlService } from "./control/control.service.js";
import { Healer } from "./healing/healer.js";
import { HealingService } from "./healing/healing.service.js";
import { HealingStore, restartLeaseFor } from "./healing/healing-store.js";
import { LogFollows } from "./logs/log-follows.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetrics, registerFleetGauges } from "./metrics.js";
import { DatabaseHealth } from "./db/database-health.js";
import { AgentLifecycle } from "./registry/agent-lifecycle.js";
import { DesiredStates } from "./registry/desired-states.js";
import { IncidentRetention } from "./incident/incident-retention.js";
import { IncidentTracker } from "./incident/incident-tracker.js";
import { IncidentWatch } from "./incident/incident-watch.js";
import { IncidentService } from "./incident/incident.service.js";
import { SilenceService } from "./incident/silence.service.js";
import { HeartbeatWatchdog } from "./registry/heartbeat-watchdog.js";
import { HostObservations } from "./registry/host-observations.js";
import { Observations } from "./registry/observations.js";
import { ProcessReads } from "./registry/process-reads.js";
import { RegistryAdmin } from "./registry/registry-admin.js";
import { Transitions } from "./registry/transitions.js";
import { createRollouts } from "./rollout/rollouts.js";
import { systemClock, type Clock } from "./clock.js";
import { SupervisorClient } from "./supervisor/supervisor-client.js";
import { SupervisorService } from "./supervisor/supervisor.service.js";
import { supervisorKey } from "./supervisor/host-answers.js";
import { logAlerts } from "./watch/alert-log.js";
import { AlertWebhook } from "./watch/alert-webhook.js";
import { EventPruner } from "./watch/event-pruner.js";
import { FleetState } from "./watch/fleet-state.js";
import { Periodic } from "./watch/periodic.js";
import { SupervisorPoller } from "./watch/supervisor-poller.js";
import { Replicas } from "./watch/replicas.js";
import { WatchService } from "./watch/watch.service.js";

/** How often each replica reads the event log while anyone subscribes. */
const EVENT_LOG_READ_INTERVAL_MS = 500;

/** How long `/readyz` waits for the database. */
const READINESS_TIMEOUT_MS = 2_000;

/** How soon, at most, incidents stop being shown silenced once their silence has run out. */
const SILENCE_SWEEP_MS = 5_000;

export interface App {
  /** Where the service listens, e.g. `http://127.0.0.1:4000` (GraphQL at `/graphql`). */
  readonly url: string;
  readonly port: number;
  readonly services: Services;
  /** Prunes old events in the background; `runOnce` for tests and tools. */
  readonly eventPruner: EventPruner;
  /** Restarts unresponsive processes under their healing policy; `runOnce` for tests and tools. */
  readonly healer: Healer;
  readonly logger: Logger;
  /** Graceful stop; safe to call more than once. */
  stop(): Promise<void>;
}

/** Options that tests and embedders pass; production uses the defaults. */
export interface AppOptions {
  readonly logger?: Logger;
  /** Where services read the time. @default the system clock */
  readonly clock?: Clock;
}

type Phase =
  | {
      readonly phase: "running";
      readonly http: RunningHttpServer;
      readonly dataSource: DataSource;
      readonly bus: EventBus;
    }
  | { readonly phase: "stopping"; readonly done: Promise<void> };

/**
 * The one place that creates the singletons and wires them: migrations (when asked), the
 * database, the event bus, the services, the schema and the HTTP server.
 */
export async function startApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;

  for (const { variable, suggestion, message } of config.unknownVariables) {
    logger.warn({ variable, suggestion }, message);
  }
  await ensureCanListen(config.http.host, config.http.port);

  if (config.migrateOnStart) {
    await runMigrations(config.database, logger);
  }
  const health = new DatabaseHealth(clock);
  const databases = await openDatabases(config.database, { health, logger });
  const database = databases.requests;
  const dataSource = database.dataSource;
  const background = databases.watchers.dataSource;
  if (config.database.dialect === "sqlite") {
    logger.info(
      { database: config.database.path },
      `using the embedded SQLite database ${config.database.path}; it serves one replica only ` +
        "(set DATABASE_URL=mysql://… for more)",
    );
  }
  const cleanup: (() => Promise<unknown>)[] = [() => databases.close()];
  try {
    if (!config.migrateOnStart) {
      const pending = await pendingMigrations(dataSource);
      if (pending.length > 0) {
        throw new Error(
          `the database needs migrations (${pending.join(", ")}); run "npm run migrate" or set MIGRATE_ON_START=true`,
        );
      }
    }

    const bus: EventBus = config.redisUrl
      ? new RedisEventBus({ url: config.redisUrl, prefix: `fleetvisor:${await deploymentId(dataSource)}:` }, logger)
      : new MemoryEventBus(logger);
    cleanup.unshift(() => bus.close());
    await bus.start();

    const metrics = createMetrics();
    const supervisorClient = new SupervisorClient({
      credentials: (address) =>
        config.supervisor.credentialsByHost.get(supervisorKey(address)) ?? config.supervisor.defaultCredentials,
      readTimeoutMs: config.supervisor.timeoutMs,
      controlTimeoutMs: config.supervisor.controlTimeoutMs,
      maxResponseBytes: config.supervisor.maxResponseBytes,
      observe: ({ address, method, outcome, seconds }) => {
        metrics.supervisorCalls.inc({ supervisor: supervisorKey(address), method, outcome });
        metrics.supervisorCallSeconds.observe({ method }, seconds);
      },
    });
    cleanup.push(async () => supervisorClient.close());

    const events = new EventLogService(bus, logger, clock);
    // Incidents are kept in the transaction of the events that open and end them.
    const incidentTracker = new IncidentTracker(
      clock,
      {
        threshold: config.incidents.flapThreshold,
        windowSeconds: config.incidents.flapWindowSeconds,
      },
      config.database.dialect,
    );
    events.onRecording(incidentTracker.hook);
    const feed = new EventFeed(new EventLogReads(background, () => metrics.eventFeedReads.inc()), bus, clock, logger, {
      pollIntervalMs: EVENT_LOG_READ_INTERVAL_MS,
    });
    feed.start();
    cleanup.unshift(() => feed.stop());
    const transitions = new Transitions(database, events, clock);
    const processes = new ProcessReads(dataSource);
    const observations = new Observations(dataSource, transitions, clock);
    // The same services on the watchers' pool.
    const watcherTransitions = new Transitions(databases.watchers, events, clock);
    const watcherProcesses = new ProcessReads(background);
    const watcherObservations = new Observations(background, watcherTransitions, clock);
    const agents = new AgentLifecycle(
      database,
      transitions,
      events,
      {
        heartbeatIntervalSeconds: config.heartbeat.intervalSeconds,
        callTimeoutMs: config.heartbeat.agentCallTimeoutMs,
      },
      clock,
    );
    // Replicas announce themselves: each supervisord is polled by one of them.
    const replicas = new Replicas(databases.watchers, clock, logger, {
      redis: config.redisUrl !== undefined,
      polls: config.supervisor.pollIntervalSeconds > 0,
      logReadIntervalMs: EVENT_LOG_READ_INTERVAL_MS,
    });
    await replicas.start();
    cleanup.unshift(() => replicas.stop());
    // What each supervisord answered, kept on the watchers' pool, refreshed by every live answer.
    const hostObservations = new HostObservations(databases.watchers, clock);
    const poller = new SupervisorPoller(
      watcherProcesses,
      watcherObservations,
      hostObservations,
      supervisorClient,
      replicas,
      {
        unreachableAfterPolls: config.supervisor.unreachableAfterPolls,
        listenerFreshSeconds: config.supervisor.listenerFreshSeconds,
        pollIntervalWithListenerSeconds: config.supervisor.pollIntervalWithListenerSeconds,
        concurrency: config.supervisor.pollConcurrency,
      },
      logger,
      clock,
    );
    const watch = new WatchService(
      processes,
      new HeartbeatWatchdog(background, watcherTransitions, health, clock, config.heartbeat.staleSeconds),
      observations,
      hostObservations,
      poller,
      {
        heartbeatStaleSeconds: config.heartbeat.staleSeconds,
        heartbeatCheckIntervalSeconds: config.heartbeat.checkIntervalSeconds,
        pollIntervalSeconds: config.supervisor.pollIntervalSeconds,
      },
      clock,
      logger,
    );
    if (config.alerts.webhookUrl) {
      const webhook = new AlertWebhook(
        {
          url: config.alerts.webhookUrl,
          timeoutMs: config.alerts.webhookTimeoutMs,
          format: config.alerts.webhookFormat,
        },
        logger,
      );
      // Only the replica whose write opened or resolved an incident has its notice.
      events.onRecorded((event) => {
        const notice = incidentTracker.noticeOf(event);
        if (notice) webhook.notify(notice);
      });
      cleanup.unshift(() => webhook.stop());
    }
    cleanup.unshift(logAlerts(events, feed, logger));
    const tokenUsage = new TokenUsage(database, logger);
    // Before the pools close: a use being recorded finishes rather than fails.
    cleanup.unshift(() => tokenUsage.settled());
    const control = new ControlService(
      processes,
      transitions,
      new DesiredStates(transitions, observations, clock),
      supervisorClient,
      logger,
      { controlTimeoutMs: config.supervisor.controlTimeoutMs },
    );
    const subscriptions = new EventStreams(new EventLogReads(dataSource), feed, bus, clock);
    const rollouts = createRollouts({
      database,
      events,
      streams: subscriptions,
      log: new EventLogReads(dataSource),
      processes,
      control,
      client: supervisorClient,
      clock,
      logger,
      replicaId: replicas.id,
      settings: {
        leaseSeconds: config.rollouts.leaseSeconds,
        heartbeatStaleSeconds: config.heartbeat.staleSeconds,
        controlTimeoutMs: config.supervisor.controlTimeoutMs,
      },
    });
    // Automatic restarts under the healing policies: on every replica, each run claimed once.
    const healer = new Healer(
      new HealingStore(
        databases.watchers,
        watcherTransitions,
        clock,
        restartLeaseFor(config.supervisor.controlTimeoutMs),
      ),
      watcherProcesses,
      supervisorClient,
      control,
      clock,
      logger,
      {
        checkIntervalMs: config.healing.checkIntervalMs,
        replicaId: replicas.id,
        concurrency: config.supervisor.pollConcurrency,
      },
    );
    const supervisors = new SupervisorService(supervisorClient, clock, (address, answer) =>
      hostObservations.recordSoon(address, answer),
    );
    // Followed logs: one poll loop per process and stream while anyone follows it.
    const logs = new LogFollows(processes, supervisors, logger);
    cleanup.unshift(() => logs.stop());
    const incidents = new IncidentService(database, dataSource, events, clock);
    const services: Services = {
      events,
      subscriptions,
      audit: new AuditTrail(new EventLogReads(dataSource)),
      processes,
      agents,
      registryAdmin: new RegistryAdmin(transitions, observations, clock),
      hostObservations,
      clock,
      replicas,
      watch,
      tokens: new TokenService(
        database,
        tokenEvents(events),
        {
          bootstrapAdminToken: config.auth.bootstrapAdminToken,
          cacheTtlMs: config.auth.tokenCacheTtlMs,
          onLookup: (outcome) => metrics.tokenLookups.inc({ outcome }),
          usage: tokenUsage,
        },
        clock,
      ),
      supervisors,
      control,
      rollouts: rollouts.service,
      rolloutWatch: rollouts.watch,
      healing: new HealingService(new HealingStore(database, transitions, clock), processes),
      logs,
      incidents,
      silences: new SilenceService(database, dataSource, events, clock),
      incidentWatch: new IncidentWatch(incidents, subscriptions, new EventLogReads(dataSource)),
      settings: {
        heartbeatStaleSeconds: config.heartbeat.staleSeconds,
        pollIntervalSeconds: config.supervisor.pollIntervalSeconds,
      },
    };

    const readiness = async (): Promise<Readiness> => {
      const database = await Promise.race([
        dataSource.query("SELECT 1").then(() => "ok"),
        new Promise<string>((resolve) => setTimeout(resolve, READINESS_TIMEOUT_MS, "timeout").unref()),
      ]).catch((error: unknown) => describeDatabaseError(error));
      const checks: Record<string, string> = { database };
      if (config.redisUrl) checks.redis = bus.healthy() ? "ok" : "unavailable";
      return { ready: database === "ok", checks };
    };

    // Any process event, recorded here or received from another replica, and any live answer
    // this replica stores ends every shared answer.
    const sharedAnswers = new SharedAnswers({ onLookup: (outcome) => metrics.sharedAnswers.inc({ outcome }) });
    events.onRecorded(() => sharedAnswers.changed());
    hostObservations.onStored(() => sharedAnswers.changed());
    const offBus = bus.on("process-events", () => sharedAnswers.changed());
    cleanup.unshift(async () => offBus());
    const http = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      schema: await buildFleetvisorSchema(),
      services,
      authenticate: (token) => services.tokens.authenticate(token),
      mayBeValid: (token) => services.tokens.mayBeValid(token),
      limits: {
        authFailuresPerMinute: config.auth.failuresPerMinute,
        trustedProxyHops: config.http.trustedProxyHops,
        wsMaxSubscriptions: config.webSocket.maxSubscriptions,
        wsMaxConnectionsPerToken: config.webSocket.maxConnectionsPerToken,
        wsTokenRecheckMs: config.webSocket.tokenRecheckMs,
      },
      onAuthFailure: (answer, trackedAddresses) => {
        metrics.authFailures.inc({ answer });
        metrics.authFailureAddresses.set(trackedAddresses);
      },
      readiness,
      metrics: metrics.registry,
      metricsToken: config.metrics.token,
      production: config.production,
      logger,
      graphqlPlugins: [sharedAnswers.plugin()],
    }).catch((error: unknown) => {
      throw listenError(error, config.http.host, config.http.port);
    });
    logger.info({ url: `${http.url}/graphql` }, "fleetvisor is listening");
    // Read at each scrape from what the watchers and the WebSocket transport keep.
    const fleetState = new FleetState(watcherObservations, config.heartbeat.staleSeconds, clock);
    registerFleetGauges(metrics, {
      processesByHealth: () => fleetState.processesByHealth(),
      supervisors: () => poller.reachability(),
      openSubscriptions: () => http.openSubscriptions(),
    });
    watch.start();
    cleanup.unshift(() => watch.stop());
    const eventPruner = new EventPruner(
      new EventRetention(databases.watchers),
      clock,
      logger,
      { retentionDays: config.events.retentionDays },
      [new IncidentRetention(databases.watchers)],
    );
    eventPruner.start();
    cleanup.unshift(() => eventPruner.stop());
    // Incidents no event ends: a FLAPPING process quiet, a crash loop over for a whole window, …
    const quietFlaps = new Periodic(
      "settling incidents",
      Math.max(1_000, (config.incidents.flapWindowSeconds * 1_000) / 4),
      () => incidentTracker.settle(databases.watchers, events),
      logger,
    );
    quietFlaps.start();
    cleanup.unshift(() => quietFlaps.stop());
    // Silences whose `until` passed: their incidents are no longer shown silenced.
    const sweeper = new SilenceService(databases.watchers, databases.watchers.dataSource, events, clock);
    const silencesOver = new Periodic("silences running out", SILENCE_SWEEP_MS, () => sweeper.sweep(), logger);
    silencesOver.start();
    cleanup.unshift(() => silencesOver.stop());
    // Rollouts this replica runs, and those it takes over from replicas that died.
    rollouts.worker.start();
    cleanup.unshift(() => rollouts.worker.stop());
    healer.start();
    cleanup.unshift(() => healer.stop());

    let state: Phase = { phase: "running", http, dataSource, bus };
    return {
      url: http.url,
      port: http.port,
      services,
      eventPruner,
      healer,
      logger,
      stop() {
        if (state.phase === "stopping") return state.done;
        const running = state;
        const done = (async () => {
          logger.info("stopping");
          try {
            await running.http.stop();
          } finally {
            // Whatever happened to the HTTP side, the watchers, the bus and the pool close.
            for (const step of cleanup)
              await step().catch((error: unknown) => logger.warn({ err: error }, "cleanup failed"));
          }
          logger.info("stopped");
        })();
        state = { phase: "stopping", done };
        return done;
      },
    };
  } catch (error) {
    for (const step of cleanup) await step().catch(() => undefined);
    throw error;
  }
}

/** The id every replica on this database shares (see the deployment-identity migration). */
async function deploymentId(dataSource: DataSource): Promise<string> {
  const rows = (await dataSource.query("SELECT id FROM fleetvisor_deployment")) as { id: string }[];
  if (rows.length !== 1) throw new Error(`fleetvisor_deployment must hold one row (it holds ${rows.length})`);
  return rows[0]!.id;
}
