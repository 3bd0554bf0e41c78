// Durations in config are strings like "90s", "15m", "8h", "7d" (or "0"); code works in milliseconds.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]);
  const unit = m[2];
  if (unit === undefined) return value === 0 ? 0 : undefined;
  return Math.round(value * (UNITS[unit] ?? 0));
}
