/**
 * IOMMU_TEST_CMD as the CONFIG_IOMMUFD_TEST kernel has it (drivers/iommu/iommufd/main.c
 * iommufd_fops_ioctl(), selftest.c iommufd_test()): a row of the table at 0xa0, the dispatcher's
 * size rules, dispatch by op, the answer copied back — and the empty rows before it.
 */
import assert from "node:assert/strict";
import {
  _IO,
  E2BIG,
  EFAULT,
  EINVAL,
  ENOTTY,
  EOPNOTSUPP,
  IOMMU_IOAS_ALLOC,
  IOMMU_TEST_CMD,
  iommu_test_cmd,
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMUFD_TYPE,
  Machine,
  PROT_READ,
  VM_WRITE,
} from "../../lib/internal.ts";

function session() {
  const m = new Machine();
  const vmm = m.spawn({ cgroup: m.cgroups.create("/vm") });
  const fd = vmm.openIommufd();
  const buf = vmm.mmap(4096n);
  return { m, vmm, fd, buf };
}

Deno.test("IOMMU_TEST_CMD: the table's size rules (EINVAL, E2BIG, EFAULT) before any op", () => {
  const { vmm, fd, buf } = session();
  // size 0: below offsetofend(last) = 68
  vmm.write(buf, iommu_test_cmd.encode({ size: 0, op: IOMMU_TEST_OP_MOCK_DOMAIN }));
  assert.equal(fd.ioctl(IOMMU_TEST_CMD, buf), -EINVAL);
  assert.equal(fd.lastError!.check, "ioctl-min-size");
  assert.equal(iommu_test_cmd.offsetofend("last"), 68);
  assert.equal(iommu_test_cmd.sizeof, 72);
  // 68 bytes are enough; an unknown op is the handler's EOPNOTSUPP.
  vmm.write(buf, iommu_test_cmd.encode({ size: 68, op: 999 }));
  assert.equal(fd.ioctl(IOMMU_TEST_CMD, buf), -EOPNOTSUPP);
  assert.equal(fd.lastError!.check, "test-cmd-op");
  // A longer struct with a non-zero tail byte.
  const big = new Uint8Array(80);
  big.set(iommu_test_cmd.encode({ size: 80, op: 999 }));
  big[76] = 1;
  vmm.write(buf, big);
  assert.equal(fd.ioctl(IOMMU_TEST_CMD, buf), -E2BIG);
  // An unreadable pointer.
  assert.equal(fd.ioctl(IOMMU_TEST_CMD, 0x10n), -EFAULT);
  assert.equal(fd.lastError!.check, "ioctl-size-fault");
  fd.close();
});

Deno.test("IOMMU_TEST_CMD: the empty rows 0x8f–0x9f read size first, then answer ENOTTY", () => {
  const { vmm, fd, buf } = session();
  vmm.write(buf, iommu_test_cmd.encode({ size: 72 }));
  for (let nr = 0x8f; nr <= 0x9f; nr++) {
    const cmd = _IO(IOMMUFD_TYPE, nr);
    assert.equal(fd.ioctl(cmd, 0x10n), -EFAULT, `0x${nr.toString(16)}: size is read first`);
    assert.equal(fd.ioctl(cmd, buf), -ENOTTY, `0x${nr.toString(16)}`);
    assert.equal(fd.lastError!.check, "ioctl-num");
  }
  // Past IOMMU_TEST_CMD the number leaves the table: VFIO compatibility, ENOTTY.
  assert.equal(fd.ioctl(_IO(IOMMUFD_TYPE, 0xa1), buf), -ENOTTY);
  assert.equal(fd.ioctl(IOMMU_IOAS_ALLOC, 0x10n), -EFAULT);
  fd.close();
});

Deno.test("IOMMU_TEST_CMD: a mock domain through the ioctl, traced like any command", () => {
  const { vmm, fd } = session();
  const lines: string[] = [];
  fd.trace = (l) => lines.push(l);
  const ioas = fd.ioasAlloc();
  const md = fd.testMockDomain(ioas);
  assert.ok(md.stdev_id > 0 && md.hwpt_id > 0 && md.idev_id > 0);
  const line = lines.find((l) => l.includes("IOMMU_TEST_CMD"));
  assert.ok(line, lines.join("\n"));
  assert.match(line!, /^ioctl\(\d+, IOMMU_TEST_CMD, \{size=72, op=2, id=\d+/);
  assert.match(line!, /= 0$/);
  fd.close();
  assert.equal(vmm.task.files!.fdt.size, 0);
});

Deno.test("IOMMU_TEST_CMD: an answer that cannot be written back leaves no selftest object", () => {
  const { m, vmm, fd } = session();
  const ioas = fd.ioasAlloc();
  const cg = m.cgroups.get("/vm");
  // The struct in a read-only page: mprotect(PROT_READ | PROT_WRITE), write, mprotect(PROT_READ)
  // (the model has no mprotect, so the VMA's flags are switched by hand).
  const ro = vmm.mmap(4096n, PROT_READ);
  const vma = vmm.mm!.vmas.find((v) => v.vm_start === Number(ro))! as { vm_flags: number };
  vma.vm_flags |= VM_WRITE;
  vmm.write(ro, iommu_test_cmd.encode({ size: 72, op: IOMMU_TEST_OP_MOCK_DOMAIN, id: ioas }));
  vma.vm_flags &= ~VM_WRITE;
  const before = { stat: cg.read("memory.stat"), devices: m.devices.length };
  assert.equal(fd.ioctl(IOMMU_TEST_CMD, ro), -EFAULT);
  assert.equal(fd.lastError!.check, "respond-fault");
  assert.equal(cg.read("memory.stat"), before.stat, "the object, device and domain are gone");
  // The IDs the aborted object and device held are free again.
  const md = fd.testMockDomain(ioas);
  assert.equal(md.stdev_id, ioas + 1);
  fd.close();
});
