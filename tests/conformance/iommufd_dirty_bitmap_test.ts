/**
 * Ports of iommufd_dirty_tracking.get_dirty_bitmap and .get_dirty_bitmap_no_clear from
 * tools/testing/selftests/iommu/iommufd.c (v6.12), with the buffer-size variants from 8 KiB (half
 * of a u8 bitmap) up (the two _huge variants, over 1 MiB mock IO pages, are not ported), and tests
 * of IOMMU_HWPT_GET_DIRTY_BITMAP's checks and of the errors it drops.
 */
import assert from "node:assert/strict";
import {
  EINVAL,
  ENOENT,
  EOPNOTSUPP,
  EOVERFLOW,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  iommu_hwpt_selftest,
  IOMMU_TEST_IOTLB_DEFAULT,
  MOCK_APERTURE_START,
} from "../../lib/internal.ts";
import { assertReleasedOnExit, expectErrno } from "./fixture.ts";
import {
  HUGEPAGE_SIZE,
  type IoasFixture,
  MOCK_PAGE_SIZE,
  mockDomain,
  P,
  setupFixture,
  teardownFixture,
  testDirty,
} from "./ioas_helpers.ts";

interface Fixture extends IoasFixture {
  ioas_id: number;
  idev_id: number;
  page_size: bigint;
  /** The bitmap's size in bits, one per mock page (the selftest's self->bitmap_size). */
  bitmap_size: number;
  /** The user addresses of the variant's buffer and of the bitmap (with a spare mock page). */
  ubuffer: bigint;
  bitmap: bigint;
}

const VARIANTS = {
  // half of an u8 index bitmap
  domain_dirty8k: 8n << 10n,
  // one u8 index bitmap
  domain_dirty16k: 16n << 10n,
  // one u32 index bitmap
  domain_dirty128k: 128n << 10n,
  // one u64 index bitmap
  domain_dirty256k: 256n << 10n,
  // two u64 index and a trailing end bitmap
  domain_dirty640k: 640n << 10n,
  // 4K bitmap (128M IOVA range)
  domain_dirty128M: 128n << 20n,
  // 8K bitmap (256M IOVA range)
  domain_dirty256M: 256n << 20n,
};
type Variant = keyof typeof VARIANTS;

function testDirtyTracking(name: string, body: (f: Fixture, buffer_size: bigint) => void): void {
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    Deno.test(`iommufd_dirty_tracking.${name} (${variant})`, () => {
      const buffer_size = VARIANTS[variant];
      const base = setupFixture();
      const page_size = MOCK_PAGE_SIZE;
      const bitmap_size = Number(buffer_size / page_size);
      // Provision with an extra (PAGE_SIZE) for the unaligned cases.
      const bytes = BigInt(Math.ceil(bitmap_size / 8));
      const ubuffer = base.vmm.mmap(buffer_size < HUGEPAGE_SIZE ? HUGEPAGE_SIZE : buffer_size);
      const bitmap = base.vmm.mmap(bytes + P);
      const ioas_id = base.fd.ioasAlloc();
      const f: Fixture = { ...base, ioas_id, idev_id: 0, page_size, bitmap_size, ubuffer, bitmap };
      f.idev_id = mockDomain(f, ioas_id).idev_id;
      body(f, buffer_size);
      f.vmm.munmap(ubuffer, buffer_size < HUGEPAGE_SIZE ? HUGEPAGE_SIZE : buffer_size);
      f.vmm.munmap(bitmap, bytes + P);
      teardownFixture(f);
      assertReleasedOnExit(f.m);
    });
  }
}

/**
 * iommufd_utils.h _test_mock_dirty_bitmaps() with small IO pages (one bit per IOPTE): the device
 * dirties every even page of the `nbits`; the first read reports exactly those; the second reports
 * them again with NO_CLEAR, and nothing without. The bitmap is DIV_ROUND_UP(nbits, 8) bytes, and
 * at least one page is dirtied.
 */
function testMockDirtyBitmaps(
  f: Fixture,
  hwpt_id: number,
  length: bigint,
  iova: bigint,
  bitmap: bigint,
  flags: number,
): void {
  const nbits = f.bitmap_size;
  const size = Math.ceil(nbits / 8);
  const nr = Math.floor(nbits / 2) || 1;
  const bits = new Uint8Array(size);
  for (let i = 0; i < nbits; i += 2) bits[i >> 3] |= 1 << (i & 7);
  assert.equal(testDirty(f, hwpt_id, iova, length, f.page_size, bits), nr);
  const read = () => {
    f.vmm.write(bitmap, new Uint8Array(size));
    f.fd.hwptGetDirtyBitmap({ hwpt_id, iova, length, page_size: f.page_size, flags, data: bitmap });
    return f.vmm.read(bitmap, size);
  };
  // All even bits are dirty in the user bitmap.
  assert.deepEqual(read(), bits);
  // They were read already: all zeroes, unless they were not cleared.
  assert.deepEqual(
    read(),
    flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR ? bits : new Uint8Array(size),
  );
}

function getDirtyBitmap(f: Fixture, buffer_size: bigint, flags: number): void {
  const ioas_id = f.fd.ioasAlloc();
  f.fd.ioasMap({ ioas_id, user_va: f.ubuffer, length: buffer_size, iova: MOCK_APERTURE_START });
  const hwpt_id = f.fd.hwptAlloc({
    dev_id: f.idev_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  });
  const md = mockDomain(f, hwpt_id);
  f.fd.setDirtyTracking(hwpt_id, true);
  testMockDirtyBitmaps(f, hwpt_id, buffer_size, MOCK_APERTURE_START, f.bitmap, flags);
  // A bitmap that is not PAGE_SIZE aligned.
  testMockDirtyBitmaps(
    f,
    hwpt_id,
    buffer_size,
    MOCK_APERTURE_START,
    f.bitmap + MOCK_PAGE_SIZE,
    flags,
  );
  // A bitmap that is not u64 aligned.
  testMockDirtyBitmaps(f, hwpt_id, buffer_size, MOCK_APERTURE_START, f.bitmap + 0xff1n, flags);
  md.destroy();
  f.fd.destroy(hwpt_id);
}

testDirtyTracking("get_dirty_bitmap", (f, buffer_size) => getDirtyBitmap(f, buffer_size, 0));

testDirtyTracking(
  "get_dirty_bitmap_no_clear",
  (f, buffer_size) => getDirtyBitmap(f, buffer_size, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR),
);

/** A dirty-tracking HWPT with `length` bytes mapped at MOCK_APERTURE_START and a device attached. */
function dirtyHwpt(f: IoasFixture, length = 64n << 10n) {
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
  return { ioas_id, hwpt_id, length, user_va, idev_id: first.idev_id, auto_hwpt: first.hwpt_id };
}

/** The device dirties the pages of `pages` (in MOCK_PAGE_SIZE units from MOCK_APERTURE_START). */
function dirty(f: IoasFixture, hwpt_id: number, length: bigint, pages: number[]): void {
  const bits = new Uint8Array(Number(length / MOCK_PAGE_SIZE / 8n));
  for (const i of pages) bits[i >> 3] |= 1 << (i & 7);
  testDirty(f, hwpt_id, MOCK_APERTURE_START, length, MOCK_PAGE_SIZE, bits);
}

Deno.test("IOMMU_HWPT_GET_DIRTY_BITMAP: checks in the kernel's order", () => {
  const f = setupFixture();
  const { ioas_id, hwpt_id, length, user_va, idev_id, auto_hwpt } = dirtyHwpt(f);
  const get = (args: Partial<Parameters<typeof f.fd.hwptGetDirtyBitmap>[0]>) => () =>
    f.fd.hwptGetDirtyBitmap({
      hwpt_id,
      iova: MOCK_APERTURE_START,
      length,
      page_size: MOCK_PAGE_SIZE,
      ...args,
    });
  const check = (errno: number, id: string, call: () => unknown) =>
    assert.equal(expectErrno(errno, call).check, id);
  check(EOPNOTSUPP, "get-dirty-flags", get({ flags: 2 }));
  check(ENOENT, "get-dirty-hwpt", get({ hwpt_id: ioas_id }));
  const parent = f.fd.hwptAlloc({
    dev_id: idev_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
  });
  const nested = f.fd.hwptAlloc({
    dev_id: idev_id,
    pt_id: parent,
    data_type: IOMMU_HWPT_DATA_SELFTEST,
    data: iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT }),
  });
  check(ENOENT, "get-dirty-hwpt", get({ hwpt_id: nested }));
  check(EOVERFLOW, "dirty-range-overflow", get({ iova: 1n << 63n, length: (1n << 63n) + 0x1000n }));
  check(EINVAL, "dirty-range-align", get({ iova: MOCK_APERTURE_START + 1n }));
  check(EINVAL, "dirty-range-page-size", get({ page_size: 0n }));
  check(EINVAL, "dirty-range-page-align", get({ page_size: P, length: length - MOCK_PAGE_SIZE }));
  // A zero length wraps to ULONG_MAX: EOVERFLOW anywhere but at IOVA 0.
  check(EOVERFLOW, "dirty-range-overflow", get({ length: 0n }));
  // A HWPT allocated without DIRTY_TRACKING has no dirty operations.
  check(EOPNOTSUPP, "dirty-bitmap-ops", get({ hwpt_id: auto_hwpt }));
  f.fd.destroy(nested);
  f.fd.destroy(parent);
  f.vmm.munmap(user_va, length);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("IOMMU_HWPT_GET_DIRTY_BITMAP: errors of the walk are dropped, and the ioctl succeeds", () => {
  const f = setupFixture();
  const { ioas_id, hwpt_id, length, user_va } = dirtyHwpt(f);
  const get = (iova: bigint, len: bigint, data?: bigint) =>
    f.fd.hwptGetDirtyBitmap({ hwpt_id, iova, length: len, page_size: MOCK_PAGE_SIZE, data });
  // Tracking is off: the mock's read_and_clear_dirty fails with EINVAL, which nobody hears of.
  assert.deepEqual(get(MOCK_APERTURE_START, length), new Uint8Array(8));
  f.fd.setDirtyTracking(hwpt_id, true);
  dirty(f, hwpt_id, length, [0, 31]);
  // A bitmap pointer that cannot be pinned: EFAULT, dropped inside iova_bitmap_set(); the driver
  // has cleared the dirty bits it could not report, so the next read finds none (v6.11 on).
  assert.equal(get(MOCK_APERTURE_START, length, 0x1000n), null);
  assert.deepEqual(get(MOCK_APERTURE_START, length), new Uint8Array(8));
  dirty(f, hwpt_id, length, [0, 31]);
  // A range with a hole after the mapping: the mapped part is reported, the hole's EINVAL dropped.
  const bits = get(MOCK_APERTURE_START, length * 2n)!;
  assert.deepEqual([...bits.subarray(0, 4)], [1, 0, 0, 0x80]);
  // A range that starts in a hole: nothing is read at all.
  f.fd.ioasUnmap(ioas_id, MOCK_APERTURE_START, length);
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: P, iova: MOCK_APERTURE_START + P });
  assert.deepEqual(get(MOCK_APERTURE_START, 2n * P), new Uint8Array(8));
  f.vmm.munmap(user_va, length);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("IOMMU_HWPT_SET_DIRTY_TRACKING: enabling clears the dirty bits already set", () => {
  const f = setupFixture();
  const { hwpt_id, length, user_va } = dirtyHwpt(f);
  f.fd.setDirtyTracking(hwpt_id, true);
  dirty(f, hwpt_id, length, [1, 2, 3]);
  f.fd.setDirtyTracking(hwpt_id, false);
  f.fd.setDirtyTracking(hwpt_id, true);
  const bits = f.fd.hwptGetDirtyBitmap({
    hwpt_id,
    iova: MOCK_APERTURE_START,
    length,
    page_size: MOCK_PAGE_SIZE,
  });
  assert.deepEqual(bits, new Uint8Array(8));
  f.vmm.munmap(user_va, length);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("iova_bitmap: a bitmap larger than one window of 512 pinned pages", () => {
  // One bit per byte: 32 MiB of IOVA is 32 Mi bits, 4 MiB of bitmap, two windows.
  const f = setupFixture();
  const { hwpt_id, length, user_va } = dirtyHwpt(f, 32n << 20n);
  f.fd.setDirtyTracking(hwpt_id, true);
  // Dirty the first mock page, one that straddles the two windows, and the last.
  const window = 512n * P * 8n;
  const pages = [0n, window / MOCK_PAGE_SIZE - 1n, length / MOCK_PAGE_SIZE - 1n];
  const bits = new Uint8Array(Number(length / MOCK_PAGE_SIZE / 8n));
  for (const p of pages) bits[Number(p >> 3n)] |= 1 << Number(p & 7n);
  testDirty(f, hwpt_id, MOCK_APERTURE_START, length, MOCK_PAGE_SIZE, bits);
  const data = f.vmm.mmap(length / 8n);
  f.fd.hwptGetDirtyBitmap({ hwpt_id, iova: MOCK_APERTURE_START, length, page_size: 1n, data });
  for (const p of pages) {
    const first_bit = p * MOCK_PAGE_SIZE;
    const got = f.vmm.read(data + first_bit / 8n, Number(MOCK_PAGE_SIZE / 8n));
    assert.ok(got.every((b) => b === 0xff), `the 2048 bits of mock page ${p} are set`);
  }
  const clean = f.vmm.read(data + MOCK_PAGE_SIZE / 8n, Number(MOCK_PAGE_SIZE / 8n));
  assert.ok(clean.every((b) => b === 0), "a clean page's bits are not");
  f.vmm.munmap(user_va, length);
  f.vmm.munmap(data, length / 8n);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("IOMMU_HWPT_GET_DIRTY_BITMAP: a range whose bitmap no task could map succeeds; the helper reads back null", () => {
  // Found by tests/fuzz: 2^63 bytes in 2 KiB pages is a 2^49-byte bitmap. The kernel checks the
  // range, walks until the first hole and drops that error; the helper used to allocate a buffer
  // for the whole bitmap to read it back, and threw a RangeError.
  const f = setupFixture();
  const { hwpt_id, user_va, length } = dirtyHwpt(f);
  f.fd.setDirtyTracking(hwpt_id, true);
  const args = { hwpt_id, iova: 0n, length: 1n << 63n, page_size: MOCK_PAGE_SIZE };
  assert.equal(f.fd.hwptGetDirtyBitmap(args), null);
  assert.equal(f.fd.hwptGetDirtyBitmap({ ...args, length: 1n << 56n }), null);
  f.vmm.munmap(user_va, length);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});
