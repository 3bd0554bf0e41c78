// Time comes from an injected clock so tests can pin it.
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };
