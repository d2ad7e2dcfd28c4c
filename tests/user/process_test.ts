/**
 * The userspace layer as a real client uses it: a process with descriptor numbers and raw ioctls,
 * in the order of QEMU's backends/iommufd.c and hw/vfio/iommufd.c (iommufd_cdev_connect_and_bind,
 * iommufd_backend_alloc_ioas, iommufd_cdev_attach_ioas, vfio_get_device_info, the DMA map).
 */
import assert from "node:assert/strict";
import {
  EBADF,
  EINVAL,
  ENOENT,
  ErrnoError,
  IOMMU_IOAS_ALLOC,
  iommu_ioas_alloc,
  IOMMU_IOAS_MAP,
  iommu_ioas_map,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IS_ERR,
  Machine,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  vfio_device_attach_iommufd_pt,
  VFIO_DEVICE_BIND_IOMMUFD,
  vfio_device_bind_iommufd,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  vfio_device_detach_iommufd_pt,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_DEVICE_GET_INFO,
  vfio_device_info,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
} from "../../lib/internal.ts";

function counters(m: Machine) {
  const cg = m.cgroups.get("/vm");
  return {
    memcg: cg.read("memory.current"),
    pinned: cg.read("memory.stat"),
    descriptors: [...m.tasks].reduce((n, t) => n + (t.files?.fdt.size ?? 0), 0),
  };
}

Deno.test("process: a QEMU-shaped session on raw descriptors and raw structs", () => {
  const m = new Machine();
  const dev = m.addDevice({ iommu: "mock0" });
  assert.match(dev.cdevPath!, /^\/dev\/vfio\/devices\/vfio\d+$/);
  const vmm = m.spawn({ comm: "qemu", cgroup: m.cgroups.create("/vm") });
  const buf = vmm.mmap(1n << 16n); // where the VMM keeps its ioctl structs
  const ram = vmm.mmap(1n << 21n); // guest RAM
  // Fault both in first, so that what stays charged afterwards is only the VMM's own memory.
  for (let at = 0n; at < 1n << 21n; at += 4096n) vmm.write(ram + at, new Uint8Array(1));
  for (let at = 0n; at < 1n << 16n; at += 4096n) vmm.write(buf + at, new Uint8Array(1));
  const before = counters(m);

  const iommufd = vmm.open("/dev/iommu");
  const devfd = vmm.open(dev.cdevPath!);
  assert.notEqual(iommufd, devfd);

  // VFIO_DEVICE_BIND_IOMMUFD with the iommufd's descriptor number.
  vmm.write(
    buf,
    vfio_device_bind_iommufd.encode({ argsz: vfio_device_bind_iommufd.sizeof, iommufd }),
  );
  assert.equal(vmm.ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, buf), 0);
  const { out_devid } = vfio_device_bind_iommufd.decode(vmm.read(buf, 16));
  assert.ok(out_devid > 0);

  // IOMMU_IOAS_ALLOC
  vmm.write(buf, iommu_ioas_alloc.encode({ size: iommu_ioas_alloc.sizeof }));
  assert.equal(vmm.ioctl(iommufd, IOMMU_IOAS_ALLOC, buf), 0);
  const { out_ioas_id } = iommu_ioas_alloc.decode(vmm.read(buf, iommu_ioas_alloc.sizeof));

  // VFIO_DEVICE_ATTACH_IOMMUFD_PT to the IOAS: an automatic HWPT comes back in pt_id.
  const attach = vfio_device_attach_iommufd_pt;
  vmm.write(buf, attach.encode({ argsz: attach.sizeof, pt_id: out_ioas_id }));
  assert.equal(vmm.ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, buf), 0);
  const { pt_id } = attach.decode(vmm.read(buf, attach.sizeof));
  assert.notEqual(pt_id, out_ioas_id, "the automatic HWPT's ID");

  // VFIO_DEVICE_GET_INFO: a plain PCI function.
  vmm.write(buf, vfio_device_info.encode({ argsz: vfio_device_info.sizeof }));
  assert.equal(vmm.ioctl(devfd, VFIO_DEVICE_GET_INFO, buf), 0);
  const info = vfio_device_info.decode(vmm.read(buf, vfio_device_info.sizeof));
  assert.deepEqual(info, {
    argsz: 24,
    flags: VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
    num_regions: VFIO_PCI_NUM_REGIONS,
    num_irqs: VFIO_PCI_NUM_IRQS,
    cap_offset: 0,
    pad: 0,
  });

  // IOMMU_IOAS_MAP of guest RAM at a fixed IOVA.
  vmm.write(
    buf,
    iommu_ioas_map.encode({
      size: iommu_ioas_map.sizeof,
      flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
      ioas_id: out_ioas_id,
      user_va: ram,
      length: 1n << 21n,
      iova: 1n << 24n,
    }),
  );
  assert.equal(vmm.ioctl(iommufd, IOMMU_IOAS_MAP, buf), 0);

  // Detach, then close both descriptors: everything is back where it started.
  const detach = vfio_device_detach_iommufd_pt;
  vmm.write(buf, detach.encode({ argsz: detach.sizeof }));
  assert.equal(vmm.ioctl(devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, buf), 0);
  vmm.close(devfd);
  vmm.close(iommufd);
  assert.deepEqual(counters(m), before);
});

Deno.test("process: open and ioctl answer with the kernel's errnos", () => {
  const m = new Machine();
  const dev = m.addDevice({ iommu: "mock0" });
  const vmm = m.spawn();
  const buf = vmm.mmap(4096n);
  assert.throws(
    () => vmm.open("/dev/vfio/devices/vfio99"),
    (e: ErrnoError) => e.errno === ENOENT && e.check === "open-no-node",
  );
  const rc = vmm.ioctl(42, IOMMU_IOAS_ALLOC, buf);
  assert.ok(IS_ERR(rc) && rc.errno === EBADF && rc.check === "ioctl-badf");
  const devfd = vmm.open(dev.cdevPath!);
  // GET_INFO before the bind: the device file grants nothing yet.
  vmm.write(buf, vfio_device_info.encode({ argsz: 24 }));
  const early = vmm.ioctl(devfd, VFIO_DEVICE_GET_INFO, buf);
  assert.ok(IS_ERR(early) && early.errno === EINVAL && early.check === "vfio-access");
  // Bound, an argsz below num_irqs's end is EINVAL; a 16-byte one gets 16 bytes back.
  const fd = vmm.iommufd(vmm.open("/dev/iommu"));
  const dev_id = fd.bind(dev);
  assert.equal(fd.deviceInfo(dev_id).num_irqs, VFIO_PCI_NUM_IRQS);
  const devfd2 = vmm.open(dev.cdevPath!);
  assert.notEqual(devfd2, devfd, "a second open is a second, unbound file");
  vmm.write(buf, vfio_device_info.encode({ argsz: 15 }));
  const bound = fd.process.ioctl(devfd2, VFIO_DEVICE_GET_INFO, buf);
  assert.ok(IS_ERR(bound) && bound.check === "vfio-access");
  fd.close();
  vmm.close(devfd);
  vmm.close(devfd2);
});

Deno.test("process: VFIO_DEVICE_GET_INFO copies min(argsz, 24) bytes and checks argsz", () => {
  const m = new Machine();
  const dev = m.addDevice({ iommu: "mock0" });
  const vmm = m.spawn();
  const fd = vmm.openIommufd();
  fd.bind(dev);
  const devfd = [...vmm.task.files!.fdt.keys()].at(-1)!;
  const buf = vmm.mmap(4096n);
  vmm.write(buf, new Uint8Array(32).fill(0xee));
  vmm.write(buf, vfio_device_info.encode({ argsz: 15 }).subarray(0, 4));
  const short = vmm.ioctl(devfd, VFIO_DEVICE_GET_INFO, buf);
  assert.ok(IS_ERR(short) && short.errno === EINVAL && short.check === "vfio-info-argsz");
  vmm.write(buf, vfio_device_info.encode({ argsz: 16 }).subarray(0, 4));
  assert.equal(vmm.ioctl(devfd, VFIO_DEVICE_GET_INFO, buf), 0);
  const back = vmm.read(buf, 24);
  assert.deepEqual([...back.subarray(16, 24)], new Array(8).fill(0xee), "only 16 bytes written");
  assert.equal(vfio_device_info.decode(back).num_regions, VFIO_PCI_NUM_REGIONS);
  fd.close();
});
