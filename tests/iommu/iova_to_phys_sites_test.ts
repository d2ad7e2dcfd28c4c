/**
 * Issue 10: iommu_iova_to_phys() (spec/05-iommu-core.md, #iommu-iova-to-phys) gives the first two
 * drivers it is asked about a call site each (so that V8 can inline them into iommufd's per-4 KiB
 * loop); every other driver takes the shared call. Whichever site a driver gets, the answer is its
 * own iova_to_phys's: five drivers — VT-d and four stand-ins, each its own function — asked in a
 * seeded random order; identity and blocked domains still answer without a driver.
 */
import assert from "node:assert/strict";
import {
  GFP_KERNEL,
  intel_iommu_ops,
  type iommu_domain,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  iommu_iova_to_phys,
  iommu_map,
  IOMMU_READ,
  IOMMU_WRITE,
  Machine,
  runAs,
} from "../../lib/internal.ts";
import { rng } from "../rng.ts";

/** A stand-in domain whose driver answers `iova * k + 7`, from a function of its own. */
function standIn(k: number, type = IOMMU_DOMAIN_UNMANAGED): iommu_domain {
  const ops = { iova_to_phys: (_d: iommu_domain, iova: bigint | number) => Number(iova) * k + 7 };
  return { type, ops } as unknown as iommu_domain;
}

Deno.test("iommu_iova_to_phys: every driver's answer, whichever call site it has", () => {
  const m = new Machine({ memory: 4 * 2 ** 30 });
  m.addIommu({ kind: "vtd" });
  const vmm = m.spawn({ comm: "vmm" });
  const dev = m.addDevice({ iommu: "dmar0" });
  runAs(vmm.task, () => {
    const vtd = intel_iommu_ops.domain_alloc_user!(dev, 0, null, null);
    if (!("type" in vtd)) throw vtd;
    const pa = 2 ** 31 + 2 ** 21;
    assert.equal(
      iommu_map(vtd, 2n ** 33n, pa, 2n ** 21n, IOMMU_READ | IOMMU_WRITE, GFP_KERNEL),
      0,
    );
    const domains: iommu_domain[] = [vtd, standIn(1), standIn(2), standIn(3), standIn(5)];
    const rand = rng(0x5eed);
    for (let i = 0; i < 4000; i++) {
      const d = domains[rand(domains.length)];
      const a: number = d === vtd ? 2 ** 33 + rand(2 ** 21) : rand(2 ** 30) * 4096 + rand(4096);
      const iova: bigint | number = rand(2) ? a : BigInt(a);
      const want: number = d === vtd ? pa + (a - 2 ** 33) : a * (d.ops.iova_to_phys!(d, 1) - 7) + 7;
      assert.equal(iommu_iova_to_phys(d, iova), want, `domain ${domains.indexOf(d)}, iova ${a}`);
    }
    // identity and blocked domains are answered by the core, whatever their ops say
    assert.equal(iommu_iova_to_phys(standIn(9, IOMMU_DOMAIN_IDENTITY), 12345n), 12345);
    assert.equal(iommu_iova_to_phys(standIn(9, IOMMU_DOMAIN_BLOCKED), 12345), 0);
  });
});
