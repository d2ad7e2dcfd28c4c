/**
 * Issue 10 item 2: the VT-d IOTLB's hash index (spec/18-vtd-unit.md#unit-iotlb) behaves as the
 * plain model it replaced — one entry per (tag, page size, page), FIFO eviction over a ring,
 * lookups trying 4 KiB, 2 MiB then 1 GiB — over random sequences of fills, lookups and
 * invalidations. A small capacity and few tags and pages force long probe runs, wrap-around and
 * deletions in the middle of runs. Seeded fast-check: the same cases on every run.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { VtdIotlb } from "../../lib/internal.ts";

const SHIFTS = [12, 21, 30];
const SIZES = [2 ** 12, 2 ** 21, 2 ** 30];

interface RefEntry {
  tag: number;
  did: number;
  s: number;
  key: number;
  pa: number;
  read: boolean;
  write: boolean;
}

/** The reference: a FIFO ring and a lookup by linear search. */
class Reference {
  ring: (RefEntry | null)[];
  pos = 0;
  constructor(readonly capacity: number) {
    this.ring = new Array(capacity).fill(null);
  }
  static key(iova: number, s: number): number {
    return Math.floor(iova / 2 ** SHIFTS[s]);
  }
  find(tag: number, s: number, key: number): number {
    return this.ring.findIndex((e) => e !== null && e.tag === tag && e.s === s && e.key === key);
  }
  lookup(tag: number, iova: number, write: boolean): RefEntry | null {
    for (let s = 0; s < 3; s++) {
      const i = this.find(tag, s, Reference.key(iova, s));
      if (i >= 0) {
        const e = this.ring[i]!;
        return (write ? e.write : e.read) ? e : null;
      }
    }
    return null;
  }
  fill(e: RefEntry): void {
    const old = this.find(e.tag, e.s, e.key);
    if (old >= 0) this.ring[old] = null;
    this.ring[this.pos] = e;
    this.pos = (this.pos + 1) % this.capacity;
  }
  invalidate(match: (e: RefEntry) => boolean, first: number, count: number): number {
    let n = 0;
    this.ring.forEach((e, i) => {
      if (e === null || !match(e)) return;
      const span = 2 ** (SHIFTS[e.s] - 12), start = e.key * span;
      if (count !== Infinity && (start + span <= first || start >= first + count)) return;
      this.ring[i] = null;
      n++;
    });
    return n;
  }
  get size(): number {
    return this.ring.filter((e) => e !== null).length;
  }
}

type Op =
  | { op: "fill"; tag: number; s: number; page: number; hi: number; pa: number; rw: number }
  | { op: "lookup"; tag: number; page: number; hi: number; write: boolean }
  | { op: "inv"; did: number | null; first: number; count: number };

const tagOf = (t: number) => (t % 3) * 2 ** 21 + (t >> 2); // DIDs 0..2, PASID tags 0..
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("fill" as const),
    tag: fc.integer({ min: 0, max: 3 }),
    s: fc.integer({ min: 0, max: 2 }),
    page: fc.integer({ min: 0, max: 47 }),
    hi: fc.constantFrom(0, 0xfffff),
    pa: fc.integer({ min: 0, max: 2 ** 20 }),
    rw: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    op: fc.constant("lookup" as const),
    tag: fc.integer({ min: 0, max: 3 }),
    page: fc.integer({ min: 0, max: 47 }),
    hi: fc.constantFrom(0, 0xfffff),
    write: fc.boolean(),
  }),
  fc.record({
    op: fc.constant("inv" as const),
    did: fc.option(fc.integer({ min: 0, max: 2 })),
    first: fc.integer({ min: 0, max: 4096 }),
    count: fc.constantFrom(1, 2, 512, 4096, Infinity),
  }),
);

Deno.test("vtd IOTLB index ≡ a FIFO ring searched linearly (seeded)", () => {
  let hits = 0, drops = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.array(opArb, { minLength: 100, maxLength: 300 }),
      (cap, ops) => {
        const tlb = new VtdIotlb(cap), ref = new Reference(cap);
        for (const o of ops) {
          if (o.op === "fill") {
            // page numbers in 4 KiB units, spread over a few 2 MiB and 1 GiB pages
            const iova = o.hi * 2 ** 32 + o.page * 0x1000 * 0x2_0025 % 2 ** 32;
            const tag = tagOf(o.tag), did = tag >= 2 ** 21 ? Math.floor(tag / 2 ** 21) : 0;
            const page = Math.floor(iova / SIZES[o.s]) * SIZES[o.s];
            const e = {
              tag,
              did,
              s: o.s,
              key: Reference.key(iova, o.s),
              pa: o.pa * 4096,
              read: (o.rw & 1) !== 0,
              write: (o.rw & 2) !== 0,
            };
            tlb.fill(
              tag,
              did,
              0,
              2,
              Math.floor(iova / 2 ** 32),
              iova >>> 0,
              SIZES[o.s],
              e.pa,
              e.read,
              e.write,
            );
            ref.fill(e);
            assert.ok(page <= iova);
          } else if (o.op === "lookup") {
            const iova = o.hi * 2 ** 32 + o.page * 0x1000 * 0x2_0025 % 2 ** 32 + 0x123;
            const tag = tagOf(o.tag);
            const got = tlb.lookup(tag, Math.floor(iova / 2 ** 32), iova >>> 0, o.write);
            const want = ref.lookup(tag, iova, o.write);
            assert.equal(got === null, want === null, `lookup 0x${iova.toString(16)} tag ${tag}`);
            if (got !== null && want !== null) {
              hits++;
              assert.deepEqual(
                [got.tag, got.sizeIndex, got.key, got.pa, got.read, got.write],
                [want.tag, want.s, want.key, want.pa, want.read, want.write],
              );
            }
          } else {
            const m = o.did === null ? () => true : (e: { did: number }) => e.did === o.did;
            const n = tlb.invalidate(m, o.first, o.count);
            assert.equal(n, ref.invalidate(m, o.first, o.count));
            drops += n;
          }
          assert.equal(tlb.size, ref.size);
          assert.equal([...tlb.entries()].length, ref.size);
        }
      },
    ),
    { seed: 0x10_7a6b, numRuns: 300 },
  );
  // not vacuous: lookups hit and invalidations dropped entries
  assert.ok(hits > 300, `${hits} hits`);
  assert.ok(drops > 200, `${drops} dropped`);
});
