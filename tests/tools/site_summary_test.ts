import assert from "node:assert/strict";
import { brief, sentences } from "../../tools/site/summary.ts";

Deno.test("summary: sentences end at a full stop before a space, never inside a name", () => {
  const text =
    "A memory cgroup is a budget. Writing memory.max sets it (see iommu.c), e.g. 64M. Then?";
  assert.deepEqual(sentences(text), [
    "A memory cgroup is a budget. ",
    "Writing memory.max sets it (see iommu.c), e.g. 64M. ",
    "Then?",
  ]);
  assert.equal(sentences(text).join(""), text);
});

Deno.test("summary: the brief keeps whole sentences that fit, and at least one", () => {
  const text = "One memory.max sentence. Two sentences here. " + "x".repeat(300) + ".";
  assert.equal(brief(text, 60), "One memory.max sentence. Two sentences here.");
  assert.equal(brief("y".repeat(300) + ". Next.", 60), "y".repeat(300) + ".");
  // A short first sentence takes a longer second one along.
  const cgroup = "A budget. " + "z".repeat(80) + ". " + "w".repeat(10) + ".";
  assert.equal(brief(cgroup, 60), "A budget. " + "z".repeat(80) + ".");
});
