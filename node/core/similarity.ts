// How alike two results are, in parts per million, for verification by re-execution: a pure,
// integer, byte-exact function that every implementation computes the same way (no Unicode
// tables, no floats). Ollama is not bit-reproducible on GPUs even with a seed, so honest runs
// may differ a little; a different answer must still score low.
//
// 1. Normalise each result's UTF-8 bytes: ASCII letters A-Z become a-z; each run of ASCII
//    whitespace (space, tab, CR, LF, VT, FF) becomes one space; leading and trailing spaces go.
//    Other bytes (digits, punctuation, every byte of a non-ASCII character) stay as they are.
// 2. Identical normalised bytes: 1,000,000. If either is shorter than MIN_BYTES: 0 (a short
//    answer must match exactly: "Paris" against "Rome").
// 3. Otherwise the multiset Jaccard index of their 4-byte shingles (every run of 4 consecutive
//    bytes, counted with multiplicity): floor(10^6 x |A ∩ B| / |A ∪ B|). It reads order across
//    word boundaries only (the same words shuffled keep most shingles inside words: about 0.6)
//    and works for any script (it sees bytes).
// 4. The score is the smaller of that and the ratio of the completion token counts both runs
//    reported: floor(10^6 x min / max) (1,000,000 when both are 0).
//
// For scale (scripts/similarity-calibration.ts): an answer that shares half its words with another
// scores about 0.3; another answer to the same question about 0.13; two texts that agree on their
// first fraction f and then differ score about f / (2 - f) (0.66 for a fork after 75%).

/** Normalised results shorter than this must match exactly. */
export const MIN_BYTES = 16
const PPM = 1_000_000

const utf8 = new TextEncoder()

/** The normalised bytes of a result. */
export function normalise (text: string): Uint8Array {
  const b = utf8.encode(text)
  const out = new Uint8Array(b.length)
  let n = 0
  let space = false
  for (const x of b) {
    if (x === 0x20 || (x >= 0x09 && x <= 0x0d)) { space = n > 0; continue }
    if (space) { out[n++] = 0x20; space = false }
    out[n++] = x >= 0x41 && x <= 0x5a ? x + 0x20 : x
  }
  return out.subarray(0, n)
}

function shingles (b: Uint8Array): Map<number, number> {
  const m = new Map<number, number>()
  for (let i = 0; i + 4 <= b.length; i++) {
    const k = ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0
    m.set(k, (m.get(k) ?? 0) + 1)
  }
  return m
}

/** The multiset Jaccard index of two byte strings' 4-byte shingles, in ppm. */
export function shingleJaccardPpm (a: Uint8Array, b: Uint8Array): number {
  const sa = shingles(a)
  const sb = shingles(b)
  let inter = 0
  let union = 0
  for (const [k, ca] of sa) {
    const cb = sb.get(k) ?? 0
    inter += Math.min(ca, cb)
    union += Math.max(ca, cb)
  }
  for (const [k, cb] of sb) if (!sa.has(k)) union += cb
  return union === 0 ? PPM : Math.floor(inter * PPM / union)
}

/** The ratio of two counts, in ppm (1,000,000 when both are 0). */
export function countRatioPpm (x: number, y: number): number {
  const hi = Math.max(x, y)
  return hi === 0 ? PPM : Math.floor(Math.min(x, y) * PPM / hi)
}

/** How alike two results are, in ppm (see the top of this file). */
export function similarityPpm (a: { text: string, completionTokens: number }, b: { text: string, completionTokens: number }): number {
  const na = normalise(a.text)
  const nb = normalise(b.text)
  const equal = na.length === nb.length && na.every((x, i) => x === nb[i])
  const texts = equal ? PPM : (na.length < MIN_BYTES || nb.length < MIN_BYTES) ? 0 : shingleJaccardPpm(na, nb)
  return Math.min(texts, countRatioPpm(a.completionTokens, b.completionTokens))
}
