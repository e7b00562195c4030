import { LruMap } from "../lru-map.js";

/**
 * Client addresses whose failures are remembered at once; past it the address that failed
 * least recently is forgotten. About 100 bytes each.
 */
export const MAX_TRACKED_ADDRESSES = 10_000;
/** Each failure past half of the limit is answered this much later than the one before. */
export const FAILURE_DELAY_STEP_MS = 100;
/** The longest a failure is held back. */
export const MAX_FAILURE_DELAY_MS = 2_000;
const WINDOW_MS = 60_000;

/** How a client address stands with the failed-authentication limit. */
export type AddressStanding =
  | { readonly standing: "clear" }
  /** Answer this failure after `delayMs`. */
  | { readonly standing: "slowed"; readonly delayMs: number }
  /** Look up no unknown token from it for `retryAfterSeconds`. */
  | { readonly standing: "refused"; readonly retryAfterSeconds: number };

const CLEAR: AddressStanding = Object.freeze({ standing: "clear" });

interface Window {
  /** When the address's current minute began: its first failure in it. */
  startedAt: number;
  failures: number;
  /** Lookups under way that may still fail: they count against the limit until they end. */
  pending: number;
}

export interface AuthFailureLimiterOptions {
  /** Failures one address may make in a minute; 0 turns the limit off. */
  readonly failuresPerMinute: number;
  /** @default MAX_TRACKED_ADDRESSES */
  readonly maxAddresses?: number;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

/**
 * Failed authentications per client address, in fixed one-minute windows that begin with
 * an address's first failure. Up to half of `failuresPerMinute` failures are answered at
 * once; each further one {@link FAILURE_DELAY_STEP_MS} later than the one before (at most
 * {@link MAX_FAILURE_DELAY_MS}); once the limit is reached, the address is refused until
 * its minute ends. Lookups under way count as failures until they end, so that an address
 * cannot get past the limit by sending its guesses all at once.
 *
 * Success does not clear an address's failures: an address is often shared (NAT, an
 * office's proxy), and one valid token there must not reset the budget of whoever guesses
 * next to it. Memory is bounded by `maxAddresses`, whatever the number of addresses.
 */
export class AuthFailureLimiter {
  private readonly windows: LruMap<string, Window>;
  private readonly limit: number;
  private readonly now: () => number;

  constructor(options: AuthFailureLimiterOptions) {
    this.limit = options.failuresPerMinute;
    this.windows = new LruMap(options.maxAddresses ?? MAX_TRACKED_ADDRESSES);
    this.now = options.now ?? Date.now;
  }

  /**
   * Before an unknown token from `address` is looked up: `refused` when the address has
   * reached its limit, otherwise `clear`, and the lookup counts as pending until
   * {@link end}.
   */
  begin(address: string): AddressStanding {
    if (this.limit === 0) return CLEAR;
    const window = this.current(address);
    if (window.failures + window.pending >= this.limit) return this.refusal(window);
    window.pending++;
    return CLEAR;
  }

  /**
   * A lookup {@link begin} allowed has ended; `failed` when the token was unknown or
   * revoked. For a failure, how to answer it.
   */
  end(address: string, failed: boolean): AddressStanding {
    if (this.limit === 0) return CLEAR;
    const window = this.current(address);
    window.pending = Math.max(0, window.pending - 1);
    return failed ? this.fail(window) : CLEAR;
  }

  /**
   * A token looked up although {@link begin} refused its address (it looked valid) failed
   * after all.
   */
  recordFailure(address: string): AddressStanding {
    if (this.limit === 0) return CLEAR;
    return this.fail(this.current(address));
  }

  /** Addresses remembered now; never more than `maxAddresses`. */
  get trackedAddresses(): number {
    return this.windows.size;
  }

  private fail(window: Window): AddressStanding {
    if (window.failures === 0) window.startedAt = this.now();
    window.failures++;
    if (window.failures > this.limit) return this.refusal(window);
    const beyondHalf = window.failures - Math.floor(this.limit / 2);
    if (beyondHalf <= 0) return CLEAR;
    return { standing: "slowed", delayMs: Math.min(MAX_FAILURE_DELAY_MS, beyondHalf * FAILURE_DELAY_STEP_MS) };
  }

  private refusal(window: Window): AddressStanding {
    // Refused for lookups still under way: they end within a second or so.
    if (window.failures < this.limit) return { standing: "refused", retryAfterSeconds: 1 };
    const remainingMs = window.startedAt + WINDOW_MS - this.now();
    return { standing: "refused", retryAfterSeconds: Math.max(1, Math.ceil(remainingMs / 1000)) };
  }

  /** The address's window; its failures are forgotten once their minute is over. */
  private current(address: string): Window {
    const now = this.now();
    let window = this.windows.get(address);
    if (!window) {
      window = { startedAt: now, failures: 0, pending: 0 };
      this.windows.set(address, window);
    } else if (window.failures > 0 && now - window.startedAt >= WINDOW_MS) {
      window.failures = 0;
    }
    return window;
  }
}
