/**
 * Issue 14 F (VFIO compatibility): drivers/iommu/iommufd/vfio_compat.c iommufd_vfio_ioctl() (v6.12)
 * answers the VFIO type1 container ioctls on /dev/iommu, on the IOAS that IOMMU_VFIO_IOAS selects.
 */
import assert from "node:assert/strict";
import {
  EINVAL,
  ENODEV,
  ENOTTY,
  ErrnoError,
  IOMMU_VFIO_IOAS,
  iommu_vfio_ioas,
  IOMMU_VFIO_IOAS_SET,
  Machine,
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_DMA_CC_IOMMU,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_DIRTY_PAGES,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  VFIO_SPAPR_TCE_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
} from "../../lib/internal.ts";

const P = 4096n;
const ULONG_MAX = (1n << 64n) - 1n;

function setup() {
  const m = new Machine();
  const vmm = m.spawn({ cgroup: m.cgroups.create("/vm"), rlimitMemlock: 1n << 30n });
  const fd = vmm.openIommufd();
  const arg = vmm.mmap(P);
  const ioctl = (cmd: number, a: bigint) => vmm.ioctl(fd.fd, cmd, a);
  const useIoas = (ioas_id: number) => {
    vmm.write(arg, iommu_vfio_ioas.encode({ size: 12, ioas_id, op: IOMMU_VFIO_IOAS_SET }));
    assert.equal(ioctl(IOMMU_VFIO_IOAS, arg), 0);
  };
  return { m, vmm, fd, arg, ioctl, useIoas };
}

const isErr = (rc: unknown, errno: number, check?: string) => {
  assert.ok(rc instanceof ErrnoError, `expected errno ${errno}, got ${rc}`);
  assert.equal(rc.errno, errno, rc.reason);
  if (check) assert.equal(rc.check, check);
};

Deno.test("vfio_compat.c iommufd_vfio_ioctl(): VFIO_GET_API_VERSION and VFIO_CHECK_EXTENSION on /dev/iommu", () => {
  const s = setup();
  assert.equal(s.ioctl(VFIO_GET_API_VERSION, 0n), VFIO_API_VERSION);
  assert.equal(VFIO_GET_API_VERSION, 0x3b64);
  const ext = (t: number) => s.ioctl(VFIO_CHECK_EXTENSION, BigInt(t));
  assert.equal(ext(VFIO_TYPE1_IOMMU), 1);
  assert.equal(ext(VFIO_TYPE1v2_IOMMU), 1);
  assert.equal(ext(VFIO_UNMAP_ALL), 1);
  assert.equal(ext(VFIO_NOIOMMU_IOMMU), 0, "CONFIG_VFIO_NOIOMMU not built");
  assert.equal(ext(VFIO_UPDATE_VADDR), 0);
  assert.equal(ext(VFIO_SPAPR_TCE_IOMMU), 0);
  // VFIO_DMA_CC_IOMMU asks the compatibility IOAS: none yet.
  isErr(ext(VFIO_DMA_CC_IOMMU), ENODEV, "vfio-compat-ioas");
  s.useIoas(s.fd.ioasAlloc());
  assert.equal(ext(VFIO_DMA_CC_IOMMU), 1, "no paging HWPT: nothing fails to enforce coherency");
  // Not a container ioctl: ENOIOCTLCMD → ENOTTY.
  isErr(s.ioctl(VFIO_IOMMU_DIRTY_PAGES, s.arg), ENOTTY, "vfio-compat-unknown");
});

Deno.test("vfio_compat.c iommufd_vfio_set_iommu(): the type first, then the compatibility IOAS", () => {
  const s = setup();
  isErr(s.ioctl(VFIO_SET_IOMMU, 7n), EINVAL, "vfio-set-iommu-type");
  isErr(s.ioctl(VFIO_SET_IOMMU, BigInt(VFIO_TYPE1v2_IOMMU)), ENODEV, "vfio-compat-ioas");
  const ioas = s.fd.ioasAlloc();
  s.useIoas(ioas);
  assert.equal(s.ioctl(VFIO_SET_IOMMU, BigInt(VFIO_TYPE1v2_IOMMU)), 0);
  assert.equal(s.ioctl(VFIO_SET_IOMMU, BigInt(VFIO_TYPE1_IOMMU)), 0);
  // Type1 (v1) turned large pages off: the IOVA alignment is now PAGE_SIZE.
  assert.equal(s.fd.ioasIovaRanges(ioas).out_iova_alignment, P);
});

Deno.test("vfio_compat.c iommufd_vfio_map_dma()/unmap_dma(): map on the compatibility IOAS, unmap writes the size back", () => {
  const s = setup();
  const ioas = s.fd.ioasAlloc();
  const buf = s.vmm.mmap(16n * P);
  const map = (v: Partial<ReturnType<typeof vfio_iommu_type1_dma_map.decode>>) => {
    s.vmm.write(
      s.arg,
      vfio_iommu_type1_dma_map.encode({ argsz: 32, vaddr: buf, size: 4n * P, ...v }),
    );
    return s.ioctl(VFIO_IOMMU_MAP_DMA, s.arg);
  };
  const flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  isErr(map({ argsz: 31, flags, iova: 0x100000n }), EINVAL, "vfio-map-argsz");
  isErr(map({ flags: 4, iova: 0x100000n }), EINVAL, "vfio-map-argsz");
  isErr(map({ flags, iova: 0x100000n }), ENODEV, "vfio-compat-ioas");
  isErr(s.ioctl(VFIO_IOMMU_MAP_DMA, 0n), 14, "vfio-map-fault");
  s.useIoas(ioas);
  assert.equal(map({ flags, iova: 0x100000n }), 0);
  assert.equal(map({ flags: VFIO_DMA_MAP_FLAG_READ, iova: 0x200000n }), 0);
  // The IOAS holds them: IOMMU_IOAS_UNMAP of the second works.
  assert.equal(s.fd.ioasUnmap(ioas, 0x200000n, 4n * P), 4n * P);
  const unmap = (v: Partial<ReturnType<typeof vfio_iommu_type1_dma_unmap.decode>>) => {
    s.vmm.write(s.arg, vfio_iommu_type1_dma_unmap.encode({ argsz: 24, ...v }));
    const rc = s.ioctl(VFIO_IOMMU_UNMAP_DMA, s.arg);
    return { rc, size: vfio_iommu_type1_dma_unmap.decode(s.vmm.read(s.arg, 24)).size };
  };
  isErr(unmap({ flags: 1, iova: 0x100000n, size: 4n * P }).rc, EINVAL, "vfio-unmap-argsz");
  isErr(
    unmap({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0x100000n }).rc,
    EINVAL,
    "vfio-unmap-all",
  );
  assert.equal(map({ flags, iova: 0x300000n }), 0);
  assert.deepEqual(unmap({ iova: 0x100000n, size: 4n * P }), { rc: 0, size: 4n * P });
  assert.deepEqual(unmap({ flags: VFIO_DMA_UNMAP_FLAG_ALL }), { rc: 0, size: 4n * P });
  // A failed unmap still writes back what it unmapped: nothing.
  const r = unmap({ iova: 0x100000n, size: 4n * P });
  isErr(r.rc, 2);
  assert.equal(r.size, 0n);
});

Deno.test("vfio_compat.c iommufd_vfio_iommu_get_info(): page sizes and the capability chain (DMA avail, IOVA ranges)", () => {
  const s = setup();
  const info = (argsz: number) => {
    s.vmm.write(s.arg, new Uint8Array(256));
    s.vmm.write(s.arg, vfio_iommu_type1_info.encode({ argsz }));
    const rc = s.ioctl(VFIO_IOMMU_GET_INFO, s.arg);
    return {
      rc,
      info: vfio_iommu_type1_info.decode(s.vmm.read(s.arg, 24)),
      raw: s.vmm.read(s.arg, 256),
    };
  };
  isErr(info(15).rc, EINVAL, "vfio-iommu-info-argsz");
  isErr(info(16).rc, ENODEV, "vfio-compat-ioas");
  s.useIoas(s.fd.ioasAlloc());
  // Too small for the capabilities: argsz says how much is needed, cap_offset stays 0.
  let r = info(24);
  assert.equal(r.rc, 0);
  const total = 24 + 16 + 16 + 16; // info, dma_avail (12 → 16), iova_range head + one range
  assert.deepEqual(r.info, {
    argsz: total,
    flags: 3,
    iova_pgsizes: ULONG_MAX & ~(P - 1n),
    cap_offset: 0,
    pad: 0,
  });
  r = info(total);
  assert.equal(r.info.cap_offset, 24);
  const dv = new DataView(r.raw.buffer);
  // At 24: DMA avail {id 3, version 1, next 40, avail U32_MAX}.
  assert.deepEqual([dv.getUint16(24, true), dv.getUint16(26, true), dv.getUint32(28, true)], [
    3,
    1,
    40,
  ]);
  assert.equal(dv.getUint32(32, true), 0xffff_ffff);
  // At 40: IOVA ranges {id 1, version 1, next 0, nr_iovas 1, [0, ULONG_MAX]}.
  assert.deepEqual(
    [
      dv.getUint16(40, true),
      dv.getUint16(42, true),
      dv.getUint32(44, true),
      dv.getUint32(48, true),
    ],
    [1, 1, 0, 1],
  );
  assert.equal(dv.getBigUint64(56, true), 0n);
  assert.equal(dv.getBigUint64(64, true), ULONG_MAX);
});
