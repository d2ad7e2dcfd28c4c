import assert from "node:assert/strict";
import { loadSpec } from "../../tools/literate/spec.ts";
import { buildXref } from "../../tools/site/xref.ts";
import { prepareChapter } from "../../tools/site/render.ts";
import { tangle } from "../../tools/literate/tangle.ts";

const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("every check id a model error carries is an anchor of the spec (a numbered step)", async () => {
  const spec = await loadSpec(repo);
  const t = tangle(spec);
  const xref = buildXref(t);
  const anchors = new Set<string>();
  for (const c of spec.chapters) for (const a of prepareChapter(c, xref).anchors) anchors.add(a);
  const missing: string[] = [];
  let seen = 0;
  for (const block of spec.blocks) {
    if (!block.attrs) continue;
    block.lines.forEach((line, k) => {
      if (/^\s*(\/\*|\*|\/\/)/.test(line)) return; // examples inside comments
      for (const m of line.matchAll(/\bfail\(\s*E[A-Z0-9]+,\s*"([^"]+)"/g)) {
        seen++;
        if (!anchors.has(m[1])) {
          missing.push(`${block.chapter.path}:${block.fenceLine + 1 + k}: "${m[1]}"`);
        }
      }
    });
  }
  assert.ok(seen >= 10, `found ${seen} checks`);
  assert.deepEqual(missing, [], "check ids without an anchor");
});
