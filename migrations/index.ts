import { RegistryTables1764150000000 } from "./1764150000000-registry-tables.js";
import { SupervisorObservations1764160000000 } from "./1764160000000-supervisor-observations.js";
import { DeploymentIdentity1764180000000 } from "./1764180000000-deployment-identity.js";
import { OwnTablesUtf8mb41764190000000 } from "./1764190000000-own-tables-utf8mb4.js";
import { ReplicasAndHostObservations1764210000000 } from "./1764210000000-replicas-and-host-observations.js";
import { TokenLifetimes1764220000000 } from "./1764220000000-token-lifetimes.js";
import { EventActorToken1764230000000 } from "./1764230000000-event-actor-token.js";
import { EventRetention1764240000000 } from "./1764240000000-event-retention.js";
import { DesiredState1764313000000 } from "./1764313000000-desired-state.js";
import { Rollouts1764313100000 } from "./1764313100000-rollouts.js";
import { Incidents1764314000000 } from "./1764314000000-incidents.js";
import { Healing1764314100000 } from "./1764314100000-healing.js";
import { HealingAttempts1764314300000 } from "./1764314300000-healing-attempts.js";
import { ReplicaPolls1764314400000 } from "./1764314400000-replica-polls.js";

/** Every migration, oldest first. Listed explicitly so that builds and tests find the same set. */
export const migrations = [
  RegistryTables1764150000000,
  SupervisorObservations1764160000000,
  DeploymentIdentity1764180000000,
  OwnTablesUtf8mb41764190000000,
  ReplicasAndHostObservations1764210000000,
  TokenLifetimes1764220000000,
  EventActorToken1764230000000,
  EventRetention1764240000000,
  DesiredState1764313000000,
  Rollouts1764313100000,
  Incidents1764314000000,
  Healing1764314100000,
  HealingAttempts1764314300000,
  ReplicaPolls1764314400000,
];
