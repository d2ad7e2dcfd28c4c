/**
 * Issue 14 I: what a failed IOMMU_IOAS_MAP may leave behind on VT-d (Linux v6.12).
 *
 * drivers/iommu/iommufd/pages.c iopt_area_fill_domains() maps every batch into every domain
 * before pfn_reader_update_pinned() counts the pins against RLIMIT_MEMLOCK; when that count fails
 * it unmaps, and drivers/iommu/intel/iommu.c dma_pte_clear_level() frees only the tables an unmap
 * covers whole. So the failed map leaves the second-stage table pages it allocated: NR_IOMMU_PAGES
 * and the cgroup's sec_pagetables stay raised. Nothing else stays: no IOVA, no pin, no locked_vm.
 * Closing the iommufd returns it all.
 */
import assert from "node:assert/strict";
import {
  ENOMEM,
  ErrnoError,
  Machine,
  PAGE_SIZE,
  RLIMIT_MEMLOCK,
  to_pci_dev,
} from "../../lib/internal.ts";

const keyed = (text: string): Record<string, number> =>
  Object.fromEntries(text.trim().split("\n").map((l) => l.split(" ")).map(([k, v]) => [k, +v]));

Deno.test("drivers/iommu/iommufd/pages.c iopt_area_fill_domains() + intel/iommu.c dma_pte_clear_level(): an IOAS_MAP that fails on RLIMIT_MEMLOCK leaves its second-stage table pages and nothing else; close returns them (v6.12)", () => {
  const m = new Machine({ memory: 1 * 2 ** 30 });
  m.addIommu({ kind: "vtd" });
  const cg = m.cgroups.create("/vm1");
  // 16 pages of RLIMIT_MEMLOCK, a 64-page map: the count fails after the domain was filled.
  const vmm = m.spawn({ cgroup: cg, comm: "vmm", rlimitMemlock: 16n * 4096n });
  const dev = to_pci_dev(m.addDevice({ iommu: "dmar0" }));
  const ram = vmm.mmap(64n * 4096n);
  vmm.write(ram, new Uint8Array(64 * 4096).fill(1));
  const snapshot = () => ({
    iommu_pages: m.pgdat.vm_stat.NR_IOMMU_PAGES,
    sec_pagetables: keyed(cg.read("memory.stat")).sec_pagetables,
    current: Number(cg.read("memory.current")),
    locked_vm: vmm.task.cred.user.locked_vm,
  });
  const start = snapshot();
  const fd = vmm.openIommufd();
  const ioas = fd.ioasAlloc();
  const devId = fd.bind(dev);
  fd.attach(devId, ioas); // an automatic paging domain in the IOAS
  const before = snapshot();
  assert.ok(before.iommu_pages > start.iommu_pages, "the domain's top-level table");
  assert.throws(
    () => fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 64n * 4096n, iova: 1n << 30n }),
    (e) => e instanceof ErrnoError && e.errno === ENOMEM,
  );
  const after = snapshot();
  // Left behind: the tables on the path to IOVA 1 GiB below the top level (PDPT slot's PD, its PT).
  const tables = after.iommu_pages - before.iommu_pages;
  // 4-level, top level allocated with the domain: a PDPT, a PD and a PT below it.
  assert.equal(tables, 3, "second-stage table pages stay (dma_pte_clear_level frees whole tables)");
  assert.equal(after.sec_pagetables - before.sec_pagetables, tables * PAGE_SIZE);
  assert.equal(after.current - before.current, tables * PAGE_SIZE, "and nothing else is charged");
  assert.equal(after.locked_vm, before.locked_vm, "no pin is counted");
  // No IOVA stays: the same range maps once the limit allows, reusing the tables.
  vmm.task.signal.rlim[RLIMIT_MEMLOCK] = { rlim_cur: 1n << 30n, rlim_max: 1n << 30n };
  fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 64n * 4096n, iova: 1n << 30n });
  assert.equal(snapshot().iommu_pages, after.iommu_pages, "the tables left behind are reused");
  fd.ioasUnmap(ioas, 1n << 30n, 64n * 4096n);
  fd.close();
  assert.deepEqual(snapshot(), start, "close returns every page and charge");
});
