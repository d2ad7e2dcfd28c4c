/**
 * NON-KERNEL: a toy IOMMU for the examples and benchmarks, until the hardware chapters bring VT-d.
 *
 * The model's only IOMMU driver so far is the selftest's mock, whose aperture (16 MiB to 2 GiB)
 * cannot hold a guest's RAM at its guest-physical addresses and whose largest page is 1 MiB. The
 * toy has what a VMM expects of real hardware: a 48-bit aperture and 4 KiB, 2 MiB and 1 GiB pages
 * in a four-level radix table. Its table pages come from iommu-pages with the gfp of iommu_map(),
 * so iommufd's GFP_KERNEL_ACCOUNT charges them to the VMM's memory cgroup (`sec_pagetables`). It
 * does not write entries into simulated memory — there is no walker yet — but keeps the leaves in
 * maps, one entry per leaf page, so its memory follows the size of its page table.
 *
 * `addToyIommu(machine)` registers an instance "toy0"; `machine.addDevice({ iommu: "toy0" })` then
 * makes devices behind it.
 *
 * @module
 */
import {
  type device,
  EINVAL,
  ENOMEM,
  type ErrnoError,
  fail,
  generic_device_group,
  GFP_KERNEL,
  type gfp_t,
  iommu_alloc_page,
  IOMMU_CAP_CACHE_COHERENCY,
  type iommu_device,
  type iommu_domain,
  IOMMU_DOMAIN_BLOCKED,
  type iommu_domain_ops,
  IOMMU_DOMAIN_UNMANAGED,
  iommu_free_page,
  IOMMU_MMIO,
  type iommu_ops,
  iommu_probe_device,
  IOMMU_RESV_MSI,
  IOMMU_WRITE,
  type Machine,
  type page,
} from "../mod.ts";

/** Levels 1–4 of the table: a level-l table maps 2^(12 + 9l) bytes; its entries map 2^(3 + 9l). */
const SHIFT = [0, 12, 21, 30, 39] as const;

/** A toy paging domain: a four-level table, 48 bits of IOVA. */
class ToyDomain implements iommu_domain {
  type = IOMMU_DOMAIN_UNMANAGED;
  ops: iommu_domain_ops = toyDomainOps;
  dirty_ops = null;
  owner: iommu_ops | null = null;
  pgsize_bitmap = (1n << 12n) | (1n << 21n) | (1n << 30n);
  geometry = { aperture_start: 0n, aperture_end: (1n << 48n) - 1n, force_aperture: true };
  /** Table pages by level (1–3; the root is `root`) and index (iova >> (12 + 9 × level)). */
  readonly tables = [
    null,
    new Map(),
    new Map(),
    new Map(),
  ] as (Map<number, { page: page; used: number }> | null)[];
  /** Leaves by the level whose entry maps them: iova >> SHIFT[level] → physical address. */
  readonly leaves = [null, new Map(), new Map(), new Map()] as (Map<number, number> | null)[];
  constructor(readonly root: page) {}
}

/** NON-KERNEL: the index of the level-`l` table that maps `iova`. */
function tableIndex(l: number, iova: number): number {
  return Math.floor(iova / 2 ** (SHIFT[l] + 9));
}

/** Make the tables from level 3 down to `level` that map `iova`; false when out of memory. */
function tableFor(domain: ToyDomain, level: number, iova: number, gfp: gfp_t): boolean {
  for (let l = 3; l >= level; l--) {
    const tables = domain.tables[l]!;
    if (tables.has(tableIndex(l, iova))) continue;
    const page = iommu_alloc_page(gfp);
    if (!page) return false;
    tables.set(tableIndex(l, iova), { page, used: 0 });
    if (l < 3) domain.tables[l + 1]!.get(tableIndex(l + 1, iova))!.used++;
  }
  return true;
}

/** An entry of the level-`level` table mapping `iova` is gone: free tables that became empty. */
function putEntry(domain: ToyDomain, level: number, iova: number): void {
  for (let l = level; l <= 3; l++) {
    const table = domain.tables[l]!.get(tableIndex(l, iova))!;
    if (--table.used) return;
    domain.tables[l]!.delete(tableIndex(l, iova));
    iommu_free_page(table.page);
  }
}

const LEVEL_OF = new Map([[1n << 12n, 1], [1n << 21n, 2], [1n << 30n, 3]]);

const toyDomainOps: iommu_domain_ops = {
  attach_dev: () => 0,
  map_pages(domain, iova, paddr, pgsize, pgcount, _prot, gfp) {
    const toy = domain as ToyDomain;
    const level = LEVEL_OF.get(pgsize)!;
    const size = Number(pgsize);
    const leaves = toy.leaves[level]!;
    let mapped = 0n;
    for (let k = 0; k < pgcount; k++) {
      const at = Number(iova) + k * size;
      if (!tableFor(toy, level, at, gfp)) {
        return { ret: fail(ENOMEM, "toy-map", "no table page"), mapped };
      }
      if (leaves.has(at / size)) return { ret: fail(EINVAL, "toy-map", "already mapped"), mapped };
      leaves.set(at / size, paddr + k * size);
      toy.tables[level]!.get(tableIndex(level, at))!.used++;
      mapped += pgsize;
    }
    return { ret: 0, mapped };
  },
  unmap_pages(domain, iova, pgsize, pgcount) {
    const toy = domain as ToyDomain;
    const level = LEVEL_OF.get(pgsize)!;
    const size = Number(pgsize);
    for (let k = 0; k < pgcount; k++) {
      const at = Number(iova) + k * size;
      if (toy.leaves[level]!.delete(at / size)) putEntry(toy, level, at);
    }
    return pgsize * BigInt(pgcount);
  },
  iova_to_phys(domain, iova) {
    const toy = domain as ToyDomain;
    const a = Number(iova);
    for (let level = 1; level <= 3; level++) {
      const size = 2 ** SHIFT[level];
      const pa = toy.leaves[level]!.get(Math.floor(a / size));
      if (pa !== undefined) return pa + (a % size);
    }
    return 0;
  },
  free(domain) {
    const toy = domain as ToyDomain;
    for (let l = 1; l <= 3; l++) {
      for (const { page } of toy.tables[l]!.values()) iommu_free_page(page);
    }
    iommu_free_page(toy.root);
  },
};

const toyBlocked: iommu_domain = {
  type: IOMMU_DOMAIN_BLOCKED,
  ops: { attach_dev: () => 0 },
  dirty_ops: null,
  owner: null,
  pgsize_bitmap: 0n,
  geometry: { aperture_start: 0n, aperture_end: 0n, force_aperture: false },
};

const toyOps: iommu_ops = {
  owner: "toy_iommu",
  pgsize_bitmap: (1n << 12n) | (1n << 21n) | (1n << 30n),
  capable: (_dev, cap) => cap === IOMMU_CAP_CACHE_COHERENCY,
  device_group: generic_device_group,
  // Like an x86 platform: the interrupt window, where a device's MSI writes go, is not DMA space.
  get_resv_regions(_dev, list) {
    list.push({
      start: 0xfee0_0000n,
      length: 0x10_0000n,
      prot: IOMMU_WRITE | IOMMU_MMIO,
      type: IOMMU_RESV_MSI,
    });
  },
  blocked_domain: toyBlocked,
  default_domain: toyBlocked,
  domain_alloc_user(): iommu_domain | ErrnoError {
    // The root table, charged like the others when the caller's flags say so (iommufd: they do not).
    const root = iommu_alloc_page(GFP_KERNEL);
    return root ? new ToyDomain(root) : fail(ENOMEM, "toy-alloc", "no root table");
  },
};

const toyIommu: iommu_device = { ops: toyOps, name: "toy0" };

/** Register the toy IOMMU "toy0" with `machine`. */
export function addToyIommu(machine: Machine): void {
  let n = 0;
  machine.iommus.set(toyIommu.name, {
    iommu: toyIommu,
    create(): device | ErrnoError {
      const dev: device = { name: `toy${n++}`, iommu: null, iommu_group: null };
      const rc = iommu_probe_device(dev, toyIommu);
      return rc ? rc : dev;
    },
  });
}
