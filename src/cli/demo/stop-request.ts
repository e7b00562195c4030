/** The demo was asked to stop while it was still starting. */
export class StopRequested extends Error {
  constructor(readonly reason: string) {
    super(`stopped while starting (${reason})`);
    this.name = "StopRequested";
  }
}

/** The first request to stop (a signal, the parent gone), which every wait of the demo races. */
export class StopRequest {
  private reasonGiven: string | undefined;
  private resolve!: (reason: string) => void;
  /** Resolves with the reason once a stop is requested. */
  readonly requested: Promise<string> = new Promise((resolve) => (this.resolve = resolve));

  get reason(): string | undefined {
    return this.reasonGiven;
  }

  /** Returns false when a stop was already requested (the request is then ignored). */
  request(reason: string): boolean {
    if (this.reasonGiven !== undefined) return false;
    this.reasonGiven = reason;
    this.resolve(reason);
    return true;
  }

  /** Throws {@link StopRequested} once a stop is requested: between steps that start something. */
  check(): void {
    if (this.reasonGiven !== undefined) throw new StopRequested(this.reasonGiven);
  }

  /**
   * `work`, unless a stop comes first. Only for waits: what `work` would start is not
   * stopped by this, so anything that creates a resource is awaited, then {@link check}ed.
   */
  race<T>(work: Promise<T>): Promise<T> {
    // Settled after a stop won, it is no longer anyone's concern.
    work.catch(() => undefined);
    return Promise.race([
      work,
      this.requested.then((reason) => {
        throw new StopRequested(reason);
      }),
    ]);
  }
}
