/**
 * A small seeded PRNG (sfc32, seeded through a string hash), so `npm run seed -- --seed S`
 * writes the same population every time: no dependency, and nothing here reads the clock or
 * Math.random.
 */

/** 32-bit hash of a string (MurmurHash3's mixing), to turn any seed text into PRNG state. */
function hash(text: string, salt: number): number {
  let h = 1779033703 ^ salt ^ text.length;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  h = Math.imul(h ^ (h >>> 16), 2246822507);
  h = Math.imul(h ^ (h >>> 13), 3266489909);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    this.a = hash(seed, 1);
    this.b = hash(seed, 2);
    this.c = hash(seed, 3);
    this.d = hash(seed, 4);
    for (let i = 0; i < 12; i++) this.next(); // let the state mix before using it
  }

  /** A float in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [low, high]. */
  between(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** `n` distinct items (all of them when there are fewer). */
  sample<T>(items: readonly T[], n: number): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, n);
  }

  /** A string of decimal digits. */
  digits(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += String(this.int(10));
    return out;
  }

  /** One decimal place, in [low, high]. */
  decimal(low: number, high: number, places = 1): number {
    const f = 10 ** places;
    return Math.round((low + this.next() * (high - low)) * f) / f;
  }
}
