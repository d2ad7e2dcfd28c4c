/**
 * The selftest's test operations on an IOAS (chapter 11, "Reserved ranges, mappings, pins and the
 * memory limit"): each check with its errno, and what a passing check proves.
 */
import assert from "node:assert/strict";
import {
  EADDRINUSE,
  EFAULT,
  EINVAL,
  EIO,
  ENOENT,
  ErrnoError,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  type iommufd_ctx,
  iommufd_test_dirty,
  MOCK_APERTURE_START,
  PAGE_SIZE,
} from "../../lib/internal.ts";
import { expectErrno, testF } from "../conformance/fixture.ts";

const P = BigInt(PAGE_SIZE);
const M = P / 2n;

testF("IOMMU_TEST_OP_ADD_RESERVED: an IOAS by ID; the range is reserved like a device's", (f) => {
  const { fd, vmm } = f;
  const ioas_id = fd.ioasAlloc();
  const e = expectErrno(ENOENT, () => fd.testAddReserved(ioas_id + 1, 0n, P));
  assert.equal(e.check, "test-add-reserved-ioas");
  fd.testAddReserved(ioas_id, MOCK_APERTURE_START, 16n * P);
  const va = vmm.mmap(P);
  const map = () => fd.ioasMap({ ioas_id, user_va: va, length: P, iova: MOCK_APERTURE_START });
  expectErrno(EINVAL, map); // the IOVA is reserved
  fd.ioasMap({ ioas_id, user_va: va, length: P, iova: MOCK_APERTURE_START + 16n * P });
  const over = expectErrno(
    EADDRINUSE,
    () => fd.testAddReserved(ioas_id, MOCK_APERTURE_START, 32n * P),
  );
  assert.equal(over.check, "reserve-area");
  vmm.munmap(va, P);
});

testF("IOMMU_TEST_OP_MD_CHECK_MAP: checks in order; a match, a mismatch, a hole", (f) => {
  const { fd, vmm, m } = f;
  const ioas_id = fd.ioasAlloc();
  const { hwpt_id } = fd.testMockDomain(ioas_id);
  const va = vmm.mmap(4n * P);
  vmm.write(va, new Uint8Array(Number(4n * P)).fill(1));
  const iova = fd.ioasMap({ ioas_id, user_va: va, length: 4n * P });
  const check = (id: number, at: bigint, length: bigint, uptr: bigint) => () =>
    fd.testMdCheckMap(id, at, length, uptr);
  // md-check-pa-args, before the lookup: a bad ID with bad arguments is EINVAL.
  for (const args of [[iova + 1n, M, va], [iova, M + 1n, va], [iova, M, va + 1n]] as const) {
    assert.equal(expectErrno(EINVAL, check(999, ...args)).check, "md-check-pa-args");
  }
  assert.equal(
    expectErrno(EINVAL, check(hwpt_id, iova, 2n * M, (1n << 64n) - M)).check,
    "md-check-pa-args",
  );
  assert.equal(expectErrno(ENOENT, check(ioas_id, iova, M, va)).check, "md-pagetable-hwpt");
  fd.testMdCheckMap(hwpt_id, iova, 4n * P, va);
  fd.testMdCheckMap(hwpt_id, iova + M, P, va + M);
  // The IOVA maps other memory; the IOVA maps nothing; the user address has no page.
  assert.equal(expectErrno(EINVAL, check(hwpt_id, iova, P, va + P)).check, "md-check-pa-mismatch");
  assert.equal(
    expectErrno(EINVAL, check(hwpt_id, iova + 4n * P, M, va)).check,
    "md-check-pa-mismatch",
  );
  const hole = vmm.mmap(P);
  vmm.munmap(hole, P);
  assert.equal(expectErrno(EFAULT, check(hwpt_id, iova, M, hole)).check, "md-check-pa-fault");
  // A paging HWPT of another driver (VT-d) is not a mock domain.
  m.addIommu({ kind: "vtd" });
  const pdev = m.addDevice({ iommu: "dmar0" });
  // Booting the driver and probing the device allocate the unit's root, context and PASID tables:
  // the machine's, kept after the iommufd is closed.
  f.before.nr_iommu_pages = m.pgdat.vm_stat.NR_IOMMU_PAGES;
  const toy = fd.bind(pdev);
  const toy_hwpt = fd.hwptAlloc({ dev_id: toy, pt_id: ioas_id });
  assert.equal(expectErrno(EINVAL, check(toy_hwpt, iova, M, va)).check, "md-pagetable-mock");
  fd.destroy(toy_hwpt);
  fd.unbind(toy);
  fd.ioasUnmap(ioas_id, iova, 4n * P);
  vmm.munmap(va, 4n * P);
});

testF("IOMMU_TEST_OP_MD_CHECK_REFS: pins counted per small page; EIO when they differ", (f) => {
  const { fd, vmm } = f;
  const ioas_id = fd.ioasAlloc();
  fd.testMockDomain(ioas_id);
  const va = vmm.mmap(4n * P);
  vmm.write(va, new Uint8Array(Number(4n * P)).fill(1));
  assert.equal(
    expectErrno(EINVAL, () => fd.testMdCheckRefs(va + 1n, P, 0)).check,
    "md-check-refs-args",
  );
  assert.equal(expectErrno(EINVAL, () => fd.testMdCheckRefs(va, M, 0)).check, "md-check-refs-args");
  fd.testMdCheckRefs(va, 4n * P, 0);
  const iova = fd.ioasMap({ ioas_id, user_va: va + P, length: 2n * P });
  fd.testMdCheckRefs(va + P, 2n * P, 1);
  const e = expectErrno(EIO, () => fd.testMdCheckRefs(va, 4n * P, 1));
  assert.equal(e.check, "md-check-refs-count");
  fd.ioasUnmap(ioas_id, iova, 2n * P);
  fd.testMdCheckRefs(va, 4n * P, 0);
  vmm.munmap(va, 4n * P);
});

testF("IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT: at least one batch element; the limit applies", (f) => {
  const { fd, m } = f;
  const e = expectErrno(EINVAL, () => fd.testSetTempMemoryLimit(11));
  assert.equal(e.check, "test-memory-limit");
  assert.equal(m.iommufd_test_memory_limit, 65536, "a refused limit changes nothing");
  fd.testSetTempMemoryLimit(12);
  assert.equal(m.iommufd_test_memory_limit, 12);
  m.iommufd_test_memory_limit = 65536;
});

testF("IOMMU_TEST_OP_DIRTY: iommufd's checks before the lookup, then the mock's", (f) => {
  const { fd, vmm } = f;
  const ioas_id = fd.ioasAlloc();
  const { idev_id } = fd.testMockDomain(ioas_id);
  const hwpt_id = fd.hwptAlloc({
    dev_id: idev_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  });
  const va = vmm.mmap(8n * P);
  fd.ioasMap({ ioas_id, user_va: va, length: 8n * P, iova: MOCK_APERTURE_START });
  const bits = new Uint8Array([0b1000_0001, 0]);
  const dirty = (id: number, iova = MOCK_APERTURE_START, length = 16n * M, page = M) => () =>
    fd.testDirty(id, iova, length, page, bits);
  // test-dirty-args comes before the lookup: a missing HWPT with bad arguments is EINVAL.
  for (const args of [[MOCK_APERTURE_START, 16n * M, 0n], [MOCK_APERTURE_START, 0n, M]] as const) {
    assert.equal(expectErrno(EINVAL, dirty(999, ...args)).check, "test-dirty-args");
  }
  assert.equal(expectErrno(EINVAL, dirty(999, MOCK_APERTURE_START + 1n)).check, "test-dirty-args");
  assert.equal(expectErrno(EINVAL, dirty(999, undefined, 16n * M + 1n)).check, "test-dirty-args");
  const ictx = vmm.task.files!.fdt.get(fd.fd)!.private_data as iommufd_ctx;
  const nul = vmm.task.syscall(() =>
    iommufd_test_dirty(ictx, hwpt_id, MOCK_APERTURE_START, 16n * M, M, 0n)
  );
  assert.ok(nul instanceof ErrnoError && nul.check === "test-dirty-args", "a null bitmap pointer");
  assert.equal(expectErrno(ENOENT, dirty(ioas_id)).check, "md-pagetable-hwpt");
  assert.equal(expectErrno(EINVAL, dirty(hwpt_id)).check, "test-dirty-off");
  fd.setDirtyTracking(hwpt_id, true);
  assert.equal(fd.testDirty(hwpt_id, MOCK_APERTURE_START, 16n * M, M, bits), 2);
  const data = vmm.mmap(P);
  fd.hwptGetDirtyBitmap({
    hwpt_id,
    iova: MOCK_APERTURE_START,
    length: 16n * M,
    page_size: M,
    data,
  });
  assert.deepEqual(vmm.read(data, 2), bits, "the device's writes show in the dirty bitmap");
  fd.destroy(hwpt_id);
  fd.ioasUnmap(ioas_id, MOCK_APERTURE_START, 8n * P);
  vmm.munmap(va, 8n * P);
  vmm.munmap(data, P);
});
