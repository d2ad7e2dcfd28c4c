/** The session figure is read off a running iommufd context and laid out by elkjs (chapter 10). */
import assert from "node:assert/strict";
import {
  graphFigure,
  iommufdSessionGraph,
  sessionExample,
  sessionGraphFigure,
} from "../../lib/internal.ts";

Deno.test("figures: the session graph follows the context's objects and their pointers", () => {
  const ictx = sessionExample();
  const { nodes, edges } = iommufdSessionGraph(ictx);
  const title = (id: string) => nodes.find((n) => n.id === id)!.title;
  const said = edges.map((e) => `${title(e.from)} -${e.label}-> ${title(e.to)}`).sort();
  assert.deepEqual(said, [
    "DEVICE 1 -attached-> HWPT_NESTED 4",
    "HWPT_NESTED 4 -domain-> iommu_domain 3",
    "HWPT_NESTED 4 -parent-> HWPT_PAGING 3",
    "HWPT_PAGING 3 -domain-> iommu_domain 1",
    "HWPT_PAGING 3 -ioas-> IOAS 2",
    "HWPT_PAGING 5 -domain-> iommu_domain 2",
    "HWPT_PAGING 5 -ioas-> IOAS 2",
    "IOAS 2 -iopt.domains-> iommu_domain 1",
    "IOAS 2 -iopt.domains-> iommu_domain 2",
    "iommu_domain 1 -pfns-> IOPTEs",
    "iommu_domain 2 -pfns-> IOPTEs",
    "iommu_domain 3 -parent-> iommu_domain 1",
    "iommufd_ctx -id 1-> DEVICE 1",
    "iommufd_ctx -id 2-> IOAS 2",
    "iommufd_ctx -id 3-> HWPT_PAGING 3",
    "iommufd_ctx -id 4-> HWPT_NESTED 4",
    "iommufd_ctx -id 5-> HWPT_PAGING 5",
  ]);
  // 64 KiB mapped in the mock driver's 2 KiB IO pages: 32 IOPTEs in each paging domain.
  assert.deepEqual(nodes.filter((n) => n.kind === "pages").map((n) => n.detail), [
    "32 entries",
    "32 entries",
  ]);
  assert.equal(nodes.find((n) => n.id === "domain3")!.detail, "NESTED");
});

Deno.test("figures: the laid-out graph draws every node and edge inside its box", async () => {
  const fig = await sessionGraphFigure();
  assert.equal(fig.body.match(/<rect /g)?.length, 11, "ctx, 5 objects, 3 domains, 2 IOPTE nodes");
  assert.equal(fig.body.match(/class="fig-edge"/g)?.length, 17);
  for (
    const m of fig.body.matchAll(
      /<rect [^>]*x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/g,
    )
  ) {
    const [x, y, w, h] = m.slice(1).map(Number);
    assert.ok(x >= 0 && y >= 0 && x + w <= fig.width && y + h <= fig.height, m[0]);
  }
  assert.match(fig.desc, /DEVICE 1 \(iommufd_mock0\) → attached → HWPT_NESTED 4 \(/);
  // A two-node graph: the layout puts the target below its source.
  const small = await graphFigure(
    {
      nodes: [
        { id: "a", title: "A", detail: "", kind: "object" },
        { id: "b", title: "B", detail: "", kind: "object" },
      ],
      edges: [{ from: "a", to: "b", label: "next" }],
    },
    "two",
    "m",
  );
  const ys = [...small.body.matchAll(/<rect [^>]*y="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.ok(ys[1] > ys[0]);
});
