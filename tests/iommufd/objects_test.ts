/**
 * The iommufd core's rules beyond the ported selftests: ID allocation, the respond-before-finalize
 * order, the remaining HWPT_ALLOC and INVALIDATE checks, and the explanation on the raw path.
 */
import assert from "node:assert/strict";
import {
  E2BIG,
  EBUSY,
  EFAULT,
  EINVAL,
  ENODEV,
  ENOENT,
  EOPNOTSUPP,
  GFP_KERNEL,
  type iommu_device,
  IOMMU_HWPT_ALLOC,
  iommu_hwpt_alloc,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_INVALIDATE,
  iommu_hwpt_invalidate,
  iommu_hwpt_selftest,
  IOMMU_IOAS_ALLOC,
  iommu_ioas_alloc,
  type iommu_ops,
  iommu_probe_device,
  IOMMU_VFIO_IOAS,
  iommu_vfio_ioas,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  kzalloc,
  mock_dev,
  mock_ops,
  PROT_READ,
} from "../../lib/internal.ts";
import { expectErrno, mockDevice, testF } from "../conformance/fixture.ts";

testF("object IDs: lowest free from 1, reused after destroy", ({ fd }) => {
  assert.deepEqual([fd.ioasAlloc(), fd.ioasAlloc(), fd.ioasAlloc()], [1, 2, 3]);
  fd.destroy(2);
  assert.equal(fd.ioasAlloc(), 2);
  fd.destroy(1);
  fd.destroy(3);
  assert.equal(fd.ioasAlloc(), 1);
});

testF("a struct the kernel cannot write back: EFAULT, and no object is created", ({ fd, vmm }) => {
  // Two adjacent pages, the upper one read-only; the struct straddles them, so the kernel reads it
  // (the read-only page reads as zeros) but cannot write out_ioas_id (offset 8) back.
  const ro = vmm.mmap(4096n, PROT_READ);
  const rw = vmm.mmap(4096n);
  assert.equal(rw + 4096n, ro, "the model's mmap hands out adjacent pages top-down");
  const arg = ro - 8n;
  vmm.write(arg, iommu_ioas_alloc.encode({ size: iommu_ioas_alloc.sizeof }).subarray(0, 8));
  assert.equal(fd.ioctl(IOMMU_IOAS_ALLOC, arg), -EFAULT);
  assert.equal(fd.lastError!.check, "respond-fault");
  assert.equal(fd.ioasAlloc(), 1, "the aborted IOAS never took its ID");
  vmm.munmap(rw, 8192n);
});

testF("HWPT_ALLOC: __reserved, data_type/data_len pairing, fault_id, explanations", ({ fd }) => {
  const ioas = fd.ioasAlloc();
  const { idev_id } = fd.testMockDomain(ioas);
  const arg = fd.scratch();
  const raw = (values: Partial<Record<string, number | bigint>>) => {
    fd.process.write(
      arg,
      iommu_hwpt_alloc.encode({
        size: iommu_hwpt_alloc.sizeof,
        dev_id: idev_id,
        pt_id: ioas,
        ...values,
      }),
    );
    return fd.ioctl(IOMMU_HWPT_ALLOC, arg);
  };
  assert.equal(raw({ __reserved: 1 }), -EOPNOTSUPP);
  assert.equal(fd.lastError!.check, "hwpt-alloc-reserved");
  assert.equal(raw({ data_type: IOMMU_HWPT_DATA_NONE, data_len: 4 }), -EINVAL);
  assert.equal(fd.lastError!.check, "hwpt-alloc-data");
  assert.equal(raw({ data_type: IOMMU_HWPT_DATA_SELFTEST, data_len: 0 }), -EINVAL);
  assert.equal(fd.lastError!.check, "hwpt-alloc-data");
  assert.equal(raw({ pt_id: 99 }), -EINVAL);
  assert.equal(fd.lastError!.check, "hwpt-alloc-pt");
  assert.match(
    String(fd.lastError),
    /^EINVAL: pt_id 99 names no IOAS or paging HWPT \[hwpt-alloc-pt\]$/,
  );
  // v6.12 refuses FAULT_ID_VALID for a paging HWPT; only nested HWPTs take a fault queue.
  assert.equal(raw({ flags: IOMMU_HWPT_FAULT_ID_VALID, fault_id: 1 }), -EOPNOTSUPP);
  assert.equal(fd.lastError!.check, "paging-alloc-flags");
  // The model has no fault queues: any fault_id is ENOENT, and the nested HWPT is aborted.
  const parent = fd.hwptAlloc({
    dev_id: idev_id,
    pt_id: ioas,
    flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
  });
  fd.process.write(fd.dataArea(), iommu_hwpt_selftest.encode({ iotlb: 0 }));
  const nested = {
    pt_id: parent,
    data_type: IOMMU_HWPT_DATA_SELFTEST,
    data_len: iommu_hwpt_selftest.sizeof,
    data_uptr: fd.dataArea(),
  };
  assert.equal(raw({ ...nested, flags: IOMMU_HWPT_FAULT_ID_VALID, fault_id: 1 }), -ENOENT);
  assert.equal(fd.lastError!.check, "hwpt-alloc-fault");
  fd.destroy(parent);
  // __reserved2 is not checked in v6.12.
  assert.equal(raw({ __reserved2: 7 }), 0);
  // IDs: IOAS 1, selftest object 2, device 3, automatic HWPT 4, then this one.
  const id = iommu_hwpt_alloc.decode(fd.process.read(arg, iommu_hwpt_alloc.sizeof)).out_hwpt_id;
  assert.equal(id, 5);
  fd.destroy(id);
});

testF("HWPT_INVALIDATE: __reserved is EOPNOTSUPP and entry_num is written back as 0", ({ fd }) => {
  const arg = fd.scratch();
  fd.process.write(
    arg,
    iommu_hwpt_invalidate.encode({
      size: iommu_hwpt_invalidate.sizeof,
      hwpt_id: 1,
      entry_num: 5,
      __reserved: 1,
    }),
  );
  assert.equal(fd.ioctl(IOMMU_HWPT_INVALIDATE, arg), -EOPNOTSUPP);
  assert.equal(fd.lastError!.check, "invalidate-reserved");
  assert.equal(
    iommu_hwpt_invalidate.decode(fd.process.read(arg, iommu_hwpt_invalidate.sizeof)).entry_num,
    0,
  );
});

testF("destroying a bound device's ID is EBUSY; an unknown one ENOENT", ({ fd, m }) => {
  const dev = m.addDevice({ iommu: "mock0" });
  const dev_id = fd.bind(dev);
  expectErrno(ENOENT, () => fd.destroy(dev_id + 1));
  const e = expectErrno(EBUSY, () => fd.destroy(dev_id));
  assert.equal(e.check, "destroy-busy");
  fd.unbind(dev_id);
});

testF("IOMMU_VFIO_IOAS: GET, SET, CLEAR, and destroy forgets the choice", ({ fd }) => {
  const arg = fd.scratch();
  const call = (op: number, ioas_id = 0) => {
    fd.process.write(arg, iommu_vfio_ioas.encode({ size: iommu_vfio_ioas.sizeof, op, ioas_id }));
    const rc = fd.ioctl(IOMMU_VFIO_IOAS, arg);
    return {
      rc,
      ioas_id: iommu_vfio_ioas.decode(fd.process.read(arg, iommu_vfio_ioas.sizeof)).ioas_id,
    };
  };
  assert.equal(call(IOMMU_VFIO_IOAS_GET).rc, -ENODEV);
  assert.equal(call(IOMMU_VFIO_IOAS_SET, 7).rc, -ENOENT);
  const ioas = fd.ioasAlloc();
  assert.equal(call(IOMMU_VFIO_IOAS_SET, ioas).rc, 0);
  assert.deepEqual(call(IOMMU_VFIO_IOAS_GET), { rc: 0, ioas_id: ioas });
  assert.equal(call(IOMMU_VFIO_IOAS_CLEAR).rc, 0);
  assert.equal(call(IOMMU_VFIO_IOAS_GET).rc, -ENODEV);
  call(IOMMU_VFIO_IOAS_SET, ioas);
  fd.destroy(ioas);
  assert.equal(call(IOMMU_VFIO_IOAS_GET).rc, -ENODEV, "destroying the IOAS forgets the choice");
  assert.equal(call(3).rc, -EOPNOTSUPP);
});

testF("HWPT_ALLOC nested: a parent made by another driver is EINVAL (nested-alloc-parent)", (f) => {
  const { fd, m } = f;
  // A second IOMMU driver that works like the mock but is not the mock: its own iommu_ops.
  const other_ops: iommu_ops = { ...mock_ops, owner: "other" };
  const other: iommu_device = { ops: other_ops, name: "other0" };
  m.iommus.set(other.name, {
    iommu: other,
    create: (flags) => {
      const mdev = new mock_dev(flags, 1000, kzalloc(768, GFP_KERNEL)!);
      iommu_probe_device(mdev, other);
      return mdev;
    },
  });
  const ioas = fd.ioasAlloc();
  const mock_id = fd.bind(mockDevice(f));
  const other_id = fd.bind(m.addDevice({ iommu: other.name }));
  const parent = fd.hwptAlloc({
    dev_id: mock_id,
    pt_id: ioas,
    flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
  });
  const data = iommu_hwpt_selftest.encode({ iotlb: 0 });
  const nested = (dev_id: number) =>
    fd.hwptAlloc({ dev_id, pt_id: parent, data_type: IOMMU_HWPT_DATA_SELFTEST, data, data_len: 4 });
  // The other driver's device cannot nest on the mock's domain, although its allocator would.
  const e = expectErrno(EINVAL, () => nested(other_id));
  assert.equal(e.check, "nested-alloc-parent");
  fd.destroy(nested(mock_id));
  fd.destroy(parent);
  fd.unbind(other_id);
  fd.unbind(mock_id);
});

testF("sizes near 4 GiB from userspace: answered as the kernel does, at the kernel's cost", (f) => {
  const { fd, vmm } = f;
  // A struct size of 0xffffffff: the tail past the kernel struct is scanned until it faults.
  const arg = vmm.mmap(4096n);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 0xffffffff, true);
  vmm.write(arg, header);
  assert.equal(fd.ioctl(IOMMU_IOAS_ALLOC, arg), -EFAULT);
  assert.equal(fd.lastError!.check, "copy-struct-tail");
  vmm.write(arg + 100n, new Uint8Array([1]));
  assert.equal(fd.ioctl(IOMMU_IOAS_ALLOC, arg), -E2BIG, "a non-zero byte before the fault wins");
  vmm.munmap(arg, 4096n);
  // GET_HW_INFO's data_len of 0xffffffff: the data is copied, the tail zeroed until it faults.
  const { idev_id } = fd.testMockDomain(fd.ioasAlloc());
  expectErrno(EFAULT, () => fd.getHwInfo(idev_id, 0xffffffff));
  assert.equal(fd.lastError!.check, "hw-info-copy");
});
