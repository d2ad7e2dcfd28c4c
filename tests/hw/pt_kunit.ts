/**
 * Linux generic_pt's KUnit format and domain suites (drivers/iommu/generic_pt/kunit_*.h, reference
 * notes §6; post-v6.12), their semantics reimplemented once for any {@link PtFormat}: a test file
 * calls `ptKunitSuites(format, options)` for each format it has, and gets the named Deno tests
 * test_table_radix, test_entry_oa, test_attr_from_entry, test_best_pgsize, test_map_simple,
 * test_unmap_split, test_random_map, test_pgsize_boundary and test_mixed, each domain test with the
 * leak check (table pages back to where they started). The writer is `PtDomain` unless the caller
 * gives another with the same surface. Not a test file itself (no `_test` suffix).
 */
import assert from "node:assert/strict";
import {
  EADDRINUSE,
  EINVAL,
  pt_compute_best_pgsize,
  type PtAttrs,
  PtDomain,
  type PtFormat,
  PtSparseMemory,
  riscvPrng,
} from "../../lib/internal.ts";

/** What the suites need of a table writer (PtDomain's surface). */
export interface PtKunitWriter {
  readonly tablePages: number;
  readonly pgsizeShifts: number[];
  map_pages(iova: bigint, oa: bigint, len: bigint, attrs: PtAttrs): number;
  unmap_pages(iova: bigint, len: bigint): bigint;
  iova_to_phys(iova: bigint): bigint;
  countLeaves(): Map<number, number>;
  free(): void;
}

/** The format-specific facts the suites check against. */
export interface PtKunitOptions {
  /** Bytes of the top-level table. */
  rootBytes: number;
  /** Whether inputs are sign-extended (so 2^inputBits − 1 is not a legal input). */
  signExtended: boolean;
  /** Every leaf size the writer offers, log2, ascending. */
  pgsizes: number[];
  /** Protections the format can express as a leaf (test_attr_from_entry). */
  attrsValid(a: PtAttrs): boolean;
  /** Memory types to try in test_attr_from_entry. */
  memTypes: number[];
  /** test_unmap_split's small and large leaf (log2); default 4 KiB in 2 MiB. */
  splitShifts?: [number, number];
  /** test_random_map's size draw (log2; sizes the format lacks are skipped); default 4K,4K,64K,2M. */
  randomShifts?: number[];
  /** test_random_map's IOVA window (log2); default 28. */
  randomWindowBits?: number;
  /** A new writer for a format; default a PtDomain in a fresh sparse memory. */
  newWriter?(fmt: PtFormat): PtKunitWriter;
  /** Register only these tests (by their KUnit name, e.g. "test_mixed"); default all. */
  only?: string[];
  /** Appended to the format's name in the test names (e.g. " via io-pgtable-arm"). */
  label?: string;
}

const TEST_OA = 0x74a71445deadbeefn;
const RW: PtAttrs = { read: true, write: true, exec: false, user: true, memType: 0 };
const kib = (shift: number) =>
  shift >= 30
    ? `${1 << (shift - 30)} GiB`
    : shift >= 20
    ? `${1 << (shift - 20)} MiB`
    : `${1 << (shift - 10)} KiB`;

/** What every format's decode says (a format may add fields of its own, as VT-d's rights). */
function core(d: ReturnType<PtFormat["decode"]>) {
  return d.kind === "leaf"
    ? { kind: d.kind, oa: d.oa, sizeShift: d.sizeShift }
    : d.kind === "table"
    ? { kind: d.kind, next: d.next }
    : d;
}

/** Registers the generic_pt KUnit suites for `fmt`. */
export function ptKunitSuites(fmt: PtFormat, o: PtKunitOptions): void {
  const name = `${fmt.name}${o.label ?? ""}`;
  const test = (title: string, fn: () => void) => {
    const kunit = title.split(":")[0];
    if (!o.only || o.only.includes(kunit)) Deno.test(`${name} ${title}`, fn);
  };
  const newWriter = o.newWriter ?? ((f: PtFormat) => new PtDomain(f, new PtSparseMemory()));
  /** Runs `body` on a fresh writer and checks the leak rule afterwards. */
  const withDomain = (body: (d: PtKunitWriter) => void) => {
    const d = newWriter(fmt);
    assert.ok(d.tablePages >= 1);
    body(d);
    d.free();
    assert.equal(d.tablePages, 0, `${name}: table pages leaked`);
  };
  const maxOa = (1n << BigInt(fmt.maxOaBits)) - 1n;
  const oaBits = Math.min(50, fmt.maxOaBits);
  const smallest = o.pgsizes[0];

  test(`test_table_radix: levels decode contiguous, non-overlapping bits covering the input`, () => {
    let next = smallest;
    for (let l = 0; l < fmt.levels; l++) {
      assert.equal(fmt.indexShift(l), next, `level ${l} starts where level ${l - 1} ended`);
      next += fmt.indexBits(l);
      assert.equal(fmt.tableBytes(l), 8 << fmt.indexBits(l));
    }
    assert.equal(next, fmt.inputBits);
    assert.equal(fmt.tableBytes(fmt.levels - 1), o.rootBytes);
    assert.equal(fmt.inputOk(1n << BigInt(fmt.inputBits)), false);
    assert.equal(fmt.inputOk((1n << BigInt(fmt.inputBits)) - 1n), !o.signExtended);
  });

  test(`test_entry_oa: every leaf size with test_oa, 0 and the max OA decodes back; clear empties`, () => {
    for (let l = 0; l < fmt.levels; l++) {
      for (const shift of fmt.leafShifts(l)) {
        const size = 1n << BigInt(shift);
        for (const raw of [TEST_OA & maxOa, 0n, maxOa]) {
          const oa = raw & ~(size - 1n);
          const entries = fmt.encodeLeaf(oa, l, shift, RW);
          assert.equal(entries.length, 1 << (shift - fmt.indexShift(l)));
          for (const e of entries) {
            assert.deepEqual(
              core(fmt.decode(e, l)),
              { kind: "leaf", oa, sizeShift: shift },
              `${fmt.name} L${l} 2^${shift}`,
            );
          }
          assert.equal(fmt.decode(0n, l).kind, "fault");
        }
      }
      const t = fmt.encodeTable(0x1230000n, l);
      if (l > 0) assert.deepEqual(core(fmt.decode(t, l)), { kind: "table", next: 0x1230000n });
    }
  });

  test(`test_attr_from_entry: entry → attrs → entry is the identity for every protection`, () => {
    let n = 0;
    for (let bits = 0; bits < 16; bits++) {
      for (const memType of o.memTypes) {
        const attrs = {
          read: !!(bits & 1),
          write: !!(bits & 2),
          exec: !!(bits & 4),
          user: !!(bits & 8),
          memType,
        };
        if (!o.attrsValid(attrs)) continue;
        for (let l = 0; l < fmt.levels; l++) {
          const shift = fmt.leafShifts(l)[0];
          if (shift === undefined) continue;
          const oa = 1n << BigInt(Math.max(shift, 30));
          // (a level's smallest leaf is one entry, except where a size is missing: AMD's 512 GiB)
          const entries = fmt.encodeLeaf(oa, l, shift, attrs), e = entries[0];
          assert.deepEqual(fmt.attrs(e), attrs);
          assert.deepEqual(fmt.encodeLeaf(oa, l, shift, fmt.attrs(e)), entries);
          n++;
        }
      }
    }
    assert.ok(n > 0);
  });

  test(`test_best_pgsize: the selector agrees with a brute-force reference`, () => {
    const shifts = o.pgsizes;
    const rnd = riscvPrng(42);
    const ctz = (v: bigint) => {
      if (v === 0n) return 64;
      let n = 0;
      while (((v >> BigInt(n)) & 1n) === 0n) n++;
      return n;
    };
    const align = (1n << BigInt(smallest)) - 1n;
    for (let i = 0; i < 2000; i++) {
      const r = (bits: number) =>
        BigInt(Math.floor(rnd() * 2 ** 30)) << BigInt(Math.floor(rnd() * bits));
      const va = r(fmt.inputBits - 31) & ~align, oa = r(26) & ~align;
      const len = (r(fmt.inputBits - 31) & ~align) + align + 1n;
      const fit = Math.min(ctz(va), ctz(oa));
      const want = Math.max(0, ...shifts.filter((s) => s <= fit && (1n << BigInt(s)) <= len));
      assert.equal(
        pt_compute_best_pgsize(shifts, va, va + len - 1n, oa),
        want,
        `va ${va} oa ${oa} len ${len}`,
      );
    }
  });

  test(`test_map_simple: one page of every size maps, translates, counts once, unmaps`, () => {
    withDomain((d) => {
      assert.deepEqual(d.pgsizeShifts, o.pgsizes);
      for (const shift of d.pgsizeShifts) {
        const size = 1n << BigInt(shift);
        const iova = size * 3n, oa = (TEST_OA & ((1n << BigInt(oaBits)) - 1n)) & ~(size - 1n);
        assert.equal(d.map_pages(iova, oa, size, RW), 0, `map 2^${shift}`);
        // every smallest page up to 2 MiB leaves; sampled pages (ends, a prime stride) above that
        const stride = shift <= 21 ? 1n << BigInt(smallest) : (size / 97n) & ~0xfffn;
        for (let off = 0n; off < size; off += stride) {
          assert.equal(d.iova_to_phys(iova + off), oa + off);
        }
        assert.equal(d.iova_to_phys(iova + size - 8n), oa + size - 8n);
        assert.equal(d.countLeaves().get(shift), 1);
        assert.equal(d.unmap_pages(iova, size), size);
        assert.equal(d.iova_to_phys(iova), 0n);
        assert.equal(d.countLeaves().size, 0);
      }
    });
  });

  const [smallS, bigS] = o.splitShifts ?? [12, 21];
  test(
    `test_unmap_split: unmapping the first ${kib(smallS)} of a ${
      kib(bigS)
    } leaf removes the whole leaf only`,
    () => {
      withDomain((d) => {
        const base = 0x4000_0000n, big = 1n << BigInt(bigS), small = 1n << BigInt(smallS);
        assert.equal(d.map_pages(base, 0x8000_0000n, 2n * big, RW), 0);
        assert.deepEqual([...d.countLeaves()], [[bigS, 2]]);
        assert.equal(d.unmap_pages(base, small), big);
        assert.equal(d.iova_to_phys(base + small), 0n);
        assert.equal(d.iova_to_phys(base + big), 0x8000_0000n + big, "the next leaf is untouched");
        // a range that starts inside a leaf unmaps nothing
        assert.equal(d.unmap_pages(base + big + small, small), 0n);
        assert.equal(d.unmap_pages(base + big, big), big);
      });
    },
  );

  test(`test_random_map: 1000 random maps and unmaps against a reference`, () => {
    withDomain((d) => {
      const rnd = riscvPrng(7);
      const window = 1n << BigInt(o.randomWindowBits ?? 28);
      const draw = o.randomShifts ?? [12, 12, 16, 21];
      const leaves = new Map<bigint, { size: bigint; oa: bigint }>();
      const overlaps = (iova: bigint, size: bigint) =>
        [...leaves].filter(([a, l]) => a < iova + size && iova < a + l.size);
      const oaMax = 2 ** Math.min(40, fmt.maxOaBits);
      for (let i = 0; i < 1000; i++) {
        const shift = draw[Math.floor(rnd() * draw.length)];
        if (!d.pgsizeShifts.includes(shift)) continue;
        const size = 1n << BigInt(shift);
        const iova = (BigInt(Math.floor(rnd() * Number(window))) / size) * size;
        const oa = (BigInt(Math.floor(rnd() * oaMax)) / size) * size;
        const hit = overlaps(iova, size);
        if (rnd() < 0.7) {
          const rc = d.map_pages(iova, oa, size, RW);
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
        assert.equal(d.iova_to_phys(probe), owner ? owner[1].oa + probe - owner[0] : 0n);
      }
      assert.ok(leaves.size > 0);
      const page = 1n << BigInt(smallest);
      for (const [a, l] of leaves) {
        const stride = l.size / page > 4096n ? l.size / 64n : page;
        for (let off = 0n; off < l.size; off += stride) {
          assert.equal(d.iova_to_phys(a + off), l.oa + off);
        }
      }
      const counted = [...d.countLeaves().values()].reduce((x, y) => x + y, 0);
      assert.equal(counted, leaves.size);
    });
  });

  test(`test_pgsize_boundary: 0xfef80000..0xfef9ffff → 0x208b95d000 in 4 KiB leaves`, () => {
    withDomain((d) => {
      const rc = d.map_pages(0xfef80000n, 0x208b95d000n, 0x20000n, RW);
      if (smallest > 12 || fmt.maxOaBits < 38) {
        // the PA is only 4 KiB-aligned (or beyond the OAS): no leaf of this format fits
        assert.equal(rc, -EINVAL);
        assert.equal(d.countLeaves().size, 0);
        return;
      }
      assert.equal(rc, 0);
      assert.deepEqual(
        [...d.countLeaves()],
        [[12, 32]],
        "PA is only 4 KiB-aligned: no 64 KiB leaf",
      );
      for (let off = 0n; off < 0x20000n; off += 0x1000n) {
        assert.equal(d.iova_to_phys(0xfef80000n + off), 0x208b95d000n + off);
      }
      assert.equal(d.iova_to_phys(0xfefa0000n), 0n);
    });
  });

  // the suite's exact 20 leaves need 2 MiB and 1 GiB and no other size between 2 MiB and 2 GiB
  // (AMD v1 has every power of two: its answer is the brute-force reference's alone)
  const has2M1G = o.pgsizes.filter((s) => s >= 21 && s <= 31).join() === "21,30";
  test(
    `test_mixed: [0x3fe400000, 0x4c0600000) maps as exactly ${
      has2M1G ? "14×2M + 3×1G + 3×2M" : "the brute-force reference's leaves"
    }`,
    () => {
      withDomain((d) => {
        const start = 0x3fe400000n, end = 0x4c0600000n;
        assert.equal(d.map_pages(start, start, end - start, RW), 0);
        // the brute-force reference: the largest size that is aligned and fits, leaf after leaf
        const want = new Map<number, number>();
        for (let a = start; a < end;) {
          const s = Math.max(
            ...o.pgsizes.filter((s) =>
              a % (1n << BigInt(s)) === 0n && a + (1n << BigInt(s)) <= end
            ),
          );
          want.set(s, (want.get(s) ?? 0) + 1);
          a += 1n << BigInt(s);
        }
        if (has2M1G) {
          assert.deepEqual(want, new Map([[21, 17], [30, 3]]), "14×2M + 3×1G + 3×2M");
        }
        assert.deepEqual(new Map([...d.countLeaves()]), want);
        for (let a = start; a < end; a += 0x20_0000n) {
          assert.equal(d.iova_to_phys(a), a);
          assert.equal(d.iova_to_phys(a + 0x1f_f123n), a + 0x1f_f123n);
        }
        assert.equal(d.iova_to_phys(end), 0n);
        assert.equal(d.unmap_pages(start, end - start), end - start);
      });
    },
  );
}
