/**
 * The AMD IOMMU v1 host page table (spec/23-amd-iommu-v1.md): the reference notes' worked vectors M1
 * and M2 by name, the derived fault vectors, level skipping through the generic walker, NextLevel-7
 * pages, and the generic writer's tables walked by the hardware model.
 */
import assert from "node:assert/strict";
import {
  AMD_EVENT_FLAG_PE,
  AMD_EVENT_FLAG_PR,
  amdV1Format,
  amdV1Translate,
  amdVectorCheck,
  amdVectorSetup,
  amdWorkedVectors,
  EVENT_FLAG_RW,
  EVENT_TYPE_ILL_DEV,
  EVENT_TYPE_IO_FAULT,
  IOMMU_PTE_FC,
  IOMMU_PTE_IR,
  IOMMU_PTE_IW,
  IOMMU_PTE_PR,
  PAGE_SIZE_PTE,
  PM_LEVEL_ENC,
  PtDomain,
  PTE_PAGE_SIZE,
  PtSparseMemory,
  ptWalk,
} from "../../lib/internal.ts";

const file = amdWorkedVectors();
const run = (id: string) => {
  const v = file.vectors.find((x) => x.id === id)!;
  const { mem, dte, iova, access } = amdVectorSetup(file, v);
  return amdV1Translate(mem, dte, iova, access);
};
const hex = (xs: bigint[]) => xs.map((x) => `0x${x.toString(16)}`);

Deno.test("AMD v1 M1: mode 3, IOVA-B → PA 0xAB_CDEF_089A in three reads", () => {
  const t = run("M1");
  assert.ok(t.ok);
  assert.equal(t.pa, 0xab_cdef_089an);
  assert.equal(t.size, 4096n);
  assert.deepEqual(hex(t.reads), ["0x400240", "0x401d10", "0x402b38"]);
});

Deno.test("AMD v1 M2: mode 4 with a skipped level → PA 0x5555_5456 in three reads", () => {
  const t = run("M2");
  assert.ok(t.ok);
  assert.equal(t.pa, 0x5555_5456n);
  assert.deepEqual(hex(t.reads), ["0x410000", "0x412000", "0x413918"]);
});

Deno.test("AMD v1 worked vectors: every one agrees with its hand-derived expectation", () => {
  const r = amdVectorCheck(file);
  assert.deepEqual(r.lines, []);
  assert.equal(r.passed, 15);
});

Deno.test("AMD v1 faults: not present, permission (leaf, pointer, DTE), skip bits, bad NextLevel, mode", () => {
  const flags = (id: string) => {
    const t = run(id);
    assert.ok(!t.ok, id);
    return [t.event.type, t.event.flags, t.reads.length];
  };
  assert.deepEqual(flags("M3"), [EVENT_TYPE_IO_FAULT, 0, 3]);
  const pe = AMD_EVENT_FLAG_PR | AMD_EVENT_FLAG_PE;
  assert.deepEqual(flags("M4"), [EVENT_TYPE_IO_FAULT, pe | EVENT_FLAG_RW, 3]);
  assert.deepEqual(flags("M5"), [EVENT_TYPE_IO_FAULT, pe, 3]);
  assert.deepEqual(flags("M6"), [EVENT_TYPE_IO_FAULT, AMD_EVENT_FLAG_PR, 1]);
  assert.deepEqual(flags("M9"), [EVENT_TYPE_IO_FAULT, pe | EVENT_FLAG_RW, 3]);
  assert.deepEqual(flags("M10"), [EVENT_TYPE_IO_FAULT, 0, 0]);
  assert.deepEqual(flags("M11"), [EVENT_TYPE_IO_FAULT, AMD_EVENT_FLAG_PR, 1]);
  assert.deepEqual(flags("M12"), [EVENT_TYPE_ILL_DEV, 0, 0]);
  assert.ok(run("M4r").ok && run("M5w").ok, "the other right is still granted");
});

Deno.test("AMD v1 M6: the walker names the skipped level whose index is not zero", () => {
  const v = file.vectors.find((x) => x.id === "M6")!;
  const { mem, dte, iova } = amdVectorSetup(file, v);
  const w = ptWalk(amdV1Format({ mode: dte.mode }), mem, dte.root, iova, { access: "r" });
  assert.ok(!w.ok);
  assert.equal(w.kind, "entry");
  assert.equal(w.why, "skipped level 2: index not zero");
  assert.equal(w.level, 3);
  // every skipped level is checked: a skip from level 5 to level 1 (mode 6, NextLevel 2)
  const m = new PtSparseMemory();
  m.write64(0x1000n, 0x2000n | PM_LEVEL_ENC(2) | IOMMU_PTE_PR | IOMMU_PTE_IR | IOMMU_PTE_IW);
  m.write64(0x2000n, 0x3000n | PM_LEVEL_ENC(1) | IOMMU_PTE_PR | IOMMU_PTE_IR | IOMMU_PTE_IW);
  m.write64(0x3000n, 0x7000_0000n | IOMMU_PTE_PR | IOMMU_PTE_IR);
  const fmt6 = amdV1Format({ mode: 6 });
  const ok = ptWalk(fmt6, m, 0x1000n, 0x123n, { access: "r" });
  assert.ok(ok.ok && ok.oa === 0x7000_0123n, "two reads translate a mode-6 address below 2 MiB");
  for (const [bit, level] of [[48n, 4], [39n, 3], [30n, 2]] as const) {
    const f = ptWalk(fmt6, m, 0x1000n, 1n << bit, { access: "r" });
    assert.ok(!f.ok && f.why === `skipped level ${level}: index not zero`, `bit ${bit}`);
  }
});

Deno.test("AMD v1 NextLevel 7: PAGE_SIZE_PTE and PTE_PAGE_SIZE invert each other at every size", () => {
  for (let s = 13n; s <= 51n; s++) {
    const size = 1n << s, pa = 0x000f_0000_0000_0000n & ~(size - 1n);
    assert.equal(PTE_PAGE_SIZE(PAGE_SIZE_PTE(pa, size)), size);
  }
  assert.equal(PAGE_SIZE_PTE(0xab_cdef_0000n, 0x8000n), 0xab_cdef_3000n);
  const t = run("M7");
  assert.ok(t.ok && t.size === 0x8000n && t.pa === 0xab_cdef_789an);
  const t8 = run("M8");
  assert.ok(t8.ok && t8.size === 0x40_0000n && t8.reads.length === 2);
});

Deno.test("AMD v1 decode: a size that does not fit the level, a pointer up, a page at mode 6's top", () => {
  const f = amdV1Format({ mode: 6 });
  const nl7 = PM_LEVEL_ENC(7) | IOMMU_PTE_PR;
  // an 8 KiB encoding at level 1 (2 MiB slots) and a 2 MiB encoding at level 0
  assert.equal(f.decode(nl7 | 0x4000_0000n, 1).kind, "fault");
  assert.equal(f.decode(nl7 | 0x4000_0000n, 0).kind, "leaf");
  assert.equal(f.decode(nl7 | PAGE_SIZE_PTE(0x4000_0000n, 1n << 21n), 0).kind, "fault");
  assert.equal(f.decode(PM_LEVEL_ENC(2) | IOMMU_PTE_PR | 0x1000n, 1).kind, "fault");
  assert.equal(f.decode(IOMMU_PTE_PR, 5).kind, "fault");
  assert.deepEqual(f.decode(PM_LEVEL_ENC(2) | IOMMU_PTE_PR | 0x1000n, 4), {
    kind: "table",
    next: 0x1000n,
    level: 1,
  });
  assert.throws(() => amdV1Format({ mode: 7 }), RangeError);
  assert.equal(f.tableBytes(5), 1024);
  assert.equal(amdV1Format({ mode: 3 }).inputOk(1n << 39n), false);
});

Deno.test("AMD v1 writer: PtDomain writes Linux's bits, and the hardware walk agrees with iova_to_phys", () => {
  const mem = new PtSparseMemory();
  const d = new PtDomain(amdV1Format({ mode: 3 }), mem, 0x100000n);
  const rw = { read: true, write: false, exec: false, user: true, memType: 1 };
  assert.equal(d.map_pages(0x4000_0000n, 0x2_0000_0000n, 0x40_0000n, rw), 0); // one 4 MiB page
  assert.equal(d.map_pages(0x1_0000n, 0x9_0000n, 0x1_0000n, rw), 0); // one 64 KiB page
  assert.deepEqual([...d.countLeaves()].sort(), [[16, 1], [22, 1]]);
  // the pointers are PM_LEVEL_PDE: PR, NextLevel = the entry's level, IR and IW
  const rootEntry = mem.read64(d.root + 8n);
  assert.equal(rootEntry & 0xe01n, PM_LEVEL_ENC(2) | IOMMU_PTE_PR);
  assert.ok((rootEntry & IOMMU_PTE_IR) && (rootEntry & IOMMU_PTE_IW));
  const dte = { mode: 3, root: d.root, ir: true, iw: true };
  for (const iova of [0x4000_0000n, 0x4012_3456n, 0x403f_fff8n, 0x1_0000n, 0x1_f123n, 0x2_0000n]) {
    const t = amdV1Translate(mem, dte, iova, "r");
    assert.equal(t.ok ? t.pa : 0n, d.iova_to_phys(iova), `0x${iova.toString(16)}`);
  }
  const leaf = mem.read64(d.root + 0n); // level 2 index 0 → table for 0x1_0000
  assert.ok(leaf & IOMMU_PTE_PR);
  const w = amdV1Translate(mem, dte, 0x4000_1000n, "w");
  assert.ok(!w.ok && w.event.flags === (AMD_EVENT_FLAG_PR | AMD_EVENT_FLAG_PE | EVENT_FLAG_RW));
  const t = amdV1Translate(mem, dte, 0x4000_1000n, "r");
  assert.ok(t.ok && t.size === 0x40_0000n);
  // the 4 MiB page is two identical NextLevel-7 entries carrying FC (memType 1)
  const l1 = mem.read64(d.root + 8n) & 0x000f_ffff_ffff_f000n;
  const a = mem.read64(l1 + 0n), b = mem.read64(l1 + 8n);
  assert.equal(a, b);
  assert.ok(a & IOMMU_PTE_FC);
  d.free();
  assert.equal(d.tablePages, 0);
});
