/**
 * Ports of FIXTURE(iommufd_ioas) in tools/testing/selftests/iommu/iommufd.c (v6.12) that concern
 * objects, HWPTs, devices and hardware information, with the variants no_domain, mock_domain and
 * two_mock_domain. (The mapping tests come with the IOAS mapping chapters.)
 */
import assert from "node:assert/strict";
import {
  EBUSY,
  EFAULT,
  EINVAL,
  ENOENT,
  EOPNOTSUPP,
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE,
  iommu_hwpt_invalidate,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
  iommu_hwpt_invalidate_selftest,
  iommu_hwpt_selftest,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_TEST_IOTLB_DEFAULT,
  type IommufdFd,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX,
} from "../../lib/internal.ts";
import {
  assertReleasedOnExit,
  expectErrno,
  type IommufdFixture,
  setupIommufd,
  teardown,
} from "./fixture.ts";

interface IoasFixture extends IommufdFixture {
  ioas_id: number;
  stdev_id: number;
  hwpt_id: number;
  device_id: number;
}

const VARIANTS = { no_domain: 0, mock_domain: 1, two_mock_domain: 2 };

/** FIXTURE_SETUP(iommufd_ioas): an IOAS and `mock_domains` mock devices attached to it. */
function testIoas(
  name: string,
  body: (f: IoasFixture, variant: keyof typeof VARIANTS) => void,
  variants: (keyof typeof VARIANTS)[] = ["no_domain", "mock_domain", "two_mock_domain"],
): void {
  for (const variant of variants) {
    Deno.test(`iommufd_ioas.${name} (${variant})`, () => {
      const base = setupIommufd();
      const f: IoasFixture = {
        ...base,
        ioas_id: base.fd.ioasAlloc(),
        stdev_id: 0,
        hwpt_id: 0,
        device_id: 0,
      };
      for (let i = 0; i < VARIANTS[variant]; i++) {
        const md = f.fd.testMockDomain(f.ioas_id);
        f.stdev_id = md.stdev_id;
        f.hwpt_id = md.hwpt_id;
        f.device_id = md.idev_id;
      }
      body(f, variant);
      teardown(f);
      assertReleasedOnExit(f.m);
    });
  }
}

const selftestData = (iotlb = IOMMU_TEST_IOTLB_DEFAULT) => iommu_hwpt_selftest.encode({ iotlb });

/** test_cmd_hwpt_alloc_nested / test_err_…: HWPT_ALLOC with driver data (or a bad pointer). */
function hwptAllocNested(
  fd: IommufdFd,
  dev_id: number,
  pt_id: number,
  flags: number,
  data_type: number,
  data: Uint8Array | null,
  data_len: number,
): number {
  return fd.hwptAlloc(
    data
      ? { dev_id, pt_id, flags, data_type, data: data.subarray(0, data_len), data_len }
      : { dev_id, pt_id, flags, data_type, data_len, data_uptr: 0n },
  );
}

/**
 * test_cmd_hwpt_invalidate / test_err_…: the raw ioctl with entry_num in and out. `uptr` 0 sends
 * a NULL array.
 */
function invalidate(
  fd: IommufdFd,
  hwpt_id: number,
  reqs: { flags: number; iotlb_id: number }[],
  data_type: number,
  entry_len: number,
  entry_num: number,
  nullArray = false,
): { rc: number; entry_num: number } {
  const arg = fd.scratch();
  const data_uptr = nullArray ? 0n : fd.dataArea();
  reqs.forEach((r, k) => {
    const bytes = iommu_hwpt_invalidate_selftest.encode(r);
    fd.process.write(fd.dataArea() + BigInt(k * iommu_hwpt_invalidate_selftest.sizeof), bytes);
  });
  fd.process.write(
    arg,
    iommu_hwpt_invalidate.encode({
      size: iommu_hwpt_invalidate.sizeof,
      hwpt_id,
      data_uptr,
      data_type,
      entry_len,
      entry_num,
    }),
  );
  const rc = fd.ioctl(IOMMU_HWPT_INVALIDATE, arg);
  return {
    rc,
    entry_num:
      iommu_hwpt_invalidate.decode(fd.process.read(arg, iommu_hwpt_invalidate.sizeof)).entry_num,
  };
}

function checkIotlbAll(fd: IommufdFd, hwpt_id: number, value: number): void {
  for (let id = 0; id <= MOCK_NESTED_DOMAIN_IOTLB_ID_MAX; id++) {
    fd.testCheckIotlb(hwpt_id, id, value);
  }
}

testIoas("ioas_auto_destroy", () => {});

testIoas("ioas_destroy", ({ fd, ioas_id, stdev_id }) => {
  if (stdev_id) {
    // IOAS cannot be freed while a device has a HWPT using it
    const e = expectErrno(EBUSY, () => fd.destroy(ioas_id));
    assert.equal(e.check, "destroy-busy");
  } else {
    // Can allocate and manually free an IOAS table
    fd.destroy(ioas_id);
  }
});

testIoas("alloc_hwpt_nested", ({ fd, ioas_id, device_id, stdev_id }) => {
  const min_data_len = iommu_hwpt_selftest.offsetofend("iotlb");
  const data = selftestData();
  if (device_id) {
    // Negative tests
    expectErrno(ENOENT, () => fd.hwptAlloc({ dev_id: ioas_id, pt_id: device_id }));
    expectErrno(EINVAL, () => fd.hwptAlloc({ dev_id: device_id, pt_id: device_id }));
    const parent = fd.hwptAlloc({
      dev_id: device_id,
      pt_id: ioas_id,
      flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
    });
    const parent_not_work = fd.hwptAlloc({ dev_id: device_id, pt_id: ioas_id });
    // Negative nested tests
    expectErrno(
      EINVAL,
      () => hwptAllocNested(fd, device_id, parent, 0, IOMMU_HWPT_DATA_NONE, data, data.length),
    );
    expectErrno(
      EOPNOTSUPP,
      () =>
        hwptAllocNested(fd, device_id, parent, 0, IOMMU_HWPT_DATA_SELFTEST + 1, data, data.length),
    );
    expectErrno(
      EINVAL,
      () =>
        hwptAllocNested(fd, device_id, parent, 0, IOMMU_HWPT_DATA_SELFTEST, data, min_data_len - 1),
    );
    expectErrno(
      EFAULT,
      () => hwptAllocNested(fd, device_id, parent, 0, IOMMU_HWPT_DATA_SELFTEST, null, data.length),
    );
    expectErrno(
      EOPNOTSUPP,
      () =>
        hwptAllocNested(
          fd,
          device_id,
          parent,
          IOMMU_HWPT_ALLOC_NEST_PARENT,
          IOMMU_HWPT_DATA_SELFTEST,
          data,
          data.length,
        ),
    );
    const notParent = expectErrno(
      EINVAL,
      () =>
        hwptAllocNested(
          fd,
          device_id,
          parent_not_work,
          0,
          IOMMU_HWPT_DATA_SELFTEST,
          data,
          data.length,
        ),
    );
    assert.equal(notParent.check, "nested-alloc-parent");
    // Allocate two nested hwpts sharing one common parent hwpt
    const nested = [0, 1].map(() =>
      hwptAllocNested(fd, device_id, parent, 0, IOMMU_HWPT_DATA_SELFTEST, data, data.length)
    );
    checkIotlbAll(fd, nested[0], IOMMU_TEST_IOTLB_DEFAULT);
    checkIotlbAll(fd, nested[1], IOMMU_TEST_IOTLB_DEFAULT);
    // Negative test: a nested hwpt on top of a nested hwpt
    const nn = expectErrno(
      EINVAL,
      () =>
        hwptAllocNested(fd, device_id, nested[0], 0, IOMMU_HWPT_DATA_SELFTEST, data, data.length),
    );
    assert.equal(nn.check, "hwpt-alloc-pt-type");
    // Negative test: parent hwpt now cannot be freed
    expectErrno(EBUSY, () => fd.destroy(parent));

    const req = (flags: number, iotlb_id: number) => ({ flags, iotlb_id });
    const len = iommu_hwpt_invalidate_selftest.sizeof;
    // hwpt_invalidate only supports a user-managed hwpt (nested); v6.12 answers ENOENT
    let r = invalidate(fd, parent, [req(0, 0)], IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, len, 1);
    assert.deepEqual(r, { rc: -ENOENT, entry_num: 0 });
    // Check data_type by passing zero-length array
    r = invalidate(fd, nested[0], [], IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, len, 0);
    assert.deepEqual(r, { rc: 0, entry_num: 0 });
    // Negative test: invalid data_type
    r = invalidate(fd, nested[0], [req(0, 0)], IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, len, 1);
    assert.deepEqual(r, { rc: -EINVAL, entry_num: 0 });
    // Negative test: structure size sanity
    r = invalidate(fd, nested[0], [req(0, 0)], IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, len + 1, 1);
    assert.deepEqual(r, { rc: -EINVAL, entry_num: 0 });
    r = invalidate(fd, nested[0], [req(0, 0)], IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 1, 1);
    assert.deepEqual(r, { rc: -EINVAL, entry_num: 0 });
    // Negative test: invalid flag is passed
    r = invalidate(
      fd,
      nested[0],
      [req(0xffffffff, 0)],
      IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
      len,
      1,
    );
    assert.deepEqual(r, { rc: -EOPNOTSUPP, entry_num: 0 });
    // Negative test: invalid data_uptr when array is not empty
    r = invalidate(fd, nested[0], [req(0, 0)], IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, len, 1, true);
    assert.deepEqual(r, { rc: -EINVAL, entry_num: 0 });
    // Negative test: invalid entry_len when array is not empty
    r = invalidate(fd, nested[0], [req(0, 0)], IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 0, 1);
    assert.deepEqual(r, { rc: -EINVAL, entry_num: 0 });
    // Negative test: invalid iotlb_id
    r = invalidate(
      fd,
      nested[0],
      [req(0, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1)],
      IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
      len,
      1,
    );
    assert.deepEqual(r, { rc: -EINVAL, entry_num: 0 });
    // Invalidate the 1st iotlb entry but fail the 2nd request (invalid flags)
    r = invalidate(
      fd,
      nested[0],
      [req(0, 0), req(0xffffffff, 1)],
      IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
      len,
      2,
    );
    assert.deepEqual(r, { rc: -EOPNOTSUPP, entry_num: 1 });
    fd.testCheckIotlb(nested[0], 0, 0);
    for (const id of [1, 2, 3]) fd.testCheckIotlb(nested[0], id, IOMMU_TEST_IOTLB_DEFAULT);
    // Invalidate the 1st iotlb entry but fail the 2nd request (invalid iotlb_id)
    r = invalidate(
      fd,
      nested[0],
      [req(0, 0), req(0, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1)],
      IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
      len,
      2,
    );
    assert.deepEqual(r, { rc: -EINVAL, entry_num: 1 });
    fd.testCheckIotlb(nested[0], 0, 0);
    for (const id of [1, 2, 3]) fd.testCheckIotlb(nested[0], id, IOMMU_TEST_IOTLB_DEFAULT);
    // Invalidate the 2nd iotlb entry and verify
    r = invalidate(fd, nested[0], [req(0, 1)], IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, len, 1);
    assert.deepEqual(r, { rc: 0, entry_num: 1 });
    fd.testCheckIotlb(nested[0], 0, 0);
    fd.testCheckIotlb(nested[0], 1, 0);
    fd.testCheckIotlb(nested[0], 2, IOMMU_TEST_IOTLB_DEFAULT);
    fd.testCheckIotlb(nested[0], 3, IOMMU_TEST_IOTLB_DEFAULT);
    // Invalidate the 3rd and 4th iotlb entries and verify
    assert.equal(
      fd.hwptInvalidate(
        nested[0],
        IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
        [req(0, 2), req(0, 3)].map((q) => iommu_hwpt_invalidate_selftest.encode(q)),
      ),
      2,
    );
    checkIotlbAll(fd, nested[0], 0);
    // Invalidate all iotlb entries for nested[1] and verify
    assert.equal(
      fd.hwptInvalidate(nested[1], IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [
        iommu_hwpt_invalidate_selftest.encode(req(IOMMU_TEST_INVALIDATE_FLAG_ALL, 0)),
      ]),
      1,
    );
    checkIotlbAll(fd, nested[1], 0);
    // Attach device to nested[0] that then will be busy
    fd.testMockDomainReplace(stdev_id, nested[0]);
    expectErrno(EBUSY, () => fd.destroy(nested[0]));
    // Switch from nested[0] to nested[1]
    fd.testMockDomainReplace(stdev_id, nested[1]);
    expectErrno(EBUSY, () => fd.destroy(nested[1]));
    fd.destroy(nested[0]);
    // Detach from nested[1] and destroy it
    fd.testMockDomainReplace(stdev_id, parent);
    fd.destroy(nested[1]);
    // Detach from the parent hw_pagetable and destroy it
    fd.testMockDomainReplace(stdev_id, ioas_id);
    fd.destroy(parent);
    fd.destroy(parent_not_work);
  } else {
    expectErrno(ENOENT, () => fd.hwptAlloc({ dev_id: device_id, pt_id: ioas_id }));
    expectErrno(
      ENOENT,
      () => hwptAllocNested(fd, device_id, 0, 0, IOMMU_HWPT_DATA_SELFTEST, data, data.length),
    );
    expectErrno(ENOENT, () => fd.testMockDomainReplace(stdev_id, 0));
  }
});

testIoas("hwpt_attach", ({ fd, hwpt_id, stdev_id }) => {
  // Create a device attached directly to a hwpt
  if (stdev_id) fd.testMockDomain(hwpt_id);
  else expectErrno(ENOENT, () => fd.testMockDomain(hwpt_id));
});

testIoas("get_hw_info", ({ fd, device_id }) => {
  if (device_id) {
    // A zero-size user buffer: the kernel still reports its length and type.
    const zero = fd.getHwInfo(device_id, 0);
    assert.equal(zero.data_len, 8);
    assert.equal(zero.out_data_type, IOMMU_HW_INFO_TYPE_SELFTEST);
    // Exact size
    const exact = fd.getHwInfo(device_id, 8);
    const view = new DataView(exact.data.buffer);
    assert.equal(view.getUint32(0, true), 0, "flags");
    assert.equal(view.getUint32(4, true), IOMMU_HW_INFO_SELFTEST_REGVAL, "test_reg");
    // Larger: the kernel zeroes the trailing bytes
    fd.process.write(fd.dataArea() + 8n, new Uint8Array(8).fill(0xaa));
    const larger = fd.getHwInfo(device_id, 16);
    assert.deepEqual([...larger.data.subarray(8)], new Array(8).fill(0));
    assert.equal(larger.data_len, 8, "data_len is the kernel's length");
    // Smaller: the fields within the size are still written
    const smaller = fd.getHwInfo(device_id, 4);
    assert.equal(new DataView(smaller.data.buffer).getUint32(0, true), 0);
    assert.equal(smaller.data_len, 8);
  } else {
    expectErrno(ENOENT, () => fd.getHwInfo(device_id, 8));
    expectErrno(ENOENT, () => fd.getHwInfo(device_id, 16));
  }
});
