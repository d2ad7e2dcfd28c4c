/**
 * Ports of FIXTURE(iommufd) in tools/testing/selftests/iommu/iommufd.c (v6.12): the command
 * dispatcher's rules and the global options. Each test is named after the kernel test.
 */
import assert from "node:assert/strict";
import {
  _IO,
  E2BIG,
  EFAULT,
  EINVAL,
  ENODEV,
  ENOENT,
  ENOTTY,
  EPERM,
  IOMMU_DESTROY,
  iommu_destroy,
  IOMMU_OPTION,
  iommu_option,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VFIO_IOAS,
  iommu_vfio_ioas,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  IOMMUFD_CMD_BASE,
  IOMMUFD_TYPE,
  iommufdIoctls,
} from "../../lib/internal.ts";
import { assertReleasedOnExit, expectErrno, setupIommufd, teardown, testF } from "./fixture.ts";

testF("iommufd.simple_close", () => {});

testF("iommufd.cmd_fail", ({ fd }) => {
  // object id is invalid
  expectErrno(ENOENT, () => fd.destroy(0));
  // bad pointer
  assert.equal(fd.ioctl(IOMMU_DESTROY, 0n), -EFAULT);
  assert.equal(fd.lastError!.check, "ioctl-size-fault");
  // unknown ioctl
  const arg = fd.scratch();
  fd.process.write(arg, iommu_destroy.encode({ size: iommu_destroy.sizeof, id: 0 }));
  assert.equal(fd.ioctl(_IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE - 1), arg), -ENOTTY);
  assert.equal(fd.lastError!.check, "vfio-compat-unknown", "iommufd_vfio_ioctl() did not know it");
});

testF("iommufd.cmd_length", ({ fd }) => {
  const lengths = [
    "IOMMU_DESTROY",
    "IOMMU_GET_HW_INFO",
    "IOMMU_HWPT_ALLOC",
    "IOMMU_HWPT_INVALIDATE",
    "IOMMU_IOAS_ALLOC",
    "IOMMU_IOAS_IOVA_RANGES",
    "IOMMU_IOAS_ALLOW_IOVAS",
    "IOMMU_IOAS_MAP",
    "IOMMU_IOAS_COPY",
    "IOMMU_IOAS_UNMAP",
    "IOMMU_OPTION",
    "IOMMU_VFIO_IOAS",
  ];
  const arg = fd.scratch();
  for (const name of lengths) {
    const op = iommufdIoctls.find((r) => r.name === name)!;
    // The struct followed by one extra byte of 0xff.
    const cmd = new Uint8Array(op.size + 1);
    cmd[op.size] = 0xff;
    const setSize = (size: number) => new DataView(cmd.buffer).setUint32(0, size, true);
    setSize(op.min_size - 1);
    fd.process.write(arg, cmd);
    assert.equal(fd.ioctl(op.ioctl_num, arg), -EINVAL, `${name}: min_size - 1`);
    setSize(op.size + 1);
    fd.process.write(arg, cmd);
    assert.equal(fd.ioctl(op.ioctl_num, arg), -E2BIG, `${name}: sizeof + 1 with 0xff`);
    setSize(op.size);
    cmd[op.size] = 0xff;
    fd.process.write(arg, cmd);
    const rc = fd.ioctl(op.ioctl_num, arg);
    setSize(op.size + 1);
    cmd[op.size] = 0;
    fd.process.write(arg, cmd);
    assert.equal(fd.ioctl(op.ioctl_num, arg), rc, `${name}: sizeof + 1 with 0 behaves as sizeof`);
  }
});

testF("iommufd.cmd_ex_fail", ({ fd }) => {
  const arg = fd.scratch();
  const cmd = new Uint8Array(16);
  const view = new DataView(cmd.buffer);
  view.setUint32(0, 16, true);
  // object id is invalid and command is longer
  fd.process.write(arg, cmd);
  assert.equal(fd.ioctl(IOMMU_DESTROY, arg), -ENOENT);
  // future area is non-zero
  view.setBigUint64(8, 1n, true);
  fd.process.write(arg, cmd);
  assert.equal(fd.ioctl(IOMMU_DESTROY, arg), -E2BIG);
  // original command "works"
  view.setUint32(0, 8, true);
  fd.process.write(arg, cmd);
  assert.equal(fd.ioctl(IOMMU_DESTROY, arg), -ENOENT);
  // short command fails
  view.setUint32(0, 7, true);
  fd.process.write(arg, cmd);
  assert.equal(fd.ioctl(IOMMU_DESTROY, arg), -EINVAL);
});

testF("iommufd.global_options", ({ fd }) => {
  assert.equal(fd.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 1n), 0n);
  // This requires root (CAP_SYS_RESOURCE, which the fixture's task has).
  assert.equal(fd.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 1n), 1n);
  expectErrno(EINVAL, () => fd.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 2n));
  assert.equal(fd.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET), 1n);
  fd.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0n);
  expectErrno(ENOENT, () => fd.option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET));
  expectErrno(ENOENT, () => fd.option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET));
});

testF("iommufd.vfio_ioas", ({ fd }) => {
  const arg = fd.scratch();
  const vfio_ioas = (op: number, ioas_id = 0) => {
    fd.process.write(arg, iommu_vfio_ioas.encode({ size: iommu_vfio_ioas.sizeof, op, ioas_id }));
    const rc = fd.ioctl(IOMMU_VFIO_IOAS, arg);
    return {
      rc,
      ioas_id: iommu_vfio_ioas.decode(fd.process.read(arg, iommu_vfio_ioas.sizeof)).ioas_id,
    };
  };
  // ENODEV if there is no compat ioas
  assert.equal(vfio_ioas(IOMMU_VFIO_IOAS_GET).rc, -ENODEV);
  // Invalid id for set
  assert.equal(vfio_ioas(IOMMU_VFIO_IOAS_SET).rc, -ENOENT);
  // Valid id for set
  const ioas_id = fd.ioasAlloc();
  assert.equal(vfio_ioas(IOMMU_VFIO_IOAS_SET, ioas_id).rc, 0);
  // Same id comes back from get
  assert.deepEqual(vfio_ioas(IOMMU_VFIO_IOAS_GET), { rc: 0, ioas_id });
  // Clear works
  assert.equal(vfio_ioas(IOMMU_VFIO_IOAS_CLEAR).rc, 0);
  assert.equal(vfio_ioas(IOMMU_VFIO_IOAS_GET).rc, -ENODEV);
});

Deno.test("iommufd.global_options: without CAP_SYS_RESOURCE, setting the mode is EPERM", () => {
  const f = setupIommufd();
  const plain = f.m.spawn({ cgroup: f.cg, comm: "unprivileged" });
  const fd = plain.openIommufd();
  const e = expectErrno(EPERM, () => fd.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 1n));
  assert.equal(e.check, "rlimit-perm");
  fd.close();
  teardown(f);
  assertReleasedOnExit(f.m);
});

Deno.test("IOMMU_OPTION copies back only val64", () => {
  const f = setupIommufd();
  const arg = f.fd.scratch();
  const bytes = iommu_option.encode({
    size: iommu_option.sizeof,
    option_id: IOMMU_OPTION_RLIMIT_MODE,
    op: IOMMU_OPTION_OP_GET,
    val64: 7n,
  });
  f.fd.process.write(arg, bytes);
  assert.equal(f.fd.ioctl(IOMMU_OPTION, arg), 0);
  const after = iommu_option.decode(f.fd.process.read(arg, iommu_option.sizeof));
  assert.equal(after.val64, 0n);
  assert.equal(after.option_id, IOMMU_OPTION_RLIMIT_MODE);
  teardown(f);
  assertReleasedOnExit(f.m);
});
