/** The uAPI byte diagrams are drawn from the struct descriptors' layouts (chapter 6). */
import assert from "node:assert/strict";
import {
  defineStruct,
  hwptAllocFigure,
  iommu_hwpt_alloc,
  uapiStructFigure,
} from "../../lib/internal.ts";

Deno.test("figures: struct iommu_hwpt_alloc's bytes follow its descriptor, with the v6.6 minimum", () => {
  const fig = hwptAllocFigure();
  for (const f of iommu_hwpt_alloc.fields) {
    assert.ok(fig.desc.includes(`bytes ${f.offset}–${f.offset + f.size - 1}: ${f.name} (`), f.name);
  }
  assert.match(fig.desc, /^struct iommu_hwpt_alloc is 48 bytes/);
  assert.match(fig.desc, /bytes 32–39: data_uptr \(__aligned_u64, in\)/);
  assert.match(fig.desc, /bytes 16–19: out_hwpt_id \(__u32, out\)/);
  assert.match(fig.desc, /smallest size accepted is 24 bytes/);
  assert.equal(fig.body.match(/<rect /g)?.length, 11, "one box per field, no padding");
  assert.equal(fig.height > 6 * 44, true, "six rows of eight bytes");
});

Deno.test("figures: padding the C rules insert is drawn as empty bytes", () => {
  const s = defineStruct("padded", { a: ["__u32", "in"], b: ["__aligned_u64", "out"] });
  const fig = uapiStructFigure(s);
  assert.match(
    fig.desc,
    /bytes 0–3: a .*byte 4: padding; byte 5: padding; byte 6: padding; byte 7: padding/,
  );
  assert.match(fig.desc, /bytes 8–15: b \(__aligned_u64, out\)/);
  assert.equal(fig.body.match(/class="fig-empty"/g)?.length, 4);
});
