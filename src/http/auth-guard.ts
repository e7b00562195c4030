import type { IncomingMessage } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Principal } from "../auth/principal.js";
import { UnreachableCaseError } from "../errors.js";
import { AuthFailureLimiter, type AddressStanding } from "./auth-failure-limiter.js";
import type { Authenticate } from "./bearer-auth.js";
import { clientAddress } from "./client-address.js";

/** What the check of a request's or a socket's bearer token found. */
export type AuthVerdict =
  | { readonly verdict: "authenticated"; readonly principal: Principal }
  /** No token was sent: 401 / 4401, and not a failure (nothing was guessed or looked up). */
  | { readonly verdict: "missing" }
  /** The token is unknown or revoked: 401 / 4401. */
  | { readonly verdict: "rejected" }
  /** The client's address made too many failures: 429 / 4429, the token not looked up. */
  | { readonly verdict: "refused"; readonly retryAfterSeconds: number };

/** How a failed authentication was answered, for metrics. */
export type AuthFailureAnswer = "rejected" | "slowed" | "refused";

export interface AuthGuardOptions {
  /** Throws `DatabaseUnavailableError` when the database cannot answer (see `withDatabaseOutage`). */
  readonly authenticate: Authenticate;
  /** Whether `token` may be valid, without a lookup of its own (`TokenService.mayBeValid`). */
  readonly mayBeValid: (token: string) => Promise<boolean>;
  /** 0 turns the limit off. */
  readonly failuresPerMinute: number;
  /** How many proxies in front may name the client in `X-Forwarded-For` (see `clientAddress`). */
  readonly trustedProxyHops: number;
  /** Told of every failed authentication, and how many addresses the limiter remembers. */
  readonly onFailure?: (answer: AuthFailureAnswer, trackedAddresses: number) => void;
}

const MISSING: AuthVerdict = Object.freeze({ verdict: "missing" });
const REJECTED: AuthVerdict = Object.freeze({ verdict: "rejected" });

/**
 * The bearer-token check both transports share, with the failed-authentication limit
 * around it (see {@link AuthFailureLimiter}).
 *
 * From an address that reached its limit, a token is looked up only if it may be valid
 * (`mayBeValid`: the bootstrap token, one verified here, or one whose hash is among the
 * unrevoked tokens'), so a valid token keeps working from an address someone else is
 * guessing from, while the guesses are refused without a lookup: a flood of wrong tokens
 * costs the database the limit's worth of lookups per address and minute, and one read
 * of the known hashes every few seconds.
 */
export class AuthGuard {
  private readonly limiter: AuthFailureLimiter;

  constructor(private readonly options: AuthGuardOptions) {
    this.limiter = new AuthFailureLimiter({ failuresPerMinute: options.failuresPerMinute });
  }

  async check(token: string | undefined, request: Pick<IncomingMessage, "headers" | "socket">): Promise<AuthVerdict> {
    if (!token) return MISSING;
    const address = clientAddress(request, this.options.trustedProxyHops);
    const before = this.limiter.begin(address);
    if (before.standing === "refused") {
      if (!(await this.options.mayBeValid(token))) return this.failed(before);
      const principal = await this.options.authenticate(token);
      return principal ? { verdict: "authenticated", principal } : this.failed(this.limiter.recordFailure(address));
    }
    let principal: Principal | null;
    try {
      principal = await this.options.authenticate(token);
    } catch (error) {
      // No verdict on the token (the database did not answer): not a failure.
      this.limiter.end(address, false);
      throw error;
    }
    const after = this.limiter.end(address, principal === null);
    return principal ? { verdict: "authenticated", principal } : this.failed(after);
  }

  /** Addresses the limiter remembers now. */
  get trackedAddresses(): number {
    return this.limiter.trackedAddresses;
  }

  private async failed(standing: AddressStanding): Promise<AuthVerdict> {
    switch (standing.standing) {
      case "clear":
        this.observe("rejected");
        return REJECTED;
      case "slowed":
        this.observe("slowed");
        // Unref'd: a held-back 401 never keeps the process alive.
        await sleep(standing.delayMs, undefined, { ref: false });
        return REJECTED;
      case "refused":
        this.observe("refused");
        return { verdict: "refused", retryAfterSeconds: standing.retryAfterSeconds };
      default:
        throw new UnreachableCaseError(standing);
    }
  }

  private observe(answer: AuthFailureAnswer): void {
    this.options.onFailure?.(answer, this.limiter.trackedAddresses);
  }
}
