/**
 * Linux generic_pt's KUnit format and domain suites (drivers/iommu/generic_pt/kunit_*.h, reference
 * notes §6; post-v6.12), their semantics reimplemented for every RISC-V format the model has:
 * Sv39/Sv48/Sv57 (first stage, with Svnapot 64 KiB) and Sv39x4/Sv48x4/Sv57x4 (G stage), each with
 * the leak check (table pages back to where they started).
 */
import assert from "node:assert/strict";
import {
  EADDRINUSE,
  pt_compute_best_pgsize,
  type PtAttrs,
  PtDomain,
  type PtFormat,
  PtSparseMemory,
  riscvFormat,
  riscvPrng,
} from "../../lib/internal.ts";

const FORMATS: PtFormat[] = [8, 9, 10].flatMap((
  m,
) => [riscvFormat(m, false), riscvFormat(m, true)]);
const TEST_OA = 0x74a71445deadbeefn;
const RW: PtAttrs = { read: true, write: true, exec: false, user: true, memType: 0 };

/** Runs `body` on a fresh domain and checks the leak rule afterwards. */
function withDomain(fmt: PtFormat, body: (d: PtDomain) => void): void {
  const d = new PtDomain(fmt, new PtSparseMemory());
  assert.ok(d.tablePages >= 1);
  body(d);
  d.free();
  assert.equal(d.tablePages, 0, `${fmt.name}: table pages leaked`);
}

for (const fmt of FORMATS) {
  const maxOa = (1n << BigInt(fmt.maxOaBits)) - 1n;

  Deno.test(`${fmt.name} test_table_radix: levels decode contiguous, non-overlapping bits covering the input`, () => {
    let next = 12;
    for (let l = 0; l < fmt.levels; l++) {
      assert.equal(fmt.indexShift(l), next, `level ${l} starts where level ${l - 1} ended`);
      next += fmt.indexBits(l);
      assert.equal(fmt.tableBytes(l), 8 << fmt.indexBits(l));
    }
    assert.equal(next, fmt.inputBits);
    // G stage: the widened root (2048 entries, 16 KiB); first stage: 4 KiB everywhere
    const isG = fmt.name.endsWith("x4");
    assert.equal(fmt.tableBytes(fmt.levels - 1), isG ? 16384 : 4096);
    assert.equal(fmt.inputOk(1n << BigInt(fmt.inputBits)), false);
    assert.equal(fmt.inputOk((1n << BigInt(fmt.inputBits)) - 1n), !isG ? false : true);
  });

  Deno.test(`${fmt.name} test_entry_oa: every leaf size with test_oa, 0 and the max OA decodes back; clear empties`, () => {
    for (let l = 0; l < fmt.levels; l++) {
      for (const shift of fmt.leafShifts(l)) {
        const size = 1n << BigInt(shift);
        for (const raw of [TEST_OA & maxOa, 0n, maxOa]) {
          const oa = raw & ~(size - 1n);
          const entries = fmt.encodeLeaf(oa, l, shift, RW);
          assert.equal(entries.length, 1 << (shift - fmt.indexShift(l)));
          for (const e of entries) {
            assert.deepEqual(
              fmt.decode(e, l),
              { kind: "leaf", oa, sizeShift: shift },
              `${fmt.name} L${l} 2^${shift}`,
            );
          }
          assert.equal(fmt.decode(0n, l).kind, "fault");
        }
      }
      const t = fmt.encodeTable(0x1234000n);
      if (l > 0) assert.deepEqual(fmt.decode(t, l), { kind: "table", next: 0x1234000n });
    }
  });

  Deno.test(`${fmt.name} test_attr_from_entry: entry → attrs → entry is the identity for every protection`, () => {
    let n = 0;
    for (let bits = 0; bits < 16; bits++) {
      for (const memType of [0, 1, 2]) {
        const attrs = {
          read: !!(bits & 1),
          write: !!(bits & 2),
          exec: !!(bits & 4),
          user: !!(bits & 8),
          memType,
        };
        if (attrs.write && !attrs.read) continue; // reserved encoding
        if (!attrs.read && !attrs.exec) continue; // that is a pointer, not a leaf
        if (fmt.name.endsWith("x4") && !attrs.user) continue; // G leaves are always U
        for (let l = 0; l < fmt.levels; l++) {
          const shift = fmt.leafShifts(l)[0];
          const [e] = fmt.encodeLeaf(0x40000000n, l, shift, attrs);
          assert.deepEqual(fmt.attrs(e), attrs);
          assert.deepEqual(fmt.encodeLeaf(0x40000000n, l, shift, fmt.attrs(e)), [e]);
          n++;
        }
      }
    }
    assert.ok(n > 0);
  });

  Deno.test(`${fmt.name} test_best_pgsize: the selector agrees with a brute-force reference`, () => {
    const d = new PtDomain(fmt, new PtSparseMemory());
    const shifts = d.pgsizeShifts;
    const rnd = riscvPrng(42);
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
      assert.equal(
        pt_compute_best_pgsize(shifts, va, va + len - 1n, oa),
        want,
        `va ${va} oa ${oa} len ${len}`,
      );
    }
    d.free();
  });

  Deno.test(`${fmt.name} test_map_simple: one page of every size maps, translates, counts once, unmaps`, () => {
    withDomain(fmt, (d) => {
      const placed: [bigint, bigint, number][] = [];
      for (const shift of d.pgsizeShifts) {
        const size = 1n << BigInt(shift);
        const iova = size * 3n, oa = (TEST_OA & ((1n << 50n) - 1n)) & ~(size - 1n);
        assert.equal(d.map_pages(iova, oa, size, RW), 0, `map 2^${shift}`);
        placed.push([iova, oa, shift]);
        // every 4 KiB page up to 2 MiB leaves; sampled pages (ends, a prime stride) above that
        const stride = shift <= 21 ? 0x1000n : (size / 97n) & ~0xfffn;
        for (let off = 0n; off < size; off += stride) {
          assert.equal(d.iova_to_phys(iova + off), oa + off);
        }
        assert.equal(d.iova_to_phys(iova + size - 8n), oa + size - 8n);
        assert.equal(d.countLeaves().get(shift), 1);
        assert.equal(d.unmap_pages(iova, size), size);
        assert.equal(d.iova_to_phys(iova), 0n);
        assert.equal(d.countLeaves().size, 0);
      }
      assert.equal(placed.length, fmt.name.endsWith("x4") ? fmt.levels + 1 : fmt.levels + 1);
    });
  });

  Deno.test(`${fmt.name} test_unmap_split: unmapping the first 4 KiB of a 2 MiB leaf removes the whole leaf only`, () => {
    withDomain(fmt, (d) => {
      const base = 0x4000_0000n, big = 0x20_0000n;
      assert.equal(d.map_pages(base, 0x8000_0000n, 2n * big, RW), 0);
      assert.deepEqual([...d.countLeaves()], [[21, 2]]);
      assert.equal(d.unmap_pages(base, 0x1000n), big);
      assert.equal(d.iova_to_phys(base + 0x1000n), 0n);
      assert.equal(d.iova_to_phys(base + big), 0x8000_0000n + big, "the next leaf is untouched");
      // a range that starts inside a leaf unmaps nothing
      assert.equal(d.unmap_pages(base + big + 0x1000n, 0x1000n), 0n);
      assert.equal(d.unmap_pages(base + big, big), big);
    });
  });

  Deno.test(`${fmt.name} test_random_map: 1000 random maps and unmaps against a reference`, () => {
    withDomain(fmt, (d) => {
      const rnd = riscvPrng(7);
      const window = 1n << 28n;
      const leaves = new Map<bigint, { size: bigint; oa: bigint }>();
      const overlaps = (iova: bigint, size: bigint) =>
        [...leaves].filter(([a, l]) => a < iova + size && iova < a + l.size);
      for (let i = 0; i < 1000; i++) {
        const shift = [12, 12, 16, 21][Math.floor(rnd() * 4)];
        if (!d.pgsizeShifts.includes(shift)) continue;
        const size = 1n << BigInt(shift);
        const iova = (BigInt(Math.floor(rnd() * Number(window))) / size) * size;
        const oa = (BigInt(Math.floor(rnd() * 2 ** 40)) / size) * size;
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
    withDomain(fmt, (d) => {
      assert.equal(d.map_pages(0xfef80000n, 0x208b95d000n, 0x20000n, RW), 0);
      assert.deepEqual(
        [...d.countLeaves()],
        [[12, 32]],
        "PA is only 4 KiB-aligned: no 64 KiB NAPOT",
      );
      for (let off = 0n; off < 0x20000n; off += 0x1000n) {
        assert.equal(d.iova_to_phys(0xfef80000n + off), 0x208b95d000n + off);
      }
      assert.equal(d.iova_to_phys(0xfefa0000n), 0n);
    });
  });

  Deno.test(`${fmt.name} test_mixed: [0x3fe400000, 0x4c0600000) maps as exactly 14×2M + 3×1G + 3×2M`, () => {
    withDomain(fmt, (d) => {
      const start = 0x3fe400000n, end = 0x4c0600000n;
      assert.equal(d.map_pages(start, start, end - start, RW), 0);
      assert.deepEqual(new Map([...d.countLeaves()]), new Map([[21, 17], [30, 3]]));
      for (let a = start; a < end; a += 0x20_0000n) {
        assert.equal(d.iova_to_phys(a), a);
        assert.equal(d.iova_to_phys(a + 0x1f_f123n), a + 0x1f_f123n);
      }
      assert.equal(d.iova_to_phys(end), 0n);
      assert.equal(d.unmap_pages(start, end - start), end - start);
    });
  });
}

Deno.test("Sv39 with Svnapot: a 64 KiB range with 64 KiB-aligned VA and PA is one NAPOT leaf of 16 entries", () => {
  withDomain(riscvFormat(8, false), (d) => {
    assert.equal(d.map_pages(0x10000n, 0x7_0000n, 0x10000n, RW), 0);
    assert.deepEqual([...d.countLeaves()], [[16, 1]]);
    assert.equal(d.iova_to_phys(0x1f123n), 0x7f123n);
    assert.equal(d.unmap_pages(0x10000n, 0x1000n), 0x10000n, "a NAPOT leaf is unmapped whole");
  });
});
