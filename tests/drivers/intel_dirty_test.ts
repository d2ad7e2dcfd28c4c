/**
 * VT-d second-stage dirty tracking on dmar0 (spec/19-vtd-driver.md#dirty, issue 15): ECAP.SSADS,
 * GET_HW_INFO's IOMMU_HW_CAP_DIRTY_TRACKING, HWPT_ALLOC with DIRTY_TRACKING, SET_DIRTY_TRACKING
 * switching the PASID entry's SSADE through the queue, the walker setting D on writes, and
 * GET_DIRTY_BITMAP returning the pages a device wrote and only those — a VMM's migration loop. A
 * unit without SSADS fails the paths as v6.12 does.
 */
import assert from "node:assert/strict";
import {
  dev_iommu_priv_get,
  EINVAL,
  EOPNOTSUPP,
  ErrnoError,
  intel_iommu_ops,
  intel_pasid_get_entry,
  iommu_dirty_bitmap,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  iommu_hwpt_vtd_s1,
  Machine,
  to_pci_dev,
  vtdMakeEcap,
} from "../../lib/internal.ts";
import { guestWrite64 } from "./guest_memory.ts";

const MiB = 1n << 20n;
const IOVA = 0x1000_0000;

function expectErrno(fn: () => unknown, code: number, check: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ErrnoError, String(e));
    assert.equal(e.errno, code, `${e.check}: ${e.message}`);
    assert.equal(e.check, check);
    return;
  }
  assert.fail(`expected ${check}`);
}

/** A VMM with 2 MiB of guest RAM mapped at IOVA, a device on `unit` bound, and a dirty HWPT. */
function migrationSetup(opts: { ssads?: boolean } = {}) {
  const m = new Machine({ memory: 2 * 2 ** 30 });
  const iommu = m.addIommu({ kind: "vtd", ecap: vtdMakeEcap({ ssads: opts.ssads ?? true }) });
  const vmm = m.spawn({ comm: "vmm", rlimitMemlock: 1n << 30n });
  const ram = vmm.mmap(2n * MiB);
  for (let off = 0n; off < 2n * MiB; off += 4096n) vmm.write(ram + off, new Uint8Array([1]));
  const fd = vmm.openIommufd();
  const ioas = fd.ioasAlloc();
  fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 2n * MiB, iova: BigInt(IOVA) });
  const dev = to_pci_dev(m.addDevice({ iommu: "dmar0" }));
  const devId = fd.bind(dev);
  return { m, iommu, vmm, fd, ioas, dev, devId };
}

/** The page numbers (from IOVA) whose bits are set in a GET_DIRTY_BITMAP answer. */
function dirtyPages(bitmap: Uint8Array | null): number[] {
  const out: number[] = [];
  bitmap!.forEach((b, i) => {
    for (let k = 0; k < 8; k++) if (b & (1 << k)) out.push(i * 8 + k);
  });
  return out;
}

Deno.test("dmar0 reports IOMMU_HW_CAP_DIRTY_TRACKING; a unit without ECAP.SSADS does not", () => {
  const a = migrationSetup();
  assert.equal(a.fd.getHwInfo(a.devId).out_capabilities & BigInt(IOMMU_HW_CAP_DIRTY_TRACKING), 1n);
  a.fd.close();
  const b = migrationSetup({ ssads: false });
  assert.equal(b.fd.getHwInfo(b.devId).out_capabilities & BigInt(IOMMU_HW_CAP_DIRTY_TRACKING), 0n);
  b.fd.close();
});

Deno.test("a VMM's migration loop on dmar0: enable, DMA, query, clear, disable", () => {
  const { m, iommu, fd, ioas, dev, devId } = migrationSetup();
  const hwpt = fd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING });
  fd.attach(devId, hwpt);
  const query = (flags = 0) =>
    dirtyPages(fd.hwptGetDirtyBitmap({
      hwpt_id: hwpt,
      iova: BigInt(IOVA),
      length: 2n * MiB,
      page_size: 4096n,
      flags,
    }));
  const write = (page: number) => assert.ok(dev.dma(IOVA + page * 4096 + 8, { write: true }).ok);
  const read = (page: number) => assert.ok(dev.dma(IOVA + page * 4096).ok);
  const pe = m.kernel(() => intel_pasid_get_entry(dev, 0))!;
  const ssade = () => (m.physmem.read64(pe) >> 9n) & 1n;

  // Tracking off: the driver refuses a bitmap (intel-dirty-off), and v6.12's
  // iommu_read_and_clear_dirty() drops the walk's error: the ioctl succeeds with nothing set.
  assert.equal(ssade(), 0n);
  write(1);
  assert.deepEqual(query(), []);
  const domain = dev_iommu_priv_get(dev).domain!;
  const withBitmap = new iommu_dirty_bitmap();
  withBitmap.bitmap = {} as never; // never reached: the check comes first
  const r = m.kernel(() =>
    domain.dirty_ops!.read_and_clear_dirty!(domain, BigInt(IOVA), 2n * MiB, 0, withBitmap)
  );
  assert.ok(r instanceof ErrnoError && r.errno === EINVAL && r.check === "intel-dirty-off");

  // Enable: SSADE in the PASID entry, flushed through the queue (PASID cache, then the IOTLB).
  dev.unit.trace = [];
  fd.setDirtyTracking(hwpt, true);
  assert.equal(ssade(), 1n);
  const did = dev.unit.trace.find((l) => l.includes("pc pasid"))!.match(/did=(\d+)/)![1];
  assert.deepEqual(
    dev.unit.trace.filter((l) => !l.includes("wait")).map((l) => l.replace(/^IQ\[\d+\] /, "")),
    [`pc pasid did=${did} pasid=0`, `iotlb dsi did=${did}`],
  );
  assert.deepEqual(query(), [], "enabling cleared what was there");

  // Round 1: the device writes three pages and reads two; a read first, then a write, of page 11
  // must still dirty it (the IOTLB entry a read filled cannot serve a write that must set D).
  read(5);
  read(11);
  write(3);
  write(11);
  write(100);
  write(3);
  assert.deepEqual(query(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR), [3, 11, 100], "NO_CLEAR reports");
  assert.deepEqual(query(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR), [3, 11, 100], "… and leaves them");
  assert.deepEqual(query(), [3, 11, 100], "the pages written, and only those");
  assert.deepEqual(query(), [], "cleared");

  // Round 2: a page written again after the clear is dirty again — the clear flushed the IOTLB
  // entry its first write had filled, so the walk runs and sets D once more.
  write(3);
  write(200);
  assert.deepEqual(query(), [3, 200]);

  // Disable: SSADE off, writes dirty nothing, the bitmap cannot be read; enable clears leftovers.
  fd.setDirtyTracking(hwpt, false);
  assert.equal(ssade(), 0n);
  write(7);
  assert.deepEqual(query(), []);
  fd.setDirtyTracking(hwpt, true);
  assert.deepEqual(query(), []);
  write(9);
  assert.deepEqual(query(), [9]);
  assert.ok(iommu.flushes.pasid_cache > 0);
  fd.close();
});

Deno.test("dirty tracking without ECAP.SSADS: HWPT_ALLOC and domain_alloc_user refuse as v6.12", () => {
  const { m, fd, ioas, dev, devId } = migrationSetup({ ssads: false });
  expectErrno(
    () => fd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }),
    EOPNOTSUPP,
    "paging-alloc-dirty",
  );
  const r = m.kernel(() =>
    intel_iommu_ops.domain_alloc_user!(dev, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null, null)
  );
  assert.ok(r instanceof ErrnoError);
  assert.equal(r.check, "intel-alloc-data");
  // A paging HWPT without the flag has no dirty operations.
  const hwpt = fd.hwptAlloc({ dev_id: devId, pt_id: ioas });
  expectErrno(() => fd.setDirtyTracking(hwpt, true), EOPNOTSUPP, "dirty-ops");
  fd.close();
});

Deno.test("a dirty-tracking domain of dmar0 cannot take a device behind a unit without SSADS", () => {
  const { m, fd, ioas, devId } = migrationSetup();
  m.addIommu({ kind: "vtd", ecap: vtdMakeEcap({ ssads: false }) });
  const other = to_pci_dev(m.addDevice({ iommu: "dmar1" }));
  const otherId = fd.bind(other);
  const hwpt = fd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING });
  expectErrno(() => fd.attach(otherId, hwpt), EINVAL, "intel-compat-dirty");
  fd.close();
});

Deno.test("a dirty nest parent: SET_DIRTY_TRACKING reaches the nested domain's PASID entry, and nested writes dirty the GPA", () => {
  const m = new Machine({ memory: 2 ** 30 });
  m.addIommu({ kind: "vtd" });
  const vmm = m.spawn({ comm: "vmm", rlimitMemlock: 1n << 30n });
  const ram = vmm.mmap(4n * MiB);
  vmm.write(ram, new Uint8Array(Number(4n * MiB)).fill(1));
  const fd = vmm.openIommufd();
  const ioas = fd.ioasAlloc();
  fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 4n * MiB, iova: 0n });
  const dev = to_pci_dev(m.addDevice({ iommu: "dmar0" }));
  const devId = fd.bind(dev);
  const parent = fd.hwptAlloc({
    dev_id: devId,
    pt_id: ioas,
    flags: IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  });
  // The guest's first stage at GPA 0x1000: guest IOVA page k → GPA 0x200000 + k pages, A and D
  // already set in every entry (so the walk writes nothing into the guest's tables).
  guestWrite64(vmm, ram, 0x1000, 0x2027n);
  guestWrite64(vmm, ram, 0x2000, 0x3027n);
  guestWrite64(vmm, ram, 0x3000, 0x4027n);
  for (let k = 0; k < 3; k++) {
    guestWrite64(vmm, ram, 0x4000 + 8 * k, BigInt(0x20_0000 + k * 4096) | 0x67n);
  }
  const nested = fd.hwptAlloc({
    dev_id: devId,
    pt_id: parent,
    data_type: IOMMU_HWPT_DATA_VTD_S1,
    data: iommu_hwpt_vtd_s1.encode({
      flags: 0n,
      pgtbl_addr: 0x1000n,
      addr_width: 48,
      __reserved: 0,
    }),
  });
  fd.attach(devId, nested);
  const pe = m.kernel(() => intel_pasid_get_entry(dev, 0))!;
  assert.equal((m.physmem.read64(pe) >> 6n) & 7n, 3n, "a nested entry");
  assert.equal((m.physmem.read64(pe) >> 9n) & 1n, 0n);
  fd.setDirtyTracking(parent, true);
  assert.equal((m.physmem.read64(pe) >> 9n) & 1n, 1n, "parent_domain_set_dirty_tracking()");
  assert.ok(dev.dma(0x1000 + 8, { write: true }).ok);
  assert.ok(dev.dma(0x2000).ok);
  const bitmap = fd.hwptGetDirtyBitmap({
    hwpt_id: parent,
    iova: 0n,
    length: 4n * MiB,
    page_size: 4096n,
  });
  assert.deepEqual(dirtyPages(bitmap), [0x201], "the GPA the guest IOVA named, and only it");
  fd.setDirtyTracking(parent, false);
  assert.equal((m.physmem.read64(pe) >> 9n) & 1n, 0n);
  fd.close();
});
