/**
 * Issue 10: the fast path of the Intel driver's iova_to_phys (spec/19-vtd-driver.md,
 * #iova-to-phys-fast) checks where a table lies only when its frame has no buffer. A table entry
 * is pointed at frames around the end of RAM — inside RAM but never written (reads as zeros: not
 * present, 0), the last frame of RAM, the first frame beyond it and far beyond — on RAM sizes that
 * end inside and at the edge of a 4 GiB half; at every level of the walk. Where the general walk
 * answers, the fast path answers the same or leaves it to the general path (-1); where the general
 * walk throws (a table outside RAM), the fast path must leave it (-1), never answer 0.
 */
import assert from "node:assert/strict";
import {
  GFP_KERNEL,
  intel_iommu_ops,
  iommu_map,
  IOMMU_READ,
  IOMMU_WRITE,
  iovaToPhysFast,
  Machine,
  runAs,
  to_dmar_domain,
} from "../../lib/internal.ts";
import { generalIovaToPhys as general } from "./iova_to_phys_general.ts";

const K4 = 2 ** 12, G1 = 2 ** 30;

for (const ram of [6 * G1, 8 * G1, 5 * G1 + 4 * 2 ** 20]) {
  Deno.test(`iova_to_phys fast path at the end of RAM (${ram / K4} frames)`, () => {
    const m = new Machine({ memory: ram });
    m.addIommu({ kind: "vtd" });
    const vmm = m.spawn({ comm: "vmm" });
    const dev = m.addDevice({ iommu: "dmar0" });
    runAs(vmm.task, () => {
      const domain = intel_iommu_ops.domain_alloc_user!(dev, 0, null, null);
      if (!("type" in domain)) throw domain;
      const d = to_dmar_domain(domain);
      // one 4 KiB page at IOVA 0: a present entry at index 0 of every level
      assert.equal(
        iommu_map(domain, 0n, G1, BigInt(K4), IOMMU_READ | IOMMU_WRITE, GFP_KERNEL),
        0,
      );
      assert.equal(iovaToPhysFast(d, 5), G1 + 5);
      const mem = m.physmem;
      // the entries the walk of IOVA 0 reads, top down (all but the leaf point at a table)
      const entries: number[] = [];
      for (let table = d.pgd!.pfn * K4, level = d.agaw + 2; level > 1; level--) {
        entries.push(table);
        const lo = mem.read32(table), hi = mem.read32(table + 4);
        table = (hi & 0xfffff) * 2 ** 32 + ((lo & ~0xfff) >>> 0);
      }
      const targets = [ram - 2 * K4, ram - K4, ram, ram + K4, 2 ** 32 * Math.ceil(ram / 2 ** 32)]
        .concat([2 ** 32 * Math.floor(ram / 2 ** 32), 2 ** 51]);
      let answered = 0, left = 0;
      for (const pte of entries) {
        const lo = mem.read32(pte), hi = mem.read32(pte + 4);
        for (const target of targets) {
          mem.write32(pte, ((target & ~0xfff) >>> 0 | (lo & 0xfff)) >>> 0);
          mem.write32(pte + 4, ((hi & ~0xfffff) | Math.floor(target / 2 ** 32)) >>> 0);
          const f = iovaToPhysFast(d, 5), g = general(domain, 5);
          const where = `entry 0x${pte.toString(16)} → 0x${target.toString(16)}`;
          if (target >= ram) {
            assert.equal(g, "throws", `${where}: the general walk reads outside RAM`);
            assert.equal(f, -1, `${where}: the fast path leaves it`);
            left++;
          } else if (f !== -1) {
            assert.equal(f, g, where);
            answered++;
          }
        }
        mem.write32(pte, lo);
        mem.write32(pte + 4, hi);
      }
      // frames inside RAM that were never written read as zeros: answered 0, as the walk does
      assert.ok(answered > 0 && left > 0, `answered ${answered}, left ${left}`);
      assert.equal(iovaToPhysFast(d, 5), G1 + 5);
    });
  });
}
