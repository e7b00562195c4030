import { Column, Entity, PrimaryColumn } from "typeorm";

/** What supervisord last said of one registry process; see the migration. */
@Entity({ name: "fleetvisor_supervisor_observations" })
export class SupervisorObservationEntity {
  @PrimaryColumn({ name: "process_name", type: "varchar", length: 100 })
  processName!: string;

  /** A supervisord state name, or UNREACHABLE. */
  @Column({ name: "state", type: "varchar", length: 16 })
  state!: string;

  /** 0 when not running. */
  @Column({ name: "pid", type: "int", default: 0 })
  pid!: number;

  /** On supervisord's clock (the poller's `now`, the listener's time of the event). */
  @Column({ name: "observed_at", type: "datetime", precision: 3 })
  observedAt!: Date;
}
