import assert from "node:assert/strict";
import {
  GFP_KERNEL,
  GFP_KERNEL_ACCOUNT,
  iommu_alloc_page,
  iommu_alloc_pages,
  iommu_free_page,
  iommu_free_pages,
  iommu_put_pages_list,
  Machine,
  PAGE_SIZE,
} from "../../lib/internal.ts";

Deno.test("iommu-pages: sec_pagetables only when charged, NR_IOMMU_PAGES always", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vmm");
  const vmm = m.spawn({ cgroup: cg });
  const stat = () =>
    Object.fromEntries(cg.read("memory.stat").trim().split("\n").map((l) => l.split(" ")));
  const [charged, uncharged, big] = vmm.task.syscall(() => [
    iommu_alloc_page(GFP_KERNEL_ACCOUNT)!,
    iommu_alloc_page(GFP_KERNEL)!,
    iommu_alloc_pages(GFP_KERNEL_ACCOUNT, 2)!,
  ]);
  assert.equal(m.pgdat.vm_stat.NR_IOMMU_PAGES, 6);
  assert.equal(m.pgdat.vm_stat.NR_SECONDARY_PAGETABLE, 6, "SecPageTables counts all");
  assert.equal(stat().sec_pagetables, `${5 * PAGE_SIZE}`, "only the charged pages");
  assert.equal(stat().kernel, `${5 * PAGE_SIZE}`);
  assert.equal(cg.read("memory.current"), `${5 * PAGE_SIZE}\n`);
  m.kernel(() => {
    iommu_free_page(uncharged);
    iommu_free_pages(big, 2);
    iommu_put_pages_list([charged]);
    iommu_free_page(null);
  });
  assert.equal(m.pgdat.vm_stat.NR_IOMMU_PAGES, 0);
  assert.equal(m.pgdat.vm_stat.NR_SECONDARY_PAGETABLE, 0);
  assert.equal(stat().sec_pagetables, "0");
  assert.equal(cg.read("memory.current"), "0\n");
});

Deno.test("iommu-pages: pages come zeroed", () => {
  const m = new Machine();
  m.kernel(() => {
    const p = iommu_alloc_page(GFP_KERNEL)!;
    m.physmem.write64(p.pfn * PAGE_SIZE + 8, 0x67n);
    iommu_free_page(p);
    const q = iommu_alloc_page(GFP_KERNEL)!;
    assert.equal(m.physmem.read64(q.pfn * PAGE_SIZE + 8), 0n);
  });
});
