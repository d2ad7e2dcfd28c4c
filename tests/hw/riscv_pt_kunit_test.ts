/**
 * Linux generic_pt's KUnit format and domain suites (drivers/iommu/generic_pt/kunit_*.h, reference
 * notes §6; post-v6.12), their semantics reimplemented for every RISC-V format the model has:
 * Sv39/Sv48/Sv57 (first stage, with Svnapot 64 KiB) and Sv39x4/Sv48x4/Sv57x4 (G stage), each with
 * the leak check (table pages back to where they started). The suite bodies are in ./pt_kunit.ts,
 * shared with every other format.
 */
import assert from "node:assert/strict";
import {
  type PtAttrs,
  PtDomain,
  type PtFormat,
  PtSparseMemory,
  riscvFormat,
} from "../../lib/internal.ts";
import { ptKunitSuites } from "./pt_kunit.ts";

const FORMATS: PtFormat[] = [8, 9, 10].flatMap((
  m,
) => [riscvFormat(m, false), riscvFormat(m, true)]);
const RW: PtAttrs = { read: true, write: true, exec: false, user: true, memType: 0 };

for (const fmt of FORMATS) {
  const isG = fmt.name.endsWith("x4");
  ptKunitSuites(fmt, {
    // G stage: the widened root (2048 entries, 16 KiB); first stage: 4 KiB everywhere
    rootBytes: isG ? 16384 : 4096,
    signExtended: !isG,
    // 4 KiB, 64 KiB (Svnapot), then one superpage size per level above 0
    pgsizes: [12, 16, ...Array.from({ length: fmt.levels - 1 }, (_, i) => 21 + 9 * i)],
    attrsValid: (a) =>
      !(a.write && !a.read) && // reserved encoding
      (a.read || a.exec) && // else that is a pointer, not a leaf
      (!isG || a.user), // G leaves are always U
    memTypes: [0, 1, 2],
  });
}

Deno.test("Sv39 with Svnapot: a 64 KiB range with 64 KiB-aligned VA and PA is one NAPOT leaf of 16 entries", () => {
  const d = new PtDomain(riscvFormat(8, false), new PtSparseMemory());
  assert.equal(d.map_pages(0x10000n, 0x7_0000n, 0x10000n, RW), 0);
  assert.deepEqual([...d.countLeaves()], [[16, 1]]);
  assert.equal(d.iova_to_phys(0x1f123n), 0x7f123n);
  assert.equal(d.unmap_pages(0x10000n, 0x1000n), 0x10000n, "a NAPOT leaf is unmapped whole");
  d.free();
  assert.equal(d.tablePages, 0);
});
