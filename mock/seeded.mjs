// Seeded randomness shared by the chaos API and the storm that drives it,
// in a module of its own so a Worker can import it (the chaos API itself
// needs node:http).

/** A 32-bit generator (mulberry32): small, fast and the same everywhere. */
export function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed from a run's seed and a string (FNV-1a). */
export function mix(seed, text) {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}
