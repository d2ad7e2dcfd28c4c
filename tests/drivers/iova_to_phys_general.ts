/**
 * The kernel's walk for the Intel driver's iova_to_phys tests: `iommu_iova_to_phys()` with the
 * driver's fast path (and with it the leaf memo) switched off; "throws" where the walk throws.
 */
import { intelDriverFastPath, type iommu_domain, iommu_iova_to_phys } from "../../lib/internal.ts";

export function generalIovaToPhys(domain: iommu_domain, a: number): number | "throws" {
  intelDriverFastPath.iova_to_phys = false;
  try {
    return iommu_iova_to_phys(domain, a);
  } catch {
    return "throws";
  } finally {
    intelDriverFastPath.iova_to_phys = true;
  }
}
