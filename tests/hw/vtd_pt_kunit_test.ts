/**
 * Linux generic_pt's KUnit format and domain suites (drivers/iommu/generic_pt/kunit_*.h, reference
 * notes §6; post-v6.12), run through the shared helper tests/hw/pt_kunit.ts for VT-d's formats
 * (spec/17-vtd-page-walk.md#vtd-formats): second stage with 3, 4 and 5 levels and first stage with
 * 4 and 5 levels, each with the leak check. The generic table writer (PtDomain) writes VT-d tables
 * through the format's encode, and every translation it reports is checked against VT-d's own
 * walker (vtdWalkSecondStage / vtdWalkFirstStage) reading the same memory.
 */
import assert from "node:assert/strict";
import {
  PhysMem,
  type PtAttrs,
  PtDomain,
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
import { ptKunitSuites, type PtKunitWriter } from "./pt_kunit.ts";

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

/**
 * A PtDomain in VT-d-sized RAM whose every translation is also asked of VT-d's own walker, which
 * must agree (or fault with the check the writer's answer of 0 implies).
 */
function checkedWriter(
  d: PtDomain,
  walk: (mem: PhysMem, iova: bigint) => bigint,
): PtKunitWriter {
  const mem = (d.mem as PhysPtMemory).mem;
  return {
    get tablePages() {
      return d.tablePages;
    },
    pgsizeShifts: d.pgsizeShifts,
    map_pages: (iova, oa, len, a) => d.map_pages(iova, oa, len, a),
    unmap_pages: (iova, len) => d.unmap_pages(iova, len),
    iova_to_phys(iova) {
      const pa = d.iova_to_phys(iova);
      assert.equal(walk(mem, iova), pa, `${d.fmt.name}: the VT-d walker disagrees at ${iova}`);
      return pa;
    },
    countLeaves: () => d.countLeaves(),
    free: () => d.free(),
  };
}

function ssSuite(opts: Omit<VtdSecondStageOptions, "root">): void {
  const fmt = vtdSecondStageFormat(new VtdSecondStage({ root: 0, ...opts }));
  ptKunitSuites(fmt, {
    rootBytes: 4096,
    signExtended: false,
    pgsizes: [12, 21, 30],
    // R, W or RW; no execute or user bit in a second-stage leaf
    attrsValid: (a) => (a.read || a.write) && !a.exec && !a.user,
    memTypes: [0],
    newWriter(f) {
      const d = new PtDomain(f, new PhysPtMemory(new PhysMem(RAM)));
      const ss = new VtdSecondStage({ root: Number(d.root), ...opts });
      return checkedWriter(d, (mem, iova) => {
        const out = vtdWalkSecondStage(mem, ss, iova, { write: true }, new VtdWalk());
        if (!out.ok) assert.equal(out.check, "vtd-ss-check-perm", out.describe());
        return out.ok ? BigInt(out.pa) : 0n;
      });
    },
  });
}

function fsSuite(opts: Omit<VtdFirstStageOptions, "root">): void {
  const fmt = vtdFirstStageFormat(new VtdFirstStage({ root: 0, ...opts }));
  ptKunitSuites(fmt, {
    rootBytes: 4096,
    signExtended: true,
    pgsizes: [12, 21, 30],
    // a first-stage leaf is always readable; W and U/S are its bits
    attrsValid: (a) => a.read && !a.exec,
    memTypes: [0],
    newWriter(f) {
      const d = new PtDomain(f, new PhysPtMemory(new PhysMem(RAM)));
      const fs = new VtdFirstStage({ root: Number(d.root), ...opts });
      return checkedWriter(d, (mem, iova) => {
        const out = vtdWalkFirstStage(mem, fs, iova, { write: true }, new VtdWalk());
        if (!out.ok) assert.equal(out.check, "vtd-fs-check-present", out.describe());
        return out.ok ? BigInt(out.pa) : 0n;
      });
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
