/**
 * Nested translation on an Intel VT-d unit, end to end. A VMM gives its guest 4 MiB of RAM and a
 * virtual IOMMU; the guest builds a first-stage page table for its device in its own RAM; the VMM
 * passes that table to the host's VT-d driver as a nested HWPT over a nest parent that maps guest
 * RAM; the device DMAs, the unit walking both stages; the guest remaps and invalidates.
 *
 *   deno run examples/vtd-nested.ts
 */
import { Machine, uapi } from "../mod.ts";

const MiB = 1n << 20n;
const hex = (n: number | bigint) => `0x${n.toString(16)}`;

// The host: a machine with one VT-d unit, dmar0, and the VT-d driver on it.
const m = new Machine({ memory: 1 << 30 });
const iommu = m.addIommu({ kind: "vtd" });
const cg = m.cgroups.create("/vm1");
const vmm = m.spawn({ cgroup: cg, comm: "vmm" });
const stat = (key: string) =>
  cg.read("memory.stat").split("\n").find((l) => l.startsWith(key + " "))!.split(" ")[1];

// Guest RAM: 4 MiB of the VMM's memory, guest physical address (GPA) 0 = user address `ram`.
const ram = vmm.mmap(4n * MiB);
const gpaWrite64 = (gpa: number, value: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  vmm.write(ram + BigInt(gpa), b);
};
vmm.write(ram + 0x20_0000n, new TextEncoder().encode("page A"));
vmm.write(ram + 0x30_0000n, new TextEncoder().encode("page B"));
// /proc/self/pagemap: the host physical address behind a guest-physical address.
const hostPA = (gpa: number) => Number(vmm.pagemap(ram + BigInt(gpa))!);

// 1. The VMM: an IOAS holding guest RAM at IOVA = GPA, a device, a nest parent over the IOAS.
const fd = vmm.openIommufd();
fd.trace = (line) => console.log(`  ${line}`);
const ioas = fd.ioasAlloc();
fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 4n * MiB, iova: 0n });
const dev = m.addPciDevice({ iommu: "dmar0" });
const devId = fd.bind(dev);
const parent = fd.hwptAlloc({
  dev_id: devId,
  pt_id: ioas,
  flags: uapi.IOMMU_HWPT_ALLOC_NEST_PARENT,
});
console.log(`1. nest parent HWPT ${parent}: guest RAM mapped GPA → host physical`);

// 2. The guest: a 4-level first-stage table in its RAM (root at GPA 0x1000), mapping its
// device's IOVA 0x8000_0000 to GPA 0x20_0000 (page A). Table entries: P|RW|U/S|A; leaf also D.
gpaWrite64(0x1000, 0x2000n | 0x27n);
gpaWrite64(0x2000 + 8 * 2, 0x3000n | 0x27n);
gpaWrite64(0x3000, 0x4000n | 0x27n);
gpaWrite64(0x4000, 0x20_0000n | 0x67n);
console.log("2. the guest builds its first-stage table in guest RAM, root at GPA 0x1000");

// 3. The VMM passes the guest's table down as a nested HWPT and attaches the device to it.
const nested = fd.hwptAlloc({
  dev_id: devId,
  pt_id: parent,
  data_type: uapi.IOMMU_HWPT_DATA_VTD_S1,
  data: uapi.iommu_hwpt_vtd_s1.encode({
    flags: 0n,
    pgtbl_addr: 0x1000n,
    addr_width: 48,
    __reserved: 0,
  }),
});
fd.attach(devId, nested);
fd.trace = null;
console.log(`3. nested HWPT ${nested} attached: PASID entry 0 is PGTT 3, FSPTPTR = GPA 0x1000`);

// 4. The device DMAs: the unit walks the guest's table, translating each table GPA through the
// parent, then the final GPA.
const t = dev.dma(0x8000_0000, { write: true });
const text = (pa: number) => new TextDecoder().decode(m.physmem.readBytes(pa, 6));
console.log(`4. DMA ${t.describe()}`);
console.log(
  `   host PA ${hex(t.pa)} = the VMM's page at GPA 0x200000 (${hex(hostPA(0x20_0000))}): "${
    text(t.pa)
  }"`,
);

// 5. The guest remaps to page B, without telling anyone: the unit's IOTLB still has page A.
gpaWrite64(0x4000, 0x30_0000n | 0x67n);
const stale = dev.dma(0x8000_0000);
console.log(`5. guest PTE → GPA 0x300000; DMA ${stale.describe()}: still "${text(stale.pa)}"`);

// 6. The guest invalidates its virtual IOMMU; the VMM passes it on with IOMMU_HWPT_INVALIDATE.
iommu.trace = [];
const handled = fd.hwptInvalidate(nested, uapi.IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, [
  uapi.iommu_hwpt_vtd_s1_invalidate.encode({
    addr: 0x8000_0000n,
    npages: 1n,
    flags: uapi.IOMMU_VTD_INV_FLAGS_LEAF,
    __reserved: 0,
  }),
]);
console.log(`   the driver → dmar0: ${iommu.trace.join("; ")}`);
const fresh = dev.dma(0x8000_0000);
console.log(
  `6. HWPT_INVALIDATE handled ${handled} entry; DMA ${fresh.describe()}: "${text(fresh.pa)}"`,
);

// 7. What the VMM pays for: its memory cgroup counts the parent's second-stage tables.
console.log(
  `7. /vm1 sec_pagetables ${stat("sec_pagetables")} bytes, memory.current ${
    cg.read("memory.current").trim()
  }`,
);
fd.close();
vmm.munmap(ram, 4n * MiB);
console.log(
  `8. after close and munmap: sec_pagetables ${stat("sec_pagetables")}, memory.current ${
    cg.read("memory.current").trim()
  }`,
);
console.log(`   device back on the identity domain: DMA ${dev.dma(0x1000).describe()}`);
