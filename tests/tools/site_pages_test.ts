/**
 * Long chapters on several pages and the identifier index on several pages (issue 13: no page
 * over 400 KB), with every old anchor still landing.
 */
import assert from "node:assert/strict";
import { buildSite } from "../../tools/site/build.ts";
import { identifierPage } from "../../tools/site/identifiers.ts";
import { Relocations, splitBody } from "../../tools/site/pages.ts";
import { md, tempProject, where } from "./fixture.ts";

Deno.test("pages: a body is cut at each marked h2; links to moved anchors are rewritten", () => {
  const html = '<h1 id="t">T</h1><p id="a">a <a href="#b">b</a></p>' +
    '<h2 id="two">Two</h2><p id="b">b <a href="#a">a</a></p>';
  const { parts, error } = splitBody("ch.html", html, ["two"]);
  assert.equal(error, undefined);
  assert.deepEqual(parts.map((p) => [p.href, [...p.ids]]), [
    ["ch.html", ["t", "a"]],
    ["ch-two.html", ["two", "b"]],
  ]);
  const r = new Relocations();
  r.add(parts);
  assert.deepEqual(r.movedFrom("ch.html"), { "ch-two.html": ["two", "b"] });
  assert.equal(r.movedFrom("ch-two.html"), undefined);
  // Anywhere in a text: HTML, JSON, script. Anchors that stayed, and other pages, are left.
  assert.equal(
    r.rewrite('<a href="ch.html#b"></a> ["ch.html#a","ch.html#two"] src="x-ch.html#b" ch.html'),
    '<a href="ch-two.html#b"></a> ["ch.html#a","ch-two.html#two"] src="x-ch.html#b" ch.html',
  );
  assert.match(splitBody("ch.html", html, ["nope"]).error!, /#nope, which is no level-2/);
});

Deno.test("pages: a chapter marked {#id .page} builds as two pages, cross-linked both ways", async () => {
  const root = await tempProject({
    "site/style.css": "",
    "spec/01-a.md": md(
      "# Chapter A",
      "",
      "See [the second half](#later) and [its code](#late).",
      "",
      "```ts {#early file=lib/a.ts}",
      "export function early_fn() {}",
      "<<late>>",
      "```",
      "",
      "## Later {#later .page}",
      "",
      "Back to [the start](#early).",
      "",
      "```ts {#late}",
      "export function late_fn() { early_fn(); }",
      "```",
    ),
    "spec/02-b.md": md(
      "# B",
      "",
      "Uses [late](01-a.md#late) and `late_fn()`.",
    ),
  });
  const result = await buildSite({ root, search: false });
  assert.deepEqual(where(result.problems), []);
  assert.ok(result.pages.includes("a.html") && result.pages.includes("a-later.html"));
  const read = (p: string) => Deno.readTextFileSync(`${root}/_site/${p}`);
  const a = read("a.html");
  const later = read("a-later.html");
  const b = read("b.html");
  assert.doesNotMatch(a, /id="late"/);
  assert.match(later, /<h2 id="later">/);
  assert.match(later, /id="late"/);
  // Within the chapter, across its pages.
  assert.match(a, /href="a-later\.html#later"/);
  assert.match(a, /href="a-later\.html#late"/);
  assert.match(later, /href="a\.html#early"/);
  // From another chapter, from code, and the references data.
  assert.match(b, /href="a-later\.html#late"/);
  assert.doesNotMatch(b, /href="a\.html#late"/);
  assert.doesNotMatch(read("refs.json"), /"a\.html#late"/);
  // The first page names the anchors that moved, for the script to forward old links.
  const moved = /<script type="application\/json" id="moved-anchors">(.*?)<\/script>/.exec(a);
  assert.deepEqual(JSON.parse(moved![1]), { "a-later.html": ["later", "late"] });
  // Reading order: A, A continued, B; the later page's sidebar sends A's first sections back.
  assert.match(a, /rel="next" href="a-later\.html"/);
  assert.match(later, /rel="prev" href="a\.html"/);
  assert.match(later, /rel="next" href="b\.html"/);
  assert.match(b, /rel="prev" href="a-later\.html"/);
  assert.match(later, /<p class="continued"[^>]*>1 <a href="a\.html">Chapter A<\/a> \(continued\)/);
  // The identifier index: every name on identifiers.html, its uses on its letter's page.
  const index = read("identifiers.html");
  assert.match(index, /<tr id="id-late_fn"><td><a href="a-later\.html#late">late_fn<\/a>/);
  assert.match(index, /<a href="identifiers-j-r\.html#id-late_fn">0<\/a>/);
  assert.match(read("identifiers-a-h.html"), /<tr id="id-early_fn">.*a-later\.html#late/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("pages: a name's letter page is fixed by its first letter", () => {
  assert.equal(identifierPage("IOMMU_HWPT_ALLOC"), "identifiers-i.html");
  assert.equal(identifierPage("iopt_map_pages"), "identifiers-i.html");
  assert.equal(identifierPage("__free_pages"), "identifiers-a-h.html");
  assert.equal(identifierPage("PhysMem"), "identifiers-j-r.html");
  assert.equal(identifierPage("vtdWalkSecondStage"), "identifiers-s-z.html");
});
