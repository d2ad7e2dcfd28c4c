/**
 * A VMM gives its guest 4 GiB of RAM with a hole for MMIO below 4 GiB, as on a PC: 3 GiB at guest
 * physical 0 and 1 GiB at 4 GiB. It maps the RAM into an IO address space, attaches two devices —
 * the first gets an automatic domain, the second a HWPT of its own — looks at the IOVA ranges,
 * unmaps the high RAM, and closes. At each step it prints what the kernel counts: pinned pages
 * against RLIMIT_MEMLOCK, and the VMM's memory cgroup.
 *
 *   deno run examples/guest-memory.ts
 *
 * The devices are PCI functions behind a VT-d unit, dmar0, run by the Intel driver (spec chapter
 * 19: 48-bit second-stage tables with 4 KiB, 2 MiB and 1 GiB pages); the selftest mock's aperture,
 * 16 MiB to 2 GiB, could not hold a guest's RAM at its guest-physical addresses.
 */
import { Machine, MADV_HUGEPAGE } from "../mod.ts";

const GiB = 1n << 30n;
const m = new Machine({ memory: 16 * 2 ** 30 });
m.addIommu({ kind: "vtd" });
const cg = m.cgroups.create("/vm1");
const vmm = m.spawn({ cgroup: cg, comm: "vmm", rlimitMemlock: 6n * GiB });

function show(step: string) {
  const stat = Object.fromEntries(
    cg.read("memory.stat").trim().split("\n").map((l) => l.split(" ")).map((
      [k, v],
    ) => [k, Number(v)]),
  );
  const mib = (n: number) => n < 2 ** 20 ? `${n / 1024} KiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
  console.log(step);
  console.log(
    `  locked_vm ${vmm.task.cred.user.locked_vm} pages (${
      mib(vmm.task.cred.user.locked_vm * 4096)
    }), ` +
      `pinned_vm ${vmm.mm!.pinned_vm}; memory.current ${mib(Number(cg.read("memory.current")))}: ` +
      `anon ${mib(stat.anon)}, kernel ${mib(stat.kernel)}, sec_pagetables ${
        mib(stat.sec_pagetables)
      }, ` +
      `pagetables ${mib(stat.pagetables)}`,
  );
}

function ranges(ioas_id: number) {
  const { ranges, out_iova_alignment } = fd.ioasIovaRanges(ioas_id);
  const hex = (n: bigint) => `0x${n.toString(16)}`;
  console.log(
    `  IOVA ranges: ${
      ranges.map((r) => `[${hex(r.start)}, ${hex(r.last)}]`).join(" ")
    }, alignment ${out_iova_alignment}`,
  );
}

// Guest RAM: one anonymous mapping, in transparent huge pages, as VMMs ask for.
const ram = vmm.mmap(4n * GiB);
vmm.madvise(ram, 4n * GiB, MADV_HUGEPAGE);
show("1. mmap 4 GiB of guest RAM (nothing touched yet)");

const fd = vmm.openIommufd();
const ioas_id = fd.ioasAlloc();
ranges(ioas_id);
fd.ioasMap({ ioas_id, user_va: ram, length: 3n * GiB, iova: 0n });
fd.ioasMap({ ioas_id, user_va: ram + 3n * GiB, length: 1n * GiB, iova: 4n * GiB });
show("2. IOMMU_IOAS_MAP low RAM at 0 and high RAM at 4 GiB: no domain yet, so nothing is pinned");

const pdev1 = m.addPciDevice({ iommu: "dmar0" });
const dev1 = fd.bind(pdev1);
const hwpt1 = fd.attach(dev1, ioas_id);
show(`3. attach device 1 to the IOAS: automatic HWPT ${hwpt1}; its domain pins and maps all 4 GiB`);
ranges(ioas_id);
const dma = pdev1.dma(0x1_2345_6789);
console.log(`  device 1 reads guest physical 0x123456789: ${dma.describe()}`);

const dev2 = fd.bind(m.addDevice({ iommu: "dmar0" }));
const hwpt2 = fd.hwptAlloc({ dev_id: dev2, pt_id: ioas_id });
fd.attach(dev2, hwpt2);
show(
  `4. device 2 on a HWPT of its own (${hwpt2}): a second page table, filled from the first, no new pins`,
);

const unmapped = fd.ioasUnmap(ioas_id, 4n * GiB, 1n * GiB);
show(
  `5. IOMMU_IOAS_UNMAP the high RAM (${
    unmapped >> 20n
  } MiB): its pins go, and each domain clears its IOPTEs`,
);

fd.close();
show(
  "6. close: devices unbound, HWPTs and the IOAS destroyed, every pin dropped; the RAM stays mapped",
);

vmm.munmap(ram, 4n * GiB);
show("7. munmap the guest RAM");
