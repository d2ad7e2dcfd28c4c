import assert from "node:assert/strict";
import { AttrError, hasAttrs, parseAttrs } from "../../tools/literate/attrs.ts";

Deno.test("parseAttrs reads #name, .class, file= and quoted title=", () => {
  assert.deepEqual(parseAttrs('{#iommu-ops .x file=lib/iommu/iommu.ts title="Validate flags"}'), {
    id: "iommu-ops",
    file: "lib/iommu/iommu.ts",
    title: "Validate flags",
    classes: ["x"],
  });
});

Deno.test("hasAttrs: only a meta string starting with { marks a model block", () => {
  assert.deepEqual(hasAttrs("{#a}"), true);
  assert.deepEqual(hasAttrs("ignore"), false);
  assert.deepEqual(hasAttrs(null), false);
});

Deno.test("parseAttrs rejects malformed attributes, pointing at the token", () => {
  const cases: [string, number, RegExp][] = [
    ["{#Bad_Name}", 1, /not kebab-case/],
    ["{#a #b}", 4, /one #name/],
    ["{#a fille=lib/x.ts}", 4, /unknown attribute "fille"/],
    ["{#a file=src/x.ts}", 4, /under lib\//],
    ["{#a file=lib/../x.ts}", 4, /under lib\//],
    ["{.only-a-class}", 0, /needs #name or file=/],
    ["{#a} trailing", 0, /one \{…\} group/],
    ["{#a title=}", 4, /needs a value/],
    ["{#a bare}", 4, /neither #name/],
  ];
  for (const [meta, offset, message] of cases) {
    let error: unknown;
    try {
      parseAttrs(meta);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof AttrError, meta);
    assert.match(error.message, message, meta);
    assert.equal(error.offset, offset, meta);
  }
});
