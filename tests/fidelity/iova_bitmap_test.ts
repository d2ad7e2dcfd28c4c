/**
 * Regression tests for drivers/iommu/iommufd/iova_bitmap.c (Linux v6.12) found by the fidelity
 * audit of issue 14 (finding J): since v6.11, iova_bitmap_for_each() calls the reader once over the
 * whole range and iova_bitmap_set() pins windows of the user's u8 bitmap on demand, dropping any
 * failure; the driver clears each dirty IOPTE before reporting it.
 */
import assert from "node:assert/strict";
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, MOCK_APERTURE_START } from "../../lib/internal.ts";
import {
  type IoasFixture,
  MOCK_PAGE_SIZE,
  mockDomain,
  P,
  setupFixture,
  teardownFixture,
  testDirty,
} from "../conformance/ioas_helpers.ts";

/** A dirty-tracking mock HWPT with `length` bytes of fresh memory mapped at MOCK_APERTURE_START. */
function dirtyHwpt(f: IoasFixture, length: bigint) {
  const ioas_id = f.fd.ioasAlloc();
  const user_va = f.vmm.mmap(length);
  f.fd.ioasMap({ ioas_id, user_va, length, iova: MOCK_APERTURE_START });
  const first = mockDomain(f, ioas_id);
  const hwpt_id = f.fd.hwptAlloc({
    dev_id: first.idev_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  });
  mockDomain(f, hwpt_id);
  f.fd.setDirtyTracking(hwpt_id, true);
  return { hwpt_id, user_va };
}

/** IOMMU_TEST_OP_DIRTY: the device dirties these mock pages (indices from MOCK_APERTURE_START). */
function dirty(f: IoasFixture, hwpt_id: number, length: bigint, pages: bigint[]): void {
  const bits = new Uint8Array(Number(length / MOCK_PAGE_SIZE / 8n));
  for (const p of pages) bits[Number(p >> 3n)] |= 1 << Number(p & 7n);
  assert.equal(
    testDirty(f, hwpt_id, MOCK_APERTURE_START, length, MOCK_PAGE_SIZE, bits),
    pages.length,
  );
}

Deno.test("iova_bitmap.c: an unwritable bitmap loses the dirty bits the driver cleared", () => {
  const f = setupFixture();
  const length = 64n << 10n;
  const { hwpt_id, user_va } = dirtyHwpt(f, length);
  dirty(f, hwpt_id, length, [0n, 5n, 31n]);
  const get = (data: bigint) =>
    f.fd.hwptGetDirtyBitmap({
      hwpt_id,
      iova: MOCK_APERTURE_START,
      length,
      page_size: MOCK_PAGE_SIZE,
      data,
    });
  // The bitmap pointer is not mapped: the ioctl succeeds (the EFAULT is dropped in
  // iova_bitmap_set()), and mock_domain_read_and_clear_dirty() has cleared all three IOPTEs.
  const hole = f.vmm.mmap(P);
  f.vmm.munmap(hole, P);
  assert.equal(get(hole), null);
  const data = f.vmm.mmap(P);
  assert.deepEqual(get(data), new Uint8Array(8), "nothing is dirty any more");
  f.vmm.munmap(data, P);
  f.vmm.munmap(user_va, length);
  teardownFixture(f);
});

Deno.test("iova_bitmap.c: a bitmap whose second page is unmapped reports the first page's bits only", () => {
  // One bit per 2 KiB mock page: 64 Mi of IOVA is 32 Ki bits, 4 KiB of bitmap; with the bitmap
  // starting 2 KiB into a page, its second half lies in the next page, which is not mapped.
  const f = setupFixture();
  const length = 64n << 20n;
  const { hwpt_id, user_va } = dirtyHwpt(f, length);
  const firstHalf = 2048n * 8n; // bits in the 2 KiB of bitmap that are mapped
  dirty(f, hwpt_id, length, [1n, firstHalf - 1n, firstHalf, firstHalf + 7n]);
  const area = f.vmm.mmap(2n * P);
  f.vmm.munmap(area + P, P);
  const data = area + P - 2048n;
  f.fd.hwptGetDirtyBitmap({
    hwpt_id,
    iova: MOCK_APERTURE_START,
    length,
    page_size: MOCK_PAGE_SIZE,
    data,
  });
  const got = f.vmm.read(data, 2048);
  assert.equal(got[0], 0b10, "page 1");
  assert.equal(got[2047], 0x80, "the last page whose bit is mapped");
  assert.equal(got.slice(1, 2047).some((b) => b !== 0), false);
  // The two pages whose bits fall in the unmapped page were cleared and are gone.
  const again = f.vmm.mmap(P);
  const bits = f.fd.hwptGetDirtyBitmap({
    hwpt_id,
    iova: MOCK_APERTURE_START,
    length,
    page_size: MOCK_PAGE_SIZE,
    data: again,
  })!;
  assert.equal(bits.some((b) => b !== 0), false);
  f.vmm.munmap(again, P);
  f.vmm.munmap(area, P);
  f.vmm.munmap(user_va, length);
  teardownFixture(f);
});

Deno.test("iova_bitmap.c: a dirty IOPTE straddling two windows of a 4 MiB bitmap is set whole", () => {
  // One bit per byte: 32 MiB of IOVA is 32 Mi bits, 4 MiB of bitmap, more than one window of 512
  // pinned pages. With the bitmap 1 byte into its first page, the first window ends 8 bits short
  // of a 2 KiB boundary, so the mock page ending at 16 MiB straddles it.
  const f = setupFixture();
  const length = 32n << 20n;
  const { hwpt_id, user_va } = dirtyHwpt(f, length);
  const straddle = (16n << 20n) / MOCK_PAGE_SIZE - 1n;
  const pages = [0n, straddle, length / MOCK_PAGE_SIZE - 1n];
  dirty(f, hwpt_id, length, pages);
  const area = f.vmm.mmap(length / 8n + P);
  const data = area + 1n;
  f.fd.hwptGetDirtyBitmap({ hwpt_id, iova: MOCK_APERTURE_START, length, page_size: 1n, data });
  const nbytes = Number(MOCK_PAGE_SIZE / 8n);
  for (const p of pages) {
    const got = f.vmm.read(data + p * MOCK_PAGE_SIZE / 8n, nbytes);
    assert.ok(got.every((b) => b === 0xff), `the 2048 bits of mock page ${p} are set`);
  }
  // Nothing else: the bytes around the straddling page are clear.
  const around = f.vmm.read(data + (straddle - 1n) * MOCK_PAGE_SIZE / 8n, nbytes);
  assert.ok(around.every((b) => b === 0));
  const after = f.vmm.read(data + (straddle + 1n) * MOCK_PAGE_SIZE / 8n, nbytes);
  assert.ok(after.every((b) => b === 0));
  f.vmm.munmap(area, length / 8n + P);
  f.vmm.munmap(user_va, length);
  teardownFixture(f);
});
