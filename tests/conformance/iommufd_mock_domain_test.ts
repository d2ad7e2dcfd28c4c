/**
 * Ports of FIXTURE(iommufd_mock_domain) and FIXTURE(iommufd_dirty_tracking) in
 * tools/testing/selftests/iommu/iommufd.c (v6.12) that concern HWPTs and attachment (the mapping
 * and dirty-bitmap tests come with the IOAS mapping chapters).
 */
import assert from "node:assert/strict";
import {
  EBUSY,
  EINVAL,
  ENOENT,
  EOPNOTSUPP,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
} from "../../lib/internal.ts";
import {
  assertReleasedOnExit,
  expectErrno,
  type IommufdFixture,
  setupIommufd,
  teardown,
} from "./fixture.ts";

interface MockDomainFixture extends IommufdFixture {
  ioas_id: number;
  stdev_ids: number[];
  hwpt_ids: number[];
  idev_ids: number[];
}

function testMockDomain(
  name: string,
  body: (f: MockDomainFixture, mock_domains: number) => void,
): void {
  for (const [variant, mock_domains] of [["one_domain", 1], ["two_domains", 2]] as const) {
    Deno.test(`iommufd_mock_domain.${name} (${variant})`, () => {
      const base = setupIommufd();
      const f: MockDomainFixture = {
        ...base,
        ioas_id: base.fd.ioasAlloc(),
        stdev_ids: [],
        hwpt_ids: [],
        idev_ids: [],
      };
      for (let i = 0; i < mock_domains; i++) {
        const md = f.fd.testMockDomain(f.ioas_id);
        f.stdev_ids.push(md.stdev_id);
        f.hwpt_ids.push(md.hwpt_id);
        f.idev_ids.push(md.idev_id);
      }
      body(f, mock_domains);
      teardown(f);
      assertReleasedOnExit(f.m);
    });
  }
}

testMockDomain("replace", ({ fd, ioas_id, stdev_ids, hwpt_ids }, mock_domains) => {
  const other = fd.ioasAlloc();
  fd.testMockDomainReplace(stdev_ids[0], other);
  // Replacing the IOAS causes the prior HWPT to be deallocated, thus ENOENT when it is used.
  if (mock_domains === 1) {
    expectErrno(ENOENT, () => fd.testMockDomainReplace(stdev_ids[0], hwpt_ids[0]));
  }
  fd.testMockDomainReplace(stdev_ids[0], other);
  if (mock_domains >= 2) {
    fd.testMockDomainReplace(stdev_ids[0], hwpt_ids[1]);
    fd.testMockDomainReplace(stdev_ids[0], hwpt_ids[1]);
    fd.testMockDomainReplace(stdev_ids[0], hwpt_ids[0]);
  }
  fd.testMockDomainReplace(stdev_ids[0], ioas_id);
  fd.destroy(other);
});

testMockDomain("alloc_hwpt", ({ fd, ioas_id, stdev_ids, idev_ids }, mock_domains) => {
  for (let i = 0; i < mock_domains; i++) {
    const e = expectErrno(
      EOPNOTSUPP,
      () =>
        fd.hwptAlloc({
          dev_id: idev_ids[i],
          pt_id: ioas_id,
          flags: ~IOMMU_HWPT_ALLOC_NEST_PARENT >>> 0,
        }),
    );
    assert.equal(e.check, "paging-alloc-flags");
    const h0 = fd.hwptAlloc({ dev_id: idev_ids[i], pt_id: ioas_id });
    const h1 = fd.hwptAlloc({
      dev_id: idev_ids[i],
      pt_id: ioas_id,
      flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
    });
    // Do a hw_pagetable rotation test
    fd.testMockDomainReplace(stdev_ids[i], h0);
    expectErrno(EBUSY, () => fd.destroy(h0));
    fd.testMockDomainReplace(stdev_ids[i], h1);
    expectErrno(EBUSY, () => fd.destroy(h1));
    fd.testMockDomainReplace(stdev_ids[i], ioas_id);
    fd.destroy(h1);
    const { stdev_id } = fd.testMockDomain(h0);
    fd.destroy(stdev_id);
    fd.destroy(h0);
  }
});

/** FIXTURE(iommufd_dirty_tracking) without the bitmap buffer: an IOAS and one mock device. */
function testDirty(
  name: string,
  body: (f: IommufdFixture & { ioas_id: number; idev_id: number }) => void,
): void {
  Deno.test(`iommufd_dirty_tracking.${name}`, () => {
    const base = setupIommufd();
    const ioas_id = base.fd.ioasAlloc();
    const { idev_id } = base.fd.testMockDomain(ioas_id);
    body({ ...base, ioas_id, idev_id });
    teardown(base);
    assertReleasedOnExit(base.m);
  });
}

testDirty("enforce_dirty", ({ fd, ioas_id, idev_id }) => {
  // Regular case
  const hwpt_id = fd.hwptAlloc({
    dev_id: idev_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  });
  const { stdev_id } = fd.testMockDomain(hwpt_id);
  const e = expectErrno(EINVAL, () => fd.testMockDomain(hwpt_id, MOCK_FLAGS_DEVICE_NO_DIRTY));
  assert.equal(e.check, "mock-attach-dirty");
  fd.destroy(stdev_id);
  fd.destroy(hwpt_id);
  // IOMMU device does not support dirty tracking
  const other = fd.ioasAlloc();
  const md = fd.testMockDomain(other, MOCK_FLAGS_DEVICE_NO_DIRTY);
  const nodirty = expectErrno(
    EOPNOTSUPP,
    () =>
      fd.hwptAlloc({ dev_id: md.idev_id, pt_id: other, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }),
  );
  assert.equal(nodirty.check, "paging-alloc-dirty");
  fd.destroy(md.stdev_id);
});

testDirty("set_dirty_tracking", ({ fd, ioas_id, idev_id }) => {
  const hwpt_id = fd.hwptAlloc({
    dev_id: idev_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  });
  const { stdev_id } = fd.testMockDomain(hwpt_id);
  fd.setDirtyTracking(hwpt_id, true);
  fd.setDirtyTracking(hwpt_id, false);
  // Not a paging HWPT; a HWPT without dirty tracking
  expectErrno(ENOENT, () => fd.setDirtyTracking(ioas_id, true));
  const plain = fd.hwptAlloc({ dev_id: idev_id, pt_id: ioas_id });
  const e = expectErrno(EOPNOTSUPP, () => fd.setDirtyTracking(plain, true));
  assert.equal(e.check, "dirty-ops");
  fd.destroy(plain);
  fd.destroy(stdev_id);
  fd.destroy(hwpt_id);
});

testDirty("device_dirty_capability", ({ fd, ioas_id, idev_id }) => {
  const hwpt_id = fd.hwptAlloc({ dev_id: idev_id, pt_id: ioas_id });
  const { stdev_id } = fd.testMockDomain(hwpt_id);
  const info = fd.getHwInfo(idev_id, 0);
  assert.equal(
    info.out_capabilities & BigInt(IOMMU_HW_CAP_DIRTY_TRACKING),
    BigInt(IOMMU_HW_CAP_DIRTY_TRACKING),
  );
  fd.destroy(stdev_id);
  fd.destroy(hwpt_id);
});
