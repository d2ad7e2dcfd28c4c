/**
 * The fault queue as the v6.12 selftests use it (tools/testing/selftests/iommu/iommufd.c,
 * alloc_hwpt_nested's fault-queue half, and iommufd_utils.h's _test_ioctl_fault_alloc() and
 * _test_cmd_trigger_iopf()), plus the checks of IOMMU_FAULT_QUEUE_ALLOC, read() and write() on the
 * queue's descriptor (drivers/iommu/iommufd/fault.c, v6.12) and delivery in the iommu core
 * (drivers/iommu/io-pgfault.c), and what dmar0 does with a HWPT that has a fault queue.
 */
import assert from "node:assert/strict";
import {
  type device,
  EBUSY,
  EFAULT,
  EINVAL,
  EIO,
  ENODEV,
  ENOENT,
  ENOMEM,
  EOPNOTSUPP,
  ESPIPE,
  fail,
  iommu_fault_alloc,
  IOMMU_FAULT_PAGE_REQ,
  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE,
  IOMMU_FAULT_QUEUE_ALLOC,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_FAULT_ID_VALID,
  iommu_hwpt_selftest,
  iommu_hwpt_vtd_s1,
  IOMMU_PAGE_RESP_INVALID,
  IOMMU_PAGE_RESP_SUCCESS,
  IOMMU_PGFAULT_FLAGS_LAST_PAGE,
  IOMMU_PGFAULT_FLAGS_PASID_VALID,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
  iommu_report_device_fault,
  IOMMU_TEST_IOTLB_DEFAULT,
  type iommufd_ctx,
  type iommufd_device,
  IOMMUFD_PAGE_RESP_SUCCESS,
  iopfResponses,
  Machine,
  xa_load,
} from "../../lib/internal.ts";
import {
  assertReleasedOnExit,
  expectErrno,
  type IommufdFixture,
  setupIommufd,
  snapshot,
  sweepFailNth,
  teardown,
  testF,
} from "./fixture.ts";

const UINT32_MAX = 0xffff_ffff;
const selftestData = () => iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT });

/** FIXTURE(iommufd_ioas) with the mock_domain variant: an IOAS and one mock device on it. */
function mockDomain(f: IommufdFixture) {
  const ioas_id = f.fd.ioasAlloc();
  const { stdev_id, hwpt_id, idev_id } = f.fd.testMockDomain(ioas_id);
  const ictx = f.vmm.task.files!.fdt.get(f.fd.fd)!.private_data as iommufd_ctx;
  const dev = (xa_load(ictx.objects, idev_id) as iommufd_device).dev;
  return { ioas_id, stdev_id, hwpt_id, device_id: idev_id, dev };
}

function devOf(f: IommufdFixture, idev_id: number) {
  const ictx = f.vmm.task.files!.fdt.get(f.fd.fd)!.private_data as iommufd_ctx;
  return xa_load(ictx.objects, idev_id) as iommufd_device;
}

/** A nest parent on the IOAS and a nested HWPT over it with a fault queue. */
function iopfHwpt(f: IommufdFixture, device_id: number, ioas_id: number, fault_id: number) {
  const parent_hwpt_id = f.fd.hwptAlloc({
    dev_id: device_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
  });
  const iopf_hwpt_id = f.fd.hwptAlloc({
    dev_id: device_id,
    pt_id: parent_hwpt_id,
    flags: IOMMU_HWPT_FAULT_ID_VALID,
    fault_id,
    data_type: IOMMU_HWPT_DATA_SELFTEST,
    data: selftestData(),
  });
  return { parent_hwpt_id, iopf_hwpt_id };
}

/** iommufd_utils.h _test_cmd_trigger_iopf(): trigger, read one record, answer SUCCESS. */
function testCmdTriggerIopf(f: IommufdFixture, device_id: number, fault_fd: number) {
  f.fd.testTriggerIopf(device_id);
  const [fault] = f.fd.faultRead(fault_fd, 40);
  // `bytes <= 0` → -EIO, as the selftest's helper does.
  if (!fault) throw fail(EIO, "trigger-iopf-read", "read() returned no page request");
  assert.equal(
    f.fd.faultWrite(fault_fd, [{ cookie: fault.cookie, code: IOMMUFD_PAGE_RESP_SUCCESS }]),
    8,
  );
  return fault;
}

testF(
  "iommufd_fault.alloc: flags → EOPNOTSUPP; an ID and a descriptor; EBUSY while the fd is open",
  (f) => {
    // The raw call first: before chapter 20 the model answered ENOTTY here.
    const arg = f.fd.scratch();
    f.vmm.write(
      arg,
      iommu_fault_alloc.encode({ size: 16, flags: 1, out_fault_id: 0, out_fault_fd: 0 }),
    );
    assert.equal(f.fd.ioctl(IOMMU_FAULT_QUEUE_ALLOC, arg), -EOPNOTSUPP);
    const e = expectErrno(EOPNOTSUPP, () => f.fd.faultQueueAlloc(1));
    assert.equal(e.check, "fault-alloc-flags");
    const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
    assert.ok(fault_id > 0);
    assert.ok(f.vmm.task.files!.fdt.has(fault_fd), "the descriptor is installed");
    // Nothing waiting: read returns 0 bytes, not an error.
    assert.deepEqual(f.fd.faultRead(fault_fd, 40), []);
    // The file holds a reference on the object.
    expectErrno(EBUSY, () => f.fd.destroy(fault_id));
    f.fd.faultClose(fault_fd);
    f.fd.destroy(fault_id);
    expectErrno(ENOENT, () => f.fd.destroy(fault_id));
  },
);

testF(
  "iommufd_fault.alloc: a read-only struct → EFAULT; no object and no descriptor left behind",
  (f) => {
    const before = [...f.vmm.task.files!.fdt.keys()];
    const arg = f.fd.scratch();
    f.vmm.write(
      arg,
      iommu_fault_alloc.encode({ size: 16, flags: 0, out_fault_id: 0, out_fault_fd: 0 }),
    );
    // mprotect(PROT_READ) on the scratch area: the model has no mprotect.
    const vma = f.vmm.mm!.vmas.find((v) =>
      v.vm_start <= Number(arg) && Number(arg) < v.vm_end
    )! as { vm_flags: number };
    const flags = vma.vm_flags;
    vma.vm_flags = flags & ~2; // VM_WRITE
    assert.equal(f.fd.ioctl(IOMMU_FAULT_QUEUE_ALLOC, arg), -EFAULT);
    vma.vm_flags = flags;
    assert.equal(f.fd.lastError!.check, "respond-fault");
    assert.deepEqual([...f.vmm.task.files!.fdt.keys()], before);
    // The ID was released: the next queue gets the lowest free one again.
    const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
    assert.equal(fault_id, 1);
    f.fd.faultClose(fault_fd);
  },
);

testF("iommufd_ioas.alloc_hwpt_nested (mock_domain): the fault-queue half", (f) => {
  const { ioas_id, stdev_id, device_id } = mockDomain(f);
  const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
  const parent_hwpt_id = f.fd.hwptAlloc({
    dev_id: device_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
  });
  const nested = (flags = 0, fid = 0) =>
    f.fd.hwptAlloc({
      dev_id: device_id,
      pt_id: parent_hwpt_id,
      flags,
      fault_id: fid,
      data_type: IOMMU_HWPT_DATA_SELFTEST,
      data: selftestData(),
    });
  const nested_hwpt_id = [nested(), nested()];
  // test_err_hwpt_alloc_iopf(ENOENT, ..., UINT32_MAX, IOMMU_HWPT_FAULT_ID_VALID, ...)
  const e = expectErrno(ENOENT, () => nested(IOMMU_HWPT_FAULT_ID_VALID, UINT32_MAX));
  assert.equal(e.check, "hwpt-alloc-fault");
  // test_err_hwpt_alloc_iopf(EOPNOTSUPP, ..., IOMMU_HWPT_FAULT_ID_VALID | (1 << 31), ...)
  expectErrno(EOPNOTSUPP, () => nested((IOMMU_HWPT_FAULT_ID_VALID | (1 << 31)) >>> 0, fault_id));
  const iopf_hwpt_id = nested(IOMMU_HWPT_FAULT_ID_VALID, fault_id);

  // The HWPT holds the queue, even once its descriptor is closed.
  f.fd.faultClose(fault_fd);
  expectErrno(EBUSY, () => f.fd.destroy(fault_id));

  f.fd.testMockDomainReplace(stdev_id, nested_hwpt_id[0]);
  expectErrno(EBUSY, () => f.fd.destroy(nested_hwpt_id[0]));
  f.fd.testMockDomainReplace(stdev_id, nested_hwpt_id[1]);
  expectErrno(EBUSY, () => f.fd.destroy(nested_hwpt_id[1]));
  f.fd.destroy(nested_hwpt_id[0]);
  f.fd.testMockDomainReplace(stdev_id, iopf_hwpt_id);
  expectErrno(EBUSY, () => f.fd.destroy(iopf_hwpt_id));
  f.fd.testMockDomainReplace(stdev_id, parent_hwpt_id);
  f.fd.destroy(nested_hwpt_id[1]);
  f.fd.destroy(iopf_hwpt_id);
  f.fd.destroy(fault_id);
});

testF(
  "iommufd_ioas.alloc_hwpt_nested (mock_domain): test_cmd_trigger_iopf reads and answers",
  (f) => {
    const { ioas_id, stdev_id, device_id, dev } = mockDomain(f);
    const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
    const { parent_hwpt_id, iopf_hwpt_id } = iopfHwpt(f, device_id, ioas_id, fault_id);
    f.fd.testMockDomainReplace(stdev_id, iopf_hwpt_id);
    const fault = testCmdTriggerIopf(f, device_id, fault_fd);
    assert.deepEqual(fault, {
      flags: IOMMU_PGFAULT_FLAGS_PASID_VALID | IOMMU_PGFAULT_FLAGS_LAST_PAGE,
      dev_id: device_id,
      pasid: 1,
      grpid: 2,
      perm: IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE,
      addr: 0xdeadbeafn,
      length: 0,
      cookie: 1,
    });
    // The response reached the driver, quoting the request's PASID and group.
    assert.deepEqual(iopfResponses(dev).at(-1), {
      pasid: 1,
      grpid: 2,
      code: IOMMU_PAGE_RESP_SUCCESS,
    });
    // The cookie is spent.
    const e = expectErrno(EINVAL, () => f.fd.faultWrite(fault_fd, [{ cookie: 1, code: 0 }]));
    assert.equal(e.check, "fault-write-cookie");
    // Without PASID: the RID's handle.
    f.fd.testTriggerIopf(device_id, { pasid: 0, grpid: 5 });
    const [rid] = f.fd.faultRead(fault_fd, 80);
    assert.equal(rid.flags, IOMMU_PGFAULT_FLAGS_LAST_PAGE);
    assert.equal(rid.grpid, 5);
    f.fd.faultWrite(fault_fd, [{ cookie: rid.cookie, code: 0 }]);
    f.fd.testMockDomainReplace(stdev_id, parent_hwpt_id);
    f.fd.destroy(iopf_hwpt_id);
    f.fd.faultClose(fault_fd);
    f.fd.destroy(fault_id);
  },
);

testF(
  "iommufd_fault.read/write: ESPIPE for sizes that are not whole records; unknown cookie EINVAL",
  (f) => {
    const { ioas_id, stdev_id, device_id } = mockDomain(f);
    const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
    const { iopf_hwpt_id } = iopfHwpt(f, device_id, ioas_id, fault_id);
    f.fd.testMockDomainReplace(stdev_id, iopf_hwpt_id);
    assert.equal(expectErrno(ESPIPE, () => f.fd.faultRead(fault_fd, 39)).check, "fault-read-spipe");
    assert.equal(
      expectErrno(ESPIPE, () => f.fd.faultWrite(fault_fd, [], 7)).check,
      "fault-write-spipe",
    );
    assert.equal(
      expectErrno(EINVAL, () => f.fd.faultWrite(fault_fd, [{ cookie: 9, code: 0 }])).check,
      "fault-write-cookie",
    );
    // Two groups; one read of 80 bytes takes both, with cookies 1 and 2.
    f.fd.testTriggerIopf(device_id, { grpid: 1 });
    f.fd.testTriggerIopf(device_id, { grpid: 2 });
    const recs = f.fd.faultRead(fault_fd, 120);
    assert.deepEqual(recs.map((r) => [r.grpid, r.cookie]), [[1, 1], [2, 2]]);
    // A write of two responses, the second unknown: the first is consumed, 8 bytes.
    assert.equal(f.fd.faultWrite(fault_fd, [{ cookie: 2, code: 0 }, { cookie: 77, code: 0 }]), 8);
    // v6.12 does not check the code: 7 reaches the driver as 7.
    const { dev } = devOf(f, device_id);
    assert.equal(f.fd.faultWrite(fault_fd, [{ cookie: 1, code: 7 }]), 8);
    assert.equal(iopfResponses(dev).at(-1)!.code, 7);
    f.fd.testMockDomainReplace(stdev_id, ioas_id);
    f.fd.faultClose(fault_fd);
  },
);

testF("io-pgfault: a group of two requests is read whole or not at all", (f) => {
  const { ioas_id, stdev_id, device_id, dev } = mockDomain(f);
  const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
  const { iopf_hwpt_id } = iopfHwpt(f, device_id, ioas_id, fault_id);
  f.fd.testMockDomainReplace(stdev_id, iopf_hwpt_id);
  report(f, dev, { flags: 0, grpid: 7, addr: 0x1000n });
  report(f, dev, { flags: IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE, grpid: 7, addr: 0x2000n });
  // 40 bytes cannot hold the group: 0 bytes, no error, the group stays.
  assert.deepEqual(f.fd.faultRead(fault_fd, 40), []);
  const recs = f.fd.faultRead(fault_fd, 80);
  assert.deepEqual(recs.map((r) => [r.addr, r.flags, r.cookie]), [
    [0x1000n, 0, 1],
    [0x2000n, IOMMU_PGFAULT_FLAGS_LAST_PAGE, 1],
  ]);
  f.fd.faultWrite(fault_fd, [{ cookie: 1, code: 0 }]);
  assert.deepEqual(iopfResponses(dev).at(-1), {
    pasid: 0,
    grpid: 7,
    code: IOMMU_PAGE_RESP_SUCCESS,
  });
  f.fd.testMockDomainReplace(stdev_id, ioas_id);
  f.fd.faultClose(fault_fd);
});

/** A driver reports a page request without PASID (as an interrupt handler would, in kernel context). */
function report(
  f: IommufdFixture,
  dev: device,
  prm: { flags: number; grpid: number; addr: bigint },
) {
  f.vmm.task.syscall(() =>
    iommu_report_device_fault(dev, {
      fault: {
        type: IOMMU_FAULT_PAGE_REQ,
        prm: { ...prm, pasid: 0, perm: IOMMU_PGFAULT_PERM_READ },
      },
    })
  );
}

testF("io-pgfault: no handler → answered INVALID at once; nothing is queued", (f) => {
  const { ioas_id, stdev_id, device_id, dev } = mockDomain(f);
  // On the IOAS's paging domain: no attach handle at all.
  f.fd.testTriggerIopf(device_id, { grpid: 3 });
  assert.deepEqual(iopfResponses(dev).at(-1), {
    pasid: 1,
    grpid: 3,
    code: IOMMU_PAGE_RESP_INVALID,
  });
  // On a nested HWPT without a fault queue: still no handler.
  const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
  const { parent_hwpt_id } = iopfHwpt(f, device_id, ioas_id, fault_id);
  const plain = f.fd.hwptAlloc({
    dev_id: device_id,
    pt_id: parent_hwpt_id,
    data_type: IOMMU_HWPT_DATA_SELFTEST,
    data: selftestData(),
  });
  f.fd.testMockDomainReplace(stdev_id, plain);
  f.fd.testTriggerIopf(device_id, { grpid: 4 });
  assert.equal(iopfResponses(dev).at(-1)!.grpid, 4);
  assert.deepEqual(f.fd.faultRead(fault_fd, 40), []);
  f.fd.testMockDomainReplace(stdev_id, ioas_id);
  f.fd.faultClose(fault_fd);
});

testF("iommufd_fault: replacing away answers the attachment's groups INVALID, read or not", (f) => {
  const { ioas_id, stdev_id, device_id, dev } = mockDomain(f);
  const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
  const { parent_hwpt_id, iopf_hwpt_id } = iopfHwpt(f, device_id, ioas_id, fault_id);
  f.fd.testMockDomainReplace(stdev_id, iopf_hwpt_id);
  f.fd.testTriggerIopf(device_id, { grpid: 1 });
  const [read] = f.fd.faultRead(fault_fd, 40);
  f.fd.testTriggerIopf(device_id, { grpid: 2 });
  const n = iopfResponses(dev).length;
  f.fd.testMockDomainReplace(stdev_id, parent_hwpt_id);
  assert.deepEqual(
    iopfResponses(dev).slice(n).map((r) => [r.grpid, r.code]),
    [[2, IOMMU_PAGE_RESP_INVALID], [1, IOMMU_PAGE_RESP_INVALID]],
  );
  assert.deepEqual(f.fd.faultRead(fault_fd, 40), []);
  expectErrno(EINVAL, () => f.fd.faultWrite(fault_fd, [{ cookie: read.cookie, code: 0 }]));
  // Page requests are off again: the mock took the device off its queue.
  f.fd.testMockDomainReplace(stdev_id, iopf_hwpt_id);
  f.fd.testMockDomainReplace(stdev_id, ioas_id);
  f.fd.destroy(iopf_hwpt_id);
  f.fd.faultClose(fault_fd);
  f.fd.destroy(fault_id);
});

testF("iommufd_fault: a paging HWPT cannot take a fault queue in v6.12 (EOPNOTSUPP)", (f) => {
  const { ioas_id, device_id } = mockDomain(f);
  const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
  const e = expectErrno(
    EOPNOTSUPP,
    () =>
      f.fd.hwptAlloc({
        dev_id: device_id,
        pt_id: ioas_id,
        flags: IOMMU_HWPT_FAULT_ID_VALID,
        fault_id,
      }),
  );
  assert.equal(e.check, "paging-alloc-flags");
  // fault_id naming an IOAS is not a fault queue.
  const { parent_hwpt_id } = iopfHwpt(f, device_id, ioas_id, fault_id);
  expectErrno(ENOENT, () =>
    f.fd.hwptAlloc({
      dev_id: device_id,
      pt_id: parent_hwpt_id,
      flags: IOMMU_HWPT_FAULT_ID_VALID,
      fault_id: ioas_id,
      data_type: IOMMU_HWPT_DATA_SELFTEST,
      data: selftestData(),
    }));
  f.fd.faultClose(fault_fd);
});

Deno.test("dmar0: attaching a HWPT with a fault queue fails ENODEV (no ATS/PRI, no dev_enable_feat)", () => {
  const m = new Machine();
  m.addIommu({ kind: "vtd" });
  const dev = m.addDevice({ iommu: "dmar0" });
  const cg = m.cgroups.create("/vmm");
  const vmm = m.spawn({ cgroup: cg, comm: "vmm" });
  const before = snapshot(m, cg, vmm);
  const fd = vmm.openIommufd();
  const ioas_id = fd.ioasAlloc();
  const dev_id = fd.bind(dev);
  const parent = fd.hwptAlloc({ dev_id, pt_id: ioas_id, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
  const { fault_id, fault_fd } = fd.faultQueueAlloc();
  const data = iommu_hwpt_vtd_s1.encode({
    flags: 0n,
    pgtbl_addr: 0x1000n,
    addr_width: 48,
    __reserved: 0,
  });
  const nested = fd.hwptAlloc({
    dev_id,
    pt_id: parent,
    flags: IOMMU_HWPT_FAULT_ID_VALID,
    fault_id,
    data_type: IOMMU_HWPT_DATA_VTD_S1,
    data,
  });
  const e = expectErrno(ENODEV, () => fd.attach(dev_id, nested));
  assert.equal(e.check, "dev-feat-none");
  // Without the fault queue the same nested HWPT attaches.
  const plain = fd.hwptAlloc({ dev_id, pt_id: parent, data_type: IOMMU_HWPT_DATA_VTD_S1, data });
  fd.attach(dev_id, plain);
  fd.faultClose(fault_fd);
  fd.close();
  assert.deepEqual(snapshot(m, cg, vmm), before);
  assertReleasedOnExit(m);
});

Deno.test("iommufd_fail_nth: fault queue, iopf HWPT, trigger, read and answer: every injection fails cleanly", () => {
  const { points } = sweepFailNth({
    setup: () => {
      const f = setupIommufd();
      return { ...f, ioas_id: f.fd.ioasAlloc() };
    },
    run: (f) => {
      const { stdev_id, idev_id } = f.fd.testMockDomain(f.ioas_id);
      const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
      const { iopf_hwpt_id } = iopfHwpt(f, idev_id, f.ioas_id, fault_id);
      f.fd.testMockDomainReplace(stdev_id, iopf_hwpt_id);
      testCmdTriggerIopf(f, idev_id, fault_fd);
    },
    teardown,
    allowed: (e) => [ENOMEM, ENOENT, EINVAL, EIO].includes(e.errno),
    limit: 400,
  });
  assert.ok(points > 10, `only ${points} injection points`);
});

testF(
  "iommufd_fault.read (v6.12): a group whose copy faults is lost to the queue, answered only when IOPF goes off",
  (f) => {
    const { ioas_id, stdev_id, device_id, dev } = mockDomain(f);
    const { fault_id, fault_fd } = f.fd.faultQueueAlloc();
    const { iopf_hwpt_id } = iopfHwpt(f, device_id, ioas_id, fault_id);
    f.fd.testMockDomainReplace(stdev_id, iopf_hwpt_id);
    f.fd.testTriggerIopf(device_id, { grpid: 1 });
    f.fd.testTriggerIopf(device_id, { grpid: 2 });
    // The buffer is read-only: both groups are taken off the queue, neither is delivered.
    const arg = f.fd.dataArea();
    const vma = f.vmm.mm!.vmas.find((v) =>
      v.vm_start <= Number(arg) && Number(arg) < v.vm_end
    )! as {
      vm_flags: number;
    };
    const flags = vma.vm_flags;
    vma.vm_flags = flags & ~2; // VM_WRITE
    const e = expectErrno(EFAULT, () => f.fd.faultRead(fault_fd, 80));
    vma.vm_flags = flags;
    assert.equal(e.check, "fault-read-copy");
    assert.deepEqual(f.fd.faultRead(fault_fd, 80), []);
    expectErrno(EINVAL, () => f.fd.faultWrite(fault_fd, [{ cookie: 1, code: 0 }]));
    // The detach finds nothing to answer; the mock's disable (iopf_queue_remove_device) answers both.
    const n = iopfResponses(dev).length;
    f.fd.testMockDomainReplace(stdev_id, ioas_id);
    assert.deepEqual(
      iopfResponses(dev).slice(n).map((r) => [r.grpid, r.code]),
      [[1, IOMMU_PAGE_RESP_INVALID], [2, IOMMU_PAGE_RESP_INVALID]],
    );
    f.fd.faultClose(fault_fd);
  },
);
