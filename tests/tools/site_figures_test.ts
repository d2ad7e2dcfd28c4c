/**
 * Figure blocks on the site: numbered, captioned, given a text alternative, referred to from the
 * prose; an unknown function, a malformed block or a figure nobody refers to stops the build at
 * spec/…md:line:col.
 */
import assert from "node:assert/strict";
import { buildSite } from "../../tools/site/build.ts";
import { md, tempProject, where } from "./fixture.ts";
import { realSite } from "./real_site.ts";

const FIG_LIB = [
  "export function boxFigure() {",
  '  return { width: 40, height: 20, body: \'<rect class="fig-box" x="0" y="0" width="40" height="20"/>\', title: "A box", desc: "One box & nothing else." };',
  "}",
];

/** A one-chapter project whose model exports `boxFigure`, with `lib/` as the tangler writes it. */
async function project(chapter: string): Promise<string> {
  return await tempProject({
    "site/style.css": "",
    "spec/01-a.md": chapter,
    "lib/fig.ts": FIG_LIB.join("\n") + "\n",
    "lib/internal.ts": 'export * from "./fig.ts";\n',
  });
}

function chapter(...figure: string[]): string {
  return md(
    "# Chapter A",
    "",
    "See [](#fig-box), and [the same](#fig-box).",
    "",
    "```ts {#fig file=lib/fig.ts}",
    ...FIG_LIB,
    "```",
    "",
    ...figure,
  );
}

Deno.test("site figures: a figure block becomes a numbered SVG with caption, title and desc", async () => {
  const root = await project(chapter("```figure {#fig-box fn=boxFigure}", "A box, drawn.", "```"));
  const result = await buildSite({ root, search: false });
  assert.deepEqual(where(result.problems), []);
  const html = await Deno.readTextFile(`${root}/_site/a.html`);
  assert.match(html, /<figure class="diagram" id="fig-box"><svg [^>]*role="img"/);
  assert.match(html, /aria-labelledby="fig-box-title fig-box-desc"/);
  assert.match(html, /<title id="fig-box-title">Figure 1\.1: A box<\/title>/);
  assert.match(html, /<desc id="fig-box-desc">One box &amp; nothing else\.<\/desc>/);
  assert.match(html, /<rect class="fig-box"/);
  assert.match(
    html,
    /<figcaption><a class="label" href="#fig-box">Figure 1\.1<\/a> A box, drawn\.<\/figcaption>/,
  );
  // A link without text reads "Figure 1.1"; a link with text keeps it.
  assert.match(html, /<a href="#fig-box">Figure 1\.1<\/a>, and <a href="#fig-box">the same<\/a>/);
  // The answer is cached by the hash of lib/: a second build draws from the cache.
  const cached = [...Deno.readDirSync(`${root}/.cache/figures`)];
  assert.equal(cached.length, 1);
  await Deno.remove(root, { recursive: true });
});

Deno.test("site figures: unknown function, bad attributes and unreferenced figures are build errors", async () => {
  const root = await project(chapter(
    "```figure {#fig-box fn=noSuchFigure}",
    "Unknown.",
    "```",
    "",
    "```figure {#fig-lonely fn=boxFigure}",
    "Nobody refers to me.",
    "```",
    "",
    "```figure {fn=boxFigure}",
    "No id.",
    "```",
  ));
  const result = await buildSite({ root, search: false });
  assert.deepEqual(where(result.problems), [
    "spec/01-a.md:19:1: a figure block needs {#fig-id fn=functionName}",
    "spec/01-a.md:15:1: figure #fig-lonely is never referred to: write [](#fig-lonely)",
  ]);
  // Once the blocks are well-formed and referred to, the unknown name is reported at fn=.
  await Deno.writeTextFile(
    `${root}/spec/01-a.md`,
    chapter("```figure {#fig-box fn=noSuchFigure}", "Unknown.", "```"),
  );
  const again = await buildSite({ root, search: false });
  assert.deepEqual(where(again.problems), [
    "spec/01-a.md:11:21: figure #fig-box: the model exports no function noSuchFigure (lib/internal.ts)",
  ]);
  await Deno.remove(root, { recursive: true });
});

Deno.test("site figures: chapter 17's pages carry its figures, numbered, captioned and referred to", async () => {
  const { outDir, ...result } = await realSite();
  assert.deepEqual(where(result.problems), []);
  const html = await Deno.readTextFile(`${outDir}/vtd-page-walk.html`);
  const expected = [
    ["fig-iova-split", "17.1"],
    ["fig-entry-bits", "17.2"],
    ["fig-nested-walk", "17.3"],
    ["fig-nested-fault", "17.4"],
  ];
  for (const [id, number] of expected) {
    const at = html.indexOf(`<figure class="diagram" id="${id}">`);
    assert.ok(at >= 0, id);
    const figure = html.slice(at, html.indexOf("</figure>", at));
    assert.match(figure, /<svg [^>]*role="img"/, id);
    assert.match(figure, new RegExp(`<title id="${id}-title">Figure ${number}: [^<]+</title>`));
    assert.match(figure, new RegExp(`<desc id="${id}-desc">[^<]{40,}</desc>`));
    assert.match(
      figure,
      new RegExp(`<figcaption><a class="label" href="#${id}">Figure ${number}</a> \\S`),
    );
    assert.ok(html.includes(`<a href="#${id}">Figure ${number}</a>`), `${id} is referred to`);
  }
  assert.match(html, /<desc id="fig-nested-walk-desc">[^<]*after 24 reads/);
  const uapi = await Deno.readTextFile(`${outDir}/iommufd-uapi.html`);
  assert.match(
    uapi,
    /<title id="fig-hwpt-alloc-bytes-title">Figure 6\.1: struct iommu_hwpt_alloc, 48 bytes<\/title>/,
  );
  assert.ok(uapi.includes('<a href="#fig-hwpt-alloc-bytes">Figure 6.1</a>'));
  const hwpt = await Deno.readTextFile(`${outDir}/hw-pagetables.html`);
  assert.match(
    hwpt,
    /<title id="fig-session-title">Figure 10\.1: The objects of an iommufd session<\/title>/,
  );
  assert.match(hwpt, /<marker id="fig-session-arrow"/);
  const memcg = await Deno.readTextFile(`${outDir}/memory-cgroups.html`);
  assert.match(memcg, /<title id="fig-memcg-tree-title">Figure 4\.1: [^<]+<\/title>/);
  assert.ok(memcg.includes('<a href="#fig-memcg-tree">Figure 4.1</a>'));
});
