const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The longest duration accepted: anything longer is a typo, not a policy. */
const MAX_MS = 100 * 365 * UNIT_MS.d;

/**
 * `30d`, `12h`, `15m`, `90s` in milliseconds: a whole number of one unit. `undefined`
 * when `text` is not such a duration, or is zero or more than a century.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms > 0 && ms <= MAX_MS ? ms : undefined;
}
