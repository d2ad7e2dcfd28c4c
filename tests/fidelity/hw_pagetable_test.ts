/**
 * Fidelity to v6.12 drivers/iommu/iommufd/hw_pagetable.c (issue 14, item D): the last check of
 * iommufd_hwpt_nested_alloc() refuses a nested domain without cache_invalidate_user.
 */
import assert from "node:assert/strict";
import {
  dev_iommu_ops,
  EINVAL,
  type iommu_domain,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_SELFTEST,
  iommu_hwpt_selftest,
  IOMMU_TEST_IOTLB_DEFAULT,
  IS_ERR,
} from "../../lib/internal.ts";
import { expectErrno, mockDevice, setupIommufd, teardown } from "../conformance/fixture.ts";

Deno.test(
  "drivers/iommu/iommufd/hw_pagetable.c iommufd_hwpt_nested_alloc(): a nested domain without cache_invalidate_user → EINVAL (v6.12)",
  () => {
    const f = setupIommufd();
    const ioas = f.fd.ioasAlloc();
    const { idev_id } = f.fd.testMockDomain(ioas);
    const parent = f.fd.hwptAlloc({
      dev_id: idev_id,
      pt_id: ioas,
      flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
    });
    // A buggy driver: the mock's nested domain, with its ops minus cache_invalidate_user.
    const ops = dev_iommu_ops(mockDevice(f));
    const real = ops.domain_alloc_user!;
    ops.domain_alloc_user = (dev, flags, p, data) => {
      const d = real(dev, flags, p, data);
      if (IS_ERR(d) || !p) return d;
      const { cache_invalidate_user: _, ...rest } = d.ops;
      (d as { ops: iommu_domain["ops"] }).ops = rest;
      return d;
    };
    try {
      const e = expectErrno(EINVAL, () =>
        f.fd.hwptAlloc({
          dev_id: idev_id,
          pt_id: parent,
          data_type: IOMMU_HWPT_DATA_SELFTEST,
          data: iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT }),
        }));
      assert.equal(e.check, "nested-alloc-type");
    } finally {
      ops.domain_alloc_user = real;
    }
    teardown(f);
  },
);
