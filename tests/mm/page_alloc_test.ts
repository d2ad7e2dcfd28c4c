import assert from "node:assert/strict";
import {
  __free_pages,
  alloc_pages,
  get_order,
  GFP_KERNEL,
  GFP_KERNEL_ACCOUNT,
  kfree,
  kmalloc,
  kmalloc_size_roundup,
  ksize,
  kzalloc,
  Machine,
  MAX_PAGE_ORDER,
  PAGE_SIZE,
  page_to_phys,
  pfn_to_page,
  ZERO_SIZE_PTR,
} from "../../lib/internal.ts";

Deno.test("page_alloc: blocks are aligned to their order, and split from one 4 MiB block", () => {
  const m = new Machine();
  m.kernel(() => {
    const a = alloc_pages(GFP_KERNEL, 0)!;
    const b = alloc_pages(GFP_KERNEL, 3)!;
    const c = alloc_pages(GFP_KERNEL, 0)!;
    assert.equal(a.pfn, 1024, "RAM below 4 MiB is left alone");
    assert.equal(b.pfn % 8, 0);
    assert.equal(c.pfn, 1025, "the buddy of the first page");
    assert.equal(page_to_phys(b), b.pfn * PAGE_SIZE);
    assert.equal(pfn_to_page(a.pfn), a);
    assert.equal(m.pgdat.first_deferred_pfn, 2048, "only one block joined the free lists");
  });
});

Deno.test("page_alloc: freeing merges buddies back to MAX_PAGE_ORDER", () => {
  const m = new Machine();
  const free0 = m.pgdat.vm_stat.NR_FREE_PAGES;
  m.kernel(() => {
    const pages = Array.from({ length: 9 }, (_, i) => alloc_pages(GFP_KERNEL, i % 4)!);
    assert.ok(m.pgdat.vm_stat.NR_FREE_PAGES < free0);
    for (const p of pages) __free_pages(p, p.order);
  });
  assert.equal(m.pgdat.vm_stat.NR_FREE_PAGES, free0);
  assert.deepEqual(m.pgdat.free_area.map((a) => a.size), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(m.pgdat.pages.size, 0);
});

Deno.test("page_alloc: a small machine runs out; orders above MAX_PAGE_ORDER fail", () => {
  const m = new Machine({ memory: 8 << 20 });
  m.kernel(() => {
    assert.equal(alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1), null);
    const all = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER)!;
    assert.equal(alloc_pages(GFP_KERNEL, 0), null);
    __free_pages(all, MAX_PAGE_ORDER);
    assert.ok(alloc_pages(GFP_KERNEL, 0));
  });
});

Deno.test("page_alloc: freed pages read as zero and stop costing memory", () => {
  const m = new Machine();
  m.kernel(() => {
    const p = alloc_pages(GFP_KERNEL, 1)!;
    m.physmem.write32(page_to_phys(p) + PAGE_SIZE, 0xabcd);
    assert.equal(m.physmem.backedFrames, 1);
    __free_pages(p, 1);
    assert.equal(m.physmem.backedFrames, 0);
    const q = alloc_pages(GFP_KERNEL, 1)!;
    assert.equal(q.pfn, p.pfn);
    assert.equal(m.physmem.read32(page_to_phys(q) + PAGE_SIZE), 0);
  });
});

Deno.test("page_alloc: freeing twice or with the wrong order throws", () => {
  const m = new Machine();
  m.kernel(() => {
    const p = alloc_pages(GFP_KERNEL, 2)!;
    assert.throws(() => __free_pages(p, 1));
    __free_pages(p, 2);
    assert.throws(() => __free_pages(p, 2));
  });
});

Deno.test("get_order", () => {
  assert.deepEqual([1, 4096, 4097, 8192, 8193, 1 << 22].map(get_order), [0, 0, 1, 1, 2, 10]);
});

Deno.test("slab: kmalloc size classes", () => {
  const sizes = [1, 8, 9, 33, 64, 65, 96, 97, 129, 192, 193, 257, 4097, 8192, 8193, 20000];
  assert.deepEqual(
    sizes.map(kmalloc_size_roundup),
    [8, 8, 16, 64, 64, 96, 96, 128, 192, 192, 256, 512, 8192, 8192, 16384, 32768],
  );
  const m = new Machine();
  m.kernel(() => {
    assert.equal(kmalloc(0, GFP_KERNEL), ZERO_SIZE_PTR);
    kfree(ZERO_SIZE_PTR);
    kfree(null);
    const small = kmalloc(50, GFP_KERNEL_ACCOUNT)!;
    assert.equal(small.cache!.name, "kmalloc-cg-64");
    assert.equal(ksize(small), 64);
    assert.equal(kmalloc(50, GFP_KERNEL)!.cache!.name, "kmalloc-64");
    const large = kzalloc(10000, GFP_KERNEL)!;
    assert.equal(large.cache, null);
    assert.equal(ksize(large), 16384);
    assert.equal(m.pgdat.vm_stat.NR_SLAB_UNRECLAIMABLE_B, 64 + 64 + 16384);
    kfree(large);
    kfree(small);
    assert.throws(() => kfree(small), "double free is reported");
  });
});
