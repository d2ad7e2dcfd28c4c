/**
 * Regression tests for a guest's IOTLB invalidation on VT-d (Linux v6.12), found by the fidelity
 * audit of issue 14 (finding B): drivers/iommu/intel/nested.c intel_nested_cache_invalidate_user()
 * hands [addr, addr + nrpages_to_size(npages) - 1] to drivers/iommu/intel/cache.c
 * cache_tag_flush_range(), whose calculate_psi_aligned_address() works in wrapping unsigned long
 * arithmetic and (until 2025) has no shortcut for the whole address space.
 */
import assert from "node:assert/strict";
import {
  calculate_psi_aligned_address,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  iommu_hwpt_vtd_s1,
  iommu_hwpt_vtd_s1_invalidate,
  Machine,
  type Process,
  to_pci_dev,
} from "../../lib/internal.ts";
import { guestWrite64, hpa } from "../drivers/guest_memory.ts";

const MiB = 1n << 20n;
const U64_MAX = (1n << 64n) - 1n;

Deno.test("cache.c calculate_psi_aligned_address(): unsigned long arithmetic, no whole-space shortcut", () => {
  const psi = (start: bigint, end: bigint) => calculate_psi_aligned_address(start, end);
  // An ordinary range: pages 1–4 need an aligned block of 8 at 0.
  assert.deepEqual(psi(0x1000n, 0x4fffn), { addr: 0, pages: 8, mask: 3 });
  // [0, ULONG_MAX]: the size wraps to 0, so does the page count; __roundup_pow_of_two(0) is
  // 1 << 64, which x86-64 computes as 1: one page at 0.
  assert.deepEqual(psi(0n, U64_MAX), { addr: 0, pages: 1, mask: 0 });
  // end below start: one page at start.
  assert.deepEqual(psi(0x5000n, 0x4fffn), { addr: 0x5000, pages: 1, mask: 0 });
  // npages U64_MAX at 0: end 2^64 - 4097, 2^52 - 1 pages, rounded up to 2^52: AM 52.
  assert.deepEqual(psi(0n, (1n << 64n) - 4097n), { addr: 0, pages: 2 ** 52, mask: 52 });
});

/** The guest's first stage (root at GPA 0x1000): guest IOVA page k maps GPA targets[k]. */
function guestTables(vmm: Process, ram: bigint, targets: number[]): void {
  const TABLE = 0x27n; // P | RW | U/S | A
  guestWrite64(vmm, ram, 0x1000, 0x2000n | TABLE); // PML4[0]
  guestWrite64(vmm, ram, 0x2000, 0x3000n | TABLE); // PDPT[0]
  guestWrite64(vmm, ram, 0x3000, 0x4000n | TABLE); // PD[0]
  targets.forEach((t, k) => guestWrite64(vmm, ram, 0x4000 + 8 * k, BigInt(t) | 0x67n)); // PT[k]
}

/**
 * A VMM with 4 MiB of guest RAM at GPA 0 behind a nest parent, a nested HWPT over a guest table
 * that maps guest IOVA pages 0–2, a device attached to it, and the three translations cached.
 */
function nestedWithCachedPages() {
  const m = new Machine({ memory: 2 ** 30 });
  const iommu = m.addIommu({ kind: "vtd" });
  const vmm = m.spawn({ cgroup: m.cgroups.create("/vm1"), comm: "vmm", rlimitMemlock: 1n << 30n });
  const ram = vmm.mmap(4n * MiB);
  vmm.write(ram, new Uint8Array(Number(4n * MiB)).fill(1));
  const fd = vmm.openIommufd();
  const ioas = fd.ioasAlloc();
  fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 4n * MiB, iova: 0n });
  const dev = to_pci_dev(m.addDevice({ iommu: "dmar0" }));
  const devId = fd.bind(dev);
  const parent = fd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
  const before = [0x20_0000, 0x20_1000, 0x20_2000];
  const after = [0x30_0000, 0x30_1000, 0x30_2000];
  guestTables(vmm, ram, before);
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
  for (let k = 0; k < 3; k++) assert.ok(dev.dma(k * 0x1000).ok);
  // The guest remaps all three pages; the unit keeps using what it cached.
  guestTables(vmm, ram, after);
  for (let k = 0; k < 3; k++) assert.ok(dev.dma(k * 0x1000).iotlbHit);
  /** Which guest pages now translate to their new target. */
  const fresh = () =>
    [0, 1, 2].map((k) => dev.dma(k * 0x1000).pa === hpa(vmm, ram + BigInt(after[k])));
  const invalidate = (addr: bigint, npages: bigint) => {
    iommu.trace = [];
    const n = fd.hwptInvalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, [
      iommu_hwpt_vtd_s1_invalidate.encode({ addr, npages, flags: 0, __reserved: 0 }),
    ]);
    assert.equal(n, 1, "the entry counts as handled");
    return iommu.trace;
  };
  return { fd, fresh, invalidate };
}

Deno.test("nested.c: {addr 0, npages 0} flushes one page at 0 (not nothing, not everything)", () => {
  const s = nestedWithCachedPages();
  assert.deepEqual(s.invalidate(0n, 0n), ["piotlb psi did=2 pasid=0 addr=0x0 am=0"]);
  assert.deepEqual(s.fresh(), [true, false, false]);
  s.fd.close();
});

Deno.test("nested.c: {addr ≠ 0, npages 0} is a range ending below its start: one page at addr", () => {
  const s = nestedWithCachedPages();
  assert.deepEqual(s.invalidate(0x1000n, 0n), ["piotlb psi did=2 pasid=0 addr=0x1000 am=0"]);
  assert.deepEqual(s.fresh(), [false, true, false]);
  s.fd.close();
});

Deno.test("nested.c: {addr 0, npages U64_MAX} is page-selective with AM 52, not PASID-selective", () => {
  const s = nestedWithCachedPages();
  // The kernel submits AM 52; the model's unit (MAMV 18) gets the PASID-selective form instead.
  assert.deepEqual(s.invalidate(0n, U64_MAX), ["piotlb pasid did=2 pasid=0 (am 52 > mamv)"]);
  assert.deepEqual(s.fresh(), [true, true, true]);
  s.fd.close();
});
