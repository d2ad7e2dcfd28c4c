import assert from "node:assert/strict";
import { buildSite } from "../../tools/site/build.ts";
import { sectionNumbering } from "../../tools/site/sections.ts";
import { md, tempProject, where } from "./fixture.ts";

Deno.test("site: sections are numbered as ecmarkup numbers clauses", () => {
  const next = sectionNumbering(17);
  assert.deepEqual([1, 2, 3, 3, 4, 2, 3, 5, 2].map(next), [
    "17",
    "17.1",
    "17.1.1",
    "17.1.2",
    "17.1.2.1",
    "17.2",
    "17.2.1",
    "",
    "17.3",
  ]);
});

Deno.test("site: numbered headings and sidebar, the whole book, declarations, refs.json, assets", async () => {
  const root = await tempProject({
    "site/style.css": "body {}",
    "site/client.js": "// client",
    "site/favicon.svg": "<svg/>",
    "spec/01-a.md": md(
      "# Chapter A",
      "",
      "## Files",
      "",
      "### Inside",
      "",
      "```ts {#peel file=lib/a.ts}",
      "export function peel_banana(): number {",
      "  return 1;",
      "}",
      "```",
    ),
    "spec/02-b.md": md(
      "# Chapter B with IOMMU_HWPT_SET_DIRTY_TRACKING",
      "",
      "## Uses",
      "",
      "```ts {#use file=lib/b.ts}",
      'import { peel_banana } from "./a.ts";',
      "export const n = peel_banana();",
      "```",
    ),
  });
  const result = await buildSite({ root, search: false });
  assert.deepEqual(where(result.problems), []);
  const a = await Deno.readTextFile(`${root}/_site/a.html`);
  // Headings carry their numbers; the number of a section links to it.
  assert.match(a, /<h1 id="chapter-a"><span class="secnum">1<\/span> Chapter A<\/h1>/);
  assert.match(a, /<h2 id="files"><a class="secnum" href="#files">1\.1<\/a> Files<\/h2>/);
  assert.match(a, /<h3 id="inside"><a class="secnum" href="#inside">1\.1\.1<\/a> Inside<\/h3>/);
  assert.doesNotMatch(a, /§/);
  // The sidebar: every chapter, the current one open with its numbered sections.
  const sidebar = /<details class="toc" open>.*?<\/details>/s.exec(a)![0];
  assert.match(sidebar, /<li class="current"><a href="a\.html" aria-current="page">/);
  assert.match(sidebar, /<a href="#files"><span class="number">1\.1<\/span> Files<\/a>/);
  assert.match(sidebar, /<a href="#inside"><span class="number">1\.1\.1<\/span> Inside<\/a>/);
  assert.match(sidebar, /<li><a href="b\.html"><span class="number">2<\/span> Chapter B with/);
  assert.doesNotMatch(sidebar, /href="#uses"/, "other chapters stay closed");
  // A skip link to the text, the favicon and the pages' script.
  assert.match(a, /<a class="skip-link" href="#_text">/);
  assert.match(a, /<main class="chapter" id="_text">/);
  assert.match(a, /<link rel="icon" href="favicon\.svg"/);
  assert.match(a, /<script src="client\.js" defer><\/script>/);
  // The declaration opens its pop-up (or, without script, its row of the identifier index).
  assert.match(
    a,
    /<a class="def" href="identifiers\.html#id-peel_banana" data-def="peel_banana"[^>]*>peel_banana<\/a>/,
  );
  // refs.json: who uses each name.
  const refs = JSON.parse(await Deno.readTextFile(`${root}/_site/refs.json`));
  assert.deepEqual(refs.uses.peel_banana, [["b.html#use", "use", 1]]);
  assert.deepEqual(refs.chapters, ["Chapter A", "Chapter B with IOMMU_HWPT_SET_DIRTY_TRACKING"]);
  // Static files of site/ are copied.
  assert.equal(await Deno.readTextFile(`${root}/_site/client.js`), "// client");
  assert.equal(await Deno.readTextFile(`${root}/_site/favicon.svg`), "<svg/>");
  await Deno.remove(root, { recursive: true });
});

Deno.test("site: highlighting is classes, not inline styles; the stylesheet gets their colours", async () => {
  const long = Array.from({ length: 41 }, (_, k) => `export const v${k} = ${k};`);
  const root = await tempProject({
    "site/style.css": "body {}\n",
    "spec/01-a.md": md(
      "# A",
      "",
      "```ts {file=lib/a.ts}",
      "// a comment",
      'export const s = "text" + 1;',
      "```",
      "",
      "```ts {#long file=lib/long.ts}",
      ...long,
      "```",
    ),
  });
  const result = await buildSite({ root, search: false });
  assert.deepEqual(where(result.problems), []);
  const a = await Deno.readTextFile(`${root}/_site/a.html`);
  assert.doesNotMatch(a, /style="/);
  assert.doesNotMatch(a, /<span class="line">/);
  const classes = new Set([...a.matchAll(/<span class="(t[0-9a-z]+)">/g)].map((m) => m[1]));
  assert.ok(classes.size >= 3, [...classes].join(" "));
  const css = await Deno.readTextFile(`${root}/_site/style.css`);
  assert.ok(css.startsWith("body {}\n"));
  for (const c of classes) {
    assert.match(css, new RegExp(`^\\.shiki \\.${c}\\{color:#[0-9a-f]+\\}$`, "m"));
    // Twice: light, then dark.
    assert.equal(css.split(`.shiki .${c}{`).length, 3, c);
  }
  // github-light's keyword red on `export const`, one span for both words.
  assert.match(a, /<span class="t[0-9a-z]+">export const<\/span>/);
  // Blocks over 40 lines may break across printed pages.
  assert.match(a, /<figure class="block model long" id="long">/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("site: an empty code block is a problem at its fence", async () => {
  const root = await tempProject({
    "site/style.css": "",
    "spec/01-a.md": md("# A", "", "Text.", "", "```", "```"),
  });
  const result = await buildSite({ root, search: false });
  assert.deepEqual(where(result.problems), [
    "spec/01-a.md:5:1: empty code block (a stray fence?)",
  ]);
  await Deno.remove(root, { recursive: true });
});
