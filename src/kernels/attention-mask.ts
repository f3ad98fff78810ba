// The attention mask, as WGSL for every kernel that applies it (attention.ts states the rule): key j
// is seen from position pos iff keyStart ≤ j (left padding), j < prefixLen or j ≤ pos (the
// bidirectional prefix, then causal), and |pos − j| < window (Gemma 2's sliding layers; u32 max = none).

/** WGSL: `fn sees(j, pos, keyStart, prefixLen, window) -> bool`. */
export const seesWgsl = /* wgsl */ `
fn sees(j: u32, pos: u32, keyStart: u32, prefixLen: u32, window: u32) -> bool {
  return j >= keyStart && (j < prefixLen || j <= pos) && max(j, pos) - min(j, pos) < window;
}`;

/**
 * WGSL: `fn seenKeys(pos, keyStart, prefixLen, window, keys) -> vec2u`, the keys j < keys that
 * sees() lets pos see as one range [x, y): each of its conditions bounds j from one side.
 */
export const seenKeysWgsl = /* wgsl */ `
fn seenKeys(pos: u32, keyStart: u32, prefixLen: u32, window: u32, keys: u32) -> vec2u {
  let lo = max(keyStart, select(0u, pos + 1u - window, pos + 1u > window));
  let hi = min(min(keys, max(prefixLen, pos + 1u)), pos + min(window, keys));
  return vec2u(lo, max(lo, hi));
}`;
