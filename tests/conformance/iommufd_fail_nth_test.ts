/**
 * A port of tools/testing/selftests/iommu/iommufd_fail_nth.c's `device` sequence (v6.12),
 * extended with nested HWPTs: run the sequence once without injection, then once per fault
 * injection point with fail-nth armed at that point. Every run must fail cleanly at exactly one
 * call with ENOMEM or ENOENT (or the EINVAL iommufd reports for a pt_id it could not look up), and after closing the iommufd nothing may be left behind.
 */
import assert from "node:assert/strict";
import {
  EINVAL,
  ENOENT,
  ENOMEM,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  iommu_hwpt_invalidate_selftest,
  iommu_hwpt_selftest,
  IOMMU_TEST_IOTLB_DEFAULT,
} from "../../lib/internal.ts";
import { type IommufdFixture, setupIommufd, sweepFailNth, teardown } from "./fixture.ts";

/** The swept sequence; setup (opening, two IOASes) is done before fail-nth is armed. */
function sequence(f: IommufdFixture, ioas_id: number, ioas_id2: number): void {
  const { fd } = f;
  const { stdev_id, idev_id } = fd.testMockDomain(ioas_id);
  fd.getHwInfo(idev_id, 8);
  const hwpt_id = fd.hwptAlloc({ dev_id: idev_id, pt_id: ioas_id });
  fd.testMockDomainReplace(stdev_id, ioas_id2);
  fd.testMockDomainReplace(stdev_id, hwpt_id);
  const parent = fd.hwptAlloc({
    dev_id: idev_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
  });
  const nested = fd.hwptAlloc({
    dev_id: idev_id,
    pt_id: parent,
    data_type: IOMMU_HWPT_DATA_SELFTEST,
    data: iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT }),
  });
  fd.testMockDomainReplace(stdev_id, nested);
  fd.hwptInvalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [
    iommu_hwpt_invalidate_selftest.encode({ flags: 0, iotlb_id: 1 }),
  ]);
}

Deno.test("iommufd_fail_nth.basic_fail_nth.device (with nesting): every injection fails cleanly", () => {
  const { points, sites, absorbed } = sweepFailNth({
    setup: () => {
      const f = setupIommufd();
      return { ...f, ioas: [f.fd.ioasAlloc(), f.fd.ioasAlloc()] };
    },
    run: (f) => sequence(f, f.ioas[0], f.ioas[1]),
    teardown,
    // A failed lookup is ENOENT, except where the kernel reports a missing pt_id as EINVAL; and
    // iopt_table_enforce_dev_resv_regions() begins with iommufd_should_fail() → EINVAL (v6.4+),
    // a point every attach now passes.
    allowed: (e) =>
      [ENOMEM, ENOENT].includes(e.errno) ||
      (e.errno === EINVAL && ["hwpt-alloc-pt", "enforce-resv-inject"].includes(e.check)),
    limit: 400,
  });
  assert.ok(points > 10, `${points} injection points`);
  // lib/xarray.c (v6.12): a failed GFP_NOWAIT node allocation is retried by __xas_nomem() with
  // the caller's flags, so some injections are absorbed and the call succeeds, as in the kernel.
  assert.ok(absorbed > 0, "the xarray's retry absorbs injected node allocations");
  // Allocations and iommufd's own lookups are both swept.
  assert.ok(
    sites.get("failslab")! > 0 && sites.get("fail_iommufd")! > 0,
    JSON.stringify([...sites]),
  );
});
