/** The memcg figure reads the hierarchy's own files after a running scenario (chapter 4). */
import assert from "node:assert/strict";
import { memcgExample, memcgTreeFigure, memcgTreeGraph } from "../../lib/internal.ts";

Deno.test("figures: the memcg tree shows each cgroup's charges, a parent's holding its children's", async () => {
  const { nodes, edges } = memcgTreeGraph(memcgExample());
  const byTitle = new Map(nodes.map((n) => [n.title.split(":")[0], n] as const));
  assert.deepEqual([...byTitle.keys()], ["/", "/vms", "/vms/vm1", "/vms/vm2"]);
  // vm1 touched 256 KiB and had 4 IOMMU page-table pages; vm2 64 KiB and 2.
  assert.match(
    byTitle.get("/vms/vm1")!.detail,
    /^anon 256 KiB, slab [\d.]+ KiB, sec_pagetables 16 KiB$/,
  );
  assert.match(
    byTitle.get("/vms/vm2")!.detail,
    /^anon 64 KiB, slab [\d.]+ KiB, sec_pagetables 8 KiB$/,
  );
  assert.match(
    byTitle.get("/vms")!.detail,
    /^anon 320 KiB, slab [\d.]+ KiB, sec_pagetables 24 KiB$/,
  );
  const current = (t: string) =>
    Number(/memory\.current (\d+) KiB/.exec(byTitle.get(t)!.title)![1]);
  assert.equal(current("/vms"), current("/vms/vm1") + current("/vms/vm2"));
  assert.deepEqual(edges.map((e) => `${e.from}->${e.to}`), ["cg1->cg2", "cg1->cg3", "cg0->cg1"]);
  const fig = await memcgTreeFigure();
  assert.equal(fig.body.match(/<rect /g)?.length, 4);
  assert.match(fig.desc, /\/vms: memory\.current \d+ KiB \(anon 320 KiB/);
});
