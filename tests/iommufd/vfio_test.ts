/**
 * The VFIO device file's iommufd ioctls (drivers/vfio/device_cdev.c, drivers/vfio/iommufd.c and
 * drivers/vfio/vfio_main.c, v6.12): the order of their checks, and detach of a device that is not
 * attached.
 */
import assert from "node:assert/strict";
import {
  EFAULT,
  EINVAL,
  type ErrnoError,
  file,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  type vfio_device_file,
  vfio_device_fops,
} from "../../lib/internal.ts";
import { expectErrno, mockDevice, testF } from "../conformance/fixture.ts";

testF(
  "VFIO: attach and detach of an unbound device file are EINVAL before the struct is read",
  (f) => {
    const { fd } = f;
    const df: vfio_device_file = {
      dev: mockDevice(f),
      iommufd: null,
      idev: null,
      iommufd_attached: false,
    };
    const vfd = fd.process.task.files!.fd_install(new file(vfio_device_fops, df));
    for (const cmd of [VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT]) {
      // A NULL struct: the kernel never reads it, so this is EINVAL, not EFAULT.
      const rc = fd.process.ioctl(vfd, cmd, 0n) as ErrnoError;
      assert.equal(rc.errno, EINVAL);
      assert.equal(rc.check, "vfio-access");
    }
    // Bind is the one ioctl that needs no access: it reads its struct (here: faults).
    const rc = fd.process.ioctl(vfd, VFIO_DEVICE_BIND_IOMMUFD, 0n) as ErrnoError;
    assert.equal(rc.errno, EFAULT);
    assert.equal(rc.check, "vfio-copy");
    fd.process.close(vfd);
  },
);

testF("VFIO: detach of a bound device that is not attached succeeds and changes nothing", (f) => {
  const { fd } = f;
  const ioas = fd.ioasAlloc();
  const dev_id = fd.bind(mockDevice(f));
  fd.detach(dev_id);
  const hwpt = fd.attach(dev_id, ioas);
  fd.detach(dev_id);
  fd.detach(dev_id);
  // The automatic HWPT went with the detach.
  expectErrno(EINVAL, () => fd.hwptAlloc({ dev_id, pt_id: hwpt }));
  fd.unbind(dev_id);
});
