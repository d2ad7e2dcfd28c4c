/**
 * Regression tests for drivers/iommu/iommufd/selftest.c iommufd_test_dirty() (Linux v6.12),
 * IOMMU_TEST_OP_DIRTY, found by the fidelity audit of issue 14 (finding M): the bitmap of
 * `max = length / page_size` bits is copied as DIV_ROUND_UP(max, 8) bytes into a buffer of
 * DIV_ROUND_UP(max, BITS_PER_LONG) longs.
 */
import assert from "node:assert/strict";
import {
  EFAULT,
  ErrnoError,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  iommufd_test_dirty,
  MOCK_APERTURE_START,
} from "../../lib/internal.ts";
import {
  ictxOf,
  type IoasFixture,
  MOCK_PAGE_SIZE,
  mockDomain,
  P,
  setupFixture,
  teardownFixture,
  testDirty,
} from "../conformance/ioas_helpers.ts";

/** A dirty-tracking HWPT over the fixture's 16-page buffer, with a mock device attached. */
function dirtyHwpt(f: IoasFixture) {
  const ioas_id = f.fd.ioasAlloc();
  const idev = mockDomain(f, ioas_id);
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P, iova: MOCK_APERTURE_START });
  const hwpt_id = f.fd.hwptAlloc({
    dev_id: idev.idev_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  });
  const md = mockDomain(f, hwpt_id);
  f.fd.setDirtyTracking(hwpt_id, true);
  return { hwpt_id, md, idev };
}

Deno.test("selftest.c iommufd_test_dirty(): fewer than 8 pages copy one byte (DIV_ROUND_UP)", () => {
  const f = setupFixture();
  const { hwpt_id, md, idev } = dirtyHwpt(f);
  // 4 mock pages, all marked: the kernel copies 1 byte and marks 4 (rounding down copied none).
  const n = testDirty(
    f,
    hwpt_id,
    MOCK_APERTURE_START,
    4n * MOCK_PAGE_SIZE,
    MOCK_PAGE_SIZE,
    new Uint8Array([0x0f]),
  );
  assert.equal(n, 4);
  // 9 pages: 2 bytes copied, the ninth bit counts too.
  const m = testDirty(
    f,
    hwpt_id,
    MOCK_APERTURE_START + 8n * MOCK_PAGE_SIZE,
    9n * MOCK_PAGE_SIZE,
    MOCK_PAGE_SIZE,
    new Uint8Array([0xff, 0x01]),
  );
  assert.equal(m, 9);
  // Bits past `max` in the copied byte are not pages of the range: 3 pages, 0xff → 3.
  const k = testDirty(
    f,
    hwpt_id,
    MOCK_APERTURE_START + 20n * MOCK_PAGE_SIZE,
    3n * MOCK_PAGE_SIZE,
    MOCK_PAGE_SIZE,
    new Uint8Array([0xff]),
  );
  assert.equal(k, 3);
  md.destroy();
  f.fd.destroy(hwpt_id);
  idev.destroy();
  teardownFixture(f);
});

Deno.test("selftest.c iommufd_test_dirty(): a 4-page bitmap at an unreadable address is EFAULT", () => {
  const f = setupFixture();
  const { hwpt_id, md, idev } = dirtyHwpt(f);
  const hole = f.vmm.mmap(P);
  f.vmm.munmap(hole, P);
  const rc = f.vmm.task.syscall(() =>
    iommufd_test_dirty(
      ictxOf(f),
      hwpt_id,
      MOCK_APERTURE_START,
      4n * MOCK_PAGE_SIZE,
      MOCK_PAGE_SIZE,
      hole,
    )
  );
  assert.ok(rc instanceof ErrnoError, `returned ${rc}`);
  assert.equal(rc.errno, EFAULT);
  assert.equal(rc.check, "test-dirty-bitmap");
  md.destroy();
  f.fd.destroy(hwpt_id);
  idev.destroy();
  teardownFixture(f);
});
