/**
 * Linux generic_pt's KUnit format and domain suites (drivers/iommu/generic_pt/kunit_*.h, reference
 * notes §6; post-v6.12), their semantics reimplemented for VT-d's formats
 * (spec/17-vtd-page-walk.md#vtd-formats): second stage with 3, 4 and 5 levels and first stage with
 * 4 and 5 levels, each with the leak check. The generic table writer (PtDomain) writes VT-d tables
 * through the format's encode, and every translation it reports is checked against VT-d's own
 * walker (vtdWalkSecondStage / vtdWalkFirstStage) reading the same memory.
 *
 * The suite bodies are a format-parametrised helper, {@link ptKunitSuites}, kept in this file
 * because tests/hw/pt_kunit.ts (the shared one) does not exist on this branch; the lead unifies them.
 */
import assert from "node:assert/strict";
import {
  EADDRINUSE,
  PhysMem,
  pt_compute_best_pgsize,
  type PtAttrs,
  PtDomain,
  type PtFormat,
  type PtMemory,
  VtdFirstStage,
  vtdFirstStageFormat,
  type VtdFirstStageOptions,
  VtdSecondStage,
  vtdSecondStageFormat,
  type VtdSecondStageOptions,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";

/** One format under test and what the suites must know about it. */
export interface KunitFormat {
  fmt: PtFormat;
  /** Memory for a fresh domain. */
  memory(): PtMemory;
  /** The leaf protections the format can encode (for test_attr_from_entry). */
  protections: PtAttrs[];
  /** Attributes the domain tests map with. */
  rw: PtAttrs;
  /** Whether the highest input below 2^inputBits is legal (zero-extended, not sign-extended). */
  topInputOk: boolean;
  /** The architecture's own walker's answer for `iova` in domain `d`: output address, or 0n. */
  walk?(d: PtDomain, iova: bigint): bigint;
}

const TEST_OA = 0x74a71445deadbeefn;

/** mulberry32: a seeded PRNG in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Registers generic_pt's suites for one format. */
export function ptKunitSuites(k: KunitFormat): void {
  const { fmt } = k;
  const maxOa = (1n << BigInt(fmt.maxOaBits)) - 1n;
  const leaf = (d: ReturnType<PtFormat["decode"]>) =>
    d.kind === "leaf" ? { kind: d.kind, oa: d.oa, sizeShift: d.sizeShift } : d;

  /** Runs `body` on a fresh domain and checks the leak rule afterwards. */
  function withDomain(body: (d: PtDomain) => void): void {
    const d = new PtDomain(fmt, k.memory());
    assert.ok(d.tablePages >= 1);
    body(d);
    d.free();
    assert.equal(d.tablePages, 0, `${fmt.name}: table pages leaked`);
  }

  /** The writer's answer, checked against the architecture's walker when there is one. */
  function translate(d: PtDomain, iova: bigint): bigint {
    const pa = d.iova_to_phys(iova);
    if (k.walk) assert.equal(k.walk(d, iova), pa, `${fmt.name}: the walker disagrees at ${iova}`);
    return pa;
  }

  Deno.test(`${fmt.name} test_table_radix: levels decode contiguous, non-overlapping bits covering the input`, () => {
    let next = 12;
    for (let l = 0; l < fmt.levels; l++) {
      assert.equal(fmt.indexShift(l), next, `level ${l} starts where level ${l - 1} ended`);
      next += fmt.indexBits(l);
      assert.equal(fmt.tableBytes(l), 8 << fmt.indexBits(l));
    }
    assert.equal(next, fmt.inputBits);
    assert.equal(fmt.inputOk(1n << BigInt(fmt.inputBits)), false);
    assert.equal(fmt.inputOk((1n << BigInt(fmt.inputBits)) - 1n), k.topInputOk);
  });

  Deno.test(`${fmt.name} test_entry_oa: every leaf size with test_oa, 0 and the max OA decodes back`, () => {
    let sizes = 0;
    for (let l = 0; l < fmt.levels; l++) {
      for (const shift of fmt.leafShifts(l)) {
        sizes++;
        const size = 1n << BigInt(shift);
        for (const raw of [TEST_OA & maxOa, 0n, maxOa]) {
          const oa = raw & ~(size - 1n);
          const entries = fmt.encodeLeaf(oa, l, shift, k.rw);
          assert.equal(entries.length, 1 << (shift - fmt.indexShift(l)));
          for (const e of entries) {
            assert.deepEqual(
              leaf(fmt.decode(e, l)),
              { kind: "leaf", oa, sizeShift: shift },
              `${fmt.name} L${l} 2^${shift}`,
            );
          }
          assert.equal(fmt.decode(0n, l).kind, "fault");
        }
      }
      const t = fmt.encodeTable(0x1234000n);
      if (l > 0) assert.equal((fmt.decode(t, l) as { next: bigint }).next, 0x1234000n);
    }
    assert.ok(sizes >= 3, "4 KiB, 2 MiB and 1 GiB leaves");
  });

  Deno.test(`${fmt.name} test_attr_from_entry: entry → attrs → entry is the identity for every protection`, () => {
    let n = 0;
    for (const attrs of k.protections) {
      for (let l = 0; l < fmt.levels; l++) {
        for (const shift of fmt.leafShifts(l)) {
          const [e] = fmt.encodeLeaf(0x40000000n, l, shift, attrs);
          assert.deepEqual(fmt.attrs(e), attrs);
          assert.deepEqual(fmt.encodeLeaf(0x40000000n, l, shift, fmt.attrs(e)), [e]);
          n++;
        }
      }
    }
    assert.ok(n >= 3 * k.protections.length);
  });

  Deno.test(`${fmt.name} test_best_pgsize: the selector agrees with a brute-force reference`, () => {
    const d = new PtDomain(fmt, k.memory());
    const shifts = d.pgsizeShifts;
    const rnd = prng(42);
    const ctz = (v: bigint) => {
      if (v === 0n) return 64;
      let n = 0;
      while (((v >> BigInt(n)) & 1n) === 0n) n++;
      return n;
    };
    for (let i = 0; i < 2000; i++) {
      const r = (bits: number) =>
        BigInt(Math.floor(rnd() * 2 ** 30)) << BigInt(Math.floor(rnd() * bits));
      const va = r(fmt.inputBits - 31) & ~0xfffn, oa = r(26) & ~0xfffn;
      const len = (r(fmt.inputBits - 31) & ~0xfffn) + 0x1000n;
      const fit = Math.min(ctz(va), ctz(oa));
      const want = Math.max(0, ...shifts.filter((s) => s <= fit && (1n << BigInt(s)) <= len));
      assert.equal(pt_compute_best_pgsize(shifts, va, va + len - 1n, oa), want);
    }
    d.free();
  });

  Deno.test(`${fmt.name} test_map_simple: one page of every size maps, translates, counts once, unmaps`, () => {
    withDomain((d) => {
      for (const shift of d.pgsizeShifts) {
        const size = 1n << BigInt(shift);
        const iova = size * 3n, oa = (TEST_OA & maxOa) & ~(size - 1n);
        assert.equal(d.map_pages(iova, oa, size, k.rw), 0, `map 2^${shift}`);
        const stride = shift <= 21 ? 0x1000n : (size / 97n) & ~0xfffn;
        for (let off = 0n; off < size; off += stride) {
          assert.equal(translate(d, iova + off), oa + off);
        }
        assert.equal(translate(d, iova + size - 8n), oa + size - 8n);
        assert.equal(d.countLeaves().get(shift), 1);
        assert.equal(d.unmap_pages(iova, size), size);
        assert.equal(translate(d, iova), 0n);
        assert.equal(d.countLeaves().size, 0);
      }
      assert.deepEqual(d.pgsizeShifts, [12, 21, 30]);
    });
  });

  Deno.test(`${fmt.name} test_unmap_split: unmapping the first 4 KiB of a 2 MiB leaf removes the whole leaf only`, () => {
    withDomain((d) => {
      const base = 0x4000_0000n, big = 0x20_0000n;
      assert.equal(d.map_pages(base, 0x8000_0000n, 2n * big, k.rw), 0);
      assert.deepEqual([...d.countLeaves()], [[21, 2]]);
      assert.equal(d.unmap_pages(base, 0x1000n), big);
      assert.equal(translate(d, base + 0x1000n), 0n);
      assert.equal(translate(d, base + big), 0x8000_0000n + big, "the next leaf is untouched");
      assert.equal(d.unmap_pages(base + big + 0x1000n, 0x1000n), 0n);
      assert.equal(d.unmap_pages(base + big, big), big);
    });
  });

  Deno.test(`${fmt.name} test_random_map: 1000 random maps and unmaps against a reference`, () => {
    withDomain((d) => {
      const rnd = prng(7);
      const window = 1n << 28n;
      const leaves = new Map<bigint, { size: bigint; oa: bigint }>();
      const overlaps = (iova: bigint, size: bigint) =>
        [...leaves].filter(([a, l]) => a < iova + size && iova < a + l.size);
      for (let i = 0; i < 1000; i++) {
        const shift = [12, 12, 12, 21][Math.floor(rnd() * 4)];
        const size = 1n << BigInt(shift);
        const iova = (BigInt(Math.floor(rnd() * Number(window))) / size) * size;
        const oa = (BigInt(Math.floor(rnd() * 2 ** 40)) / size) * size;
        const hit = overlaps(iova, size);
        if (rnd() < 0.7) {
          const rc = d.map_pages(iova, oa, size, k.rw);
          if (hit.length) {
            assert.equal(rc, -EADDRINUSE);
            for (const [a, l] of hit) {
              assert.equal(d.unmap_pages(a, l.size), l.size);
              leaves.delete(a);
            }
          } else {
            assert.equal(rc, 0);
            leaves.set(iova, { size, oa });
          }
        } else {
          for (const [a, l] of hit) {
            assert.equal(d.unmap_pages(a, l.size), l.size);
            leaves.delete(a);
          }
        }
        const probe = (BigInt(Math.floor(rnd() * Number(window))) >> 12n) << 12n;
        const owner = overlaps(probe, 1n)[0];
        assert.equal(translate(d, probe), owner ? owner[1].oa + probe - owner[0] : 0n);
      }
      for (const [a, l] of leaves) {
        for (let off = 0n; off < l.size; off += 0x1000n) {
          assert.equal(d.iova_to_phys(a + off), l.oa + off);
        }
      }
      const counted = [...d.countLeaves().values()].reduce((x, y) => x + y, 0);
      assert.equal(counted, leaves.size);
    });
  });

  Deno.test(`${fmt.name} test_pgsize_boundary: 0xfef80000..0xfef9ffff → 0x208b95d000 in 4 KiB leaves`, () => {
    withDomain((d) => {
      assert.equal(d.map_pages(0xfef80000n, 0x208b95d000n, 0x20000n, k.rw), 0);
      assert.deepEqual([...d.countLeaves()], [[12, 32]]);
      for (let off = 0n; off < 0x20000n; off += 0x1000n) {
        assert.equal(translate(d, 0xfef80000n + off), 0x208b95d000n + off);
      }
      assert.equal(translate(d, 0xfefa0000n), 0n);
    });
  });

  Deno.test(`${fmt.name} test_mixed: [0x3fe400000, 0x4c0600000) maps as exactly 14×2M + 3×1G + 3×2M`, () => {
    withDomain((d) => {
      const start = 0x3fe400000n, end = 0x4c0600000n;
      assert.equal(d.map_pages(start, start, end - start, k.rw), 0);
      assert.deepEqual(new Map([...d.countLeaves()]), new Map([[21, 17], [30, 3]]));
      for (let a = start; a < end; a += 0x20_0000n) {
        assert.equal(translate(d, a), a);
        assert.equal(translate(d, a + 0x1f_f123n), a + 0x1f_f123n);
      }
      assert.equal(translate(d, end), 0n);
      assert.equal(d.unmap_pages(start, end - start), end - start);
    });
  });
}

/** PhysMem as a PtMemory, so VT-d's own walker can read what the writer wrote. */
class PhysPtMemory implements PtMemory {
  constructor(readonly mem: PhysMem) {}
  read64(pa: bigint): bigint {
    return this.mem.read64(Number(pa));
  }
  write64(pa: bigint, value: bigint): void {
    this.mem.write64(Number(pa), value);
  }
}

const RAM = 2 ** 40;
const attrs = (read: boolean, write: boolean, user: boolean): PtAttrs => ({
  read,
  write,
  exec: false,
  user,
  memType: 0,
});

function ssSuite(opts: Omit<VtdSecondStageOptions, "root">): void {
  const fmt = vtdSecondStageFormat(new VtdSecondStage({ root: 0, ...opts }));
  const stages = new Map<PtDomain, VtdSecondStage>();
  ptKunitSuites({
    fmt,
    memory: () => new PhysPtMemory(new PhysMem(RAM)),
    protections: [attrs(true, false, false), attrs(false, true, false), attrs(true, true, false)],
    rw: attrs(true, true, false),
    topInputOk: true,
    walk(d, iova) {
      let ss = stages.get(d);
      if (!ss) stages.set(d, ss = new VtdSecondStage({ root: Number(d.root), ...opts }));
      const out = vtdWalkSecondStage(
        (d.mem as PhysPtMemory).mem,
        ss,
        iova,
        { write: true },
        new VtdWalk(),
      );
      if (!out.ok) assert.equal(out.check, "vtd-ss-check-perm", out.describe());
      return out.ok ? BigInt(out.pa) : 0n;
    },
  });
}

function fsSuite(opts: Omit<VtdFirstStageOptions, "root">): void {
  const fmt = vtdFirstStageFormat(new VtdFirstStage({ root: 0, ...opts }));
  const stages = new Map<PtDomain, VtdFirstStage>();
  ptKunitSuites({
    fmt,
    memory: () => new PhysPtMemory(new PhysMem(RAM)),
    protections: [
      attrs(true, false, false),
      attrs(true, true, false),
      attrs(true, false, true),
      attrs(true, true, true),
    ],
    rw: attrs(true, true, true),
    topInputOk: false,
    walk(d, iova) {
      let fs = stages.get(d);
      if (!fs) stages.set(d, fs = new VtdFirstStage({ root: Number(d.root), ...opts }));
      const out = vtdWalkFirstStage(
        (d.mem as PhysPtMemory).mem,
        fs,
        iova,
        { write: true },
        new VtdWalk(),
      );
      if (!out.ok) assert.equal(out.check, "vtd-fs-check-present", out.describe());
      return out.ok ? BigInt(out.pa) : 0n;
    },
  });
}

ssSuite({ aw: 1 });
ssSuite({ aw: 2 });
ssSuite({ aw: 3, mgaw: 57 });
fsSuite({ flpm: 0 });
fsSuite({ flpm: 1 });

Deno.test("VT-d second stage without 1 GiB pages (SLLPS=1): the writer maps 1 GiB as 512 × 2 MiB", () => {
  const fmt = vtdSecondStageFormat(new VtdSecondStage({ root: 0, sllps: 1 }));
  const d = new PtDomain(fmt, new PhysPtMemory(new PhysMem(RAM)));
  assert.deepEqual(d.pgsizeShifts, [12, 21]);
  assert.equal(d.map_pages(0x4000_0000n, 0x8000_0000n, 0x4000_0000n, attrs(true, true, false)), 0);
  assert.deepEqual([...d.countLeaves()], [[21, 512]]);
  const ss = new VtdSecondStage({ root: Number(d.root), sllps: 1 });
  const out = vtdWalkSecondStage((d.mem as PhysPtMemory).mem, ss, 0x7fff_f123, {}, new VtdWalk());
  assert.equal(out.describe(), "PA 0xbffff123 (2 MiB page, rw, 3 reads)");
  d.free();
  assert.equal(d.tablePages, 0);
});
