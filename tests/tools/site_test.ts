import assert from "node:assert/strict";
import { loadSpec } from "../../tools/literate/spec.ts";
import { buildSite } from "../../tools/site/build.ts";
import { PAGE_BUDGET } from "../../tools/site/pages.ts";
import { md, tempProject, where } from "./fixture.ts";
import { realSite } from "./real_site.ts";

const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Every id="…" of an HTML page. */
function ids(html: string): Set<string> {
  return new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]));
}

/** Every href="…" of an HTML page. */
function hrefs(html: string): string[] {
  return [...html.matchAll(/\shref="([^"]+)"/g)].map((m) => m[1].replaceAll("&#x26;", "&"));
}

Deno.test("site: the real spec builds; every chapter has a page; every internal link resolves", async () => {
  const { outDir, ...result } = await realSite();
  assert.deepEqual(where(result.problems), []);
  const spec = await loadSpec(repo);
  const pages = new Map<string, string>();
  for (const path of result.pages.filter((p) => p.endsWith(".html"))) {
    pages.set(path, await Deno.readTextFile(`${outDir}/${path}`));
  }
  for (const chapter of spec.chapters) {
    const page = pages.get(`${chapter.slug}.html`);
    assert.ok(page, `page for ${chapter.path}`);
    assert.ok(page.includes(`<h1 id=`), `${chapter.path} has its title`);
    assert.ok(pages.get("index.html")!.includes(`href="${chapter.slug}.html"`), "listed on index");
  }
  // Each page's ids are collected once, not once per link to it (38,000 links, 42 pages).
  const idsOf = new Map([...pages].map(([path, html]) => [path, ids(html)] as const));
  let checked = 0;
  for (const [path, html] of pages) {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
    for (const href of hrefs(html)) {
      if (/^[a-z]+:/.test(href)) continue;
      const [target, anchor] = href.split("#");
      const resolved = target === "" ? path : new URL(target, `file:///${dir}`).pathname.slice(1);
      const isAsset = /\.(css|svg|json)$/.test(resolved);
      const page = isAsset ? "" : pages.get(resolved);
      assert.ok(page !== undefined, `${path}: ${href} names no page`);
      if (isAsset) assert.ok(Deno.statSync(`${outDir}/${resolved}`).isFile, `${path}: ${href}`);
      if (anchor !== undefined) {
        assert.ok(idsOf.get(resolved)!.has(anchor), `${path}: ${href} names no anchor`);
      }
      checked++;
    }
  }
  assert.ok(checked > 50, `checked ${checked} links`);
  // Issue 13: no page over 400 KB (a long chapter is split where its argument has a seam).
  const heavy = [...pages].map(([path]) => [path, Deno.statSync(`${outDir}/${path}`).size] as const)
    .filter(([, size]) => size > PAGE_BUDGET);
  assert.deepEqual(heavy, [], `pages over ${PAGE_BUDGET} bytes`);
});

Deno.test("site: model blocks are labelled and cross-linked both ways across chapters", async () => {
  const root = await tempProject({
    "site/style.css": "",
    "spec/01-a.md": md(
      "# Chapter A",
      "",
      "## Files {#files}",
      "",
      "```ts {#main file=lib/a.ts}",
      "export const a = [",
      "  <<items>>",
      "];",
      "```",
      "",
      "```ts {#items}",
      "1,",
      "```",
      "",
      "1. {#a-flags} The first check.",
      "",
      "```ts {#checked file=lib/c.ts}",
      "// a-flags",
      'export const rc = fail(EINVAL, "a-flags", "reason");',
      "```",
    ),
    "spec/02-b.md": md(
      "# Chapter B",
      "",
      "More items, see [the file](01-a.md#files) and [items](#items).",
      "",
      "```ts {#items}",
      "2,",
      "```",
      "",
      "```ts",
      "const illustration = 1;",
      "```",
    ),
  });
  const result = await buildSite({ root });
  assert.deepEqual(where(result.problems), []);
  const a = await Deno.readTextFile(`${root}/_site/a.html`);
  const b = await Deno.readTextFile(`${root}/_site/b.html`);
  // Labels and the file path.
  assert.match(a, /<figure class="block model" id="main">.*⟨main⟩ ≡.*lib\/a\.ts/s);
  // The <<items>> line became a link to the fragment's first block.
  assert.match(a, /<a class="frag-ref" href="a\.html#items"[^>]*>⟨items⟩<\/a>/);
  // First block: used in ⟨main⟩, continued in chapter B.
  assert.match(a, /id="items".*used in <a href="a\.html#main"[^>]*>⟨main⟩<\/a>/s);
  assert.match(a, /id="items".*continued in <a href="b\.html#items--2"/s);
  // Continuation: +≡, defined in chapter A.
  assert.match(b, /id="items--2".*⟨items⟩ \+≡.*defined in <a href="a\.html#items"/s);
  // Check ids in code link to their step, both in the comment and in the fail() call.
  assert.equal([...a.matchAll(/<a class="check-id" href="#a-flags"/g)].length, 2);
  // Prose links across chapters, rewritten from .md and from a bare fragment anchor.
  assert.match(b, /href="a\.html#files"/);
  assert.match(b, /href="a\.html#items"/);
  // Illustrations are marked and, like model blocks, have an edit link to their line.
  assert.match(
    b,
    /class="block illustration".*href="source\/02-b\.md\.html#L9"[^>]*>edit: spec\/02-b\.md:9</s,
  );
  // Table of contents, previous/next.
  assert.match(a, /<details class="toc".*href="#files"/s);
  assert.match(a, /rel="next" href="b\.html"/);
  assert.match(b, /rel="prev" href="a\.html"/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("site: a broken link or a duplicate anchor fails the build at its position", async () => {
  const root = await tempProject({
    "site/style.css": "",
    "spec/01-a.md": md(
      "# A",
      "",
      "See [nothing](#nowhere), [a file](../README.md) and [a chapter](02-x.md).",
      "",
      "## Twice {#dup}",
      "",
      "## Again {#dup}",
    ),
  });
  const result = await buildSite({ root });
  assert.deepEqual(where(result.problems), [
    "spec/01-a.md:7:1: anchor #dup is used twice",
    "spec/01-a.md:3:5: broken link: no anchor #nowhere in this chapter or among fragments",
    "spec/01-a.md:3:26: broken link: ../README.md is not a chapter (links go to NN-topic.md[#id] or #id)",
    "spec/01-a.md:3:53: broken link: 02-x.md is not a chapter (links go to NN-topic.md[#id] or #id)",
  ]);
  assert.equal(await Deno.stat(`${root}/_site`).catch(() => null), null, "nothing written");
  await Deno.remove(root, { recursive: true });
});

Deno.test("site: highlighted blocks are kept on disk; a warm build gives the same pages", async () => {
  const chapter = (n: number) =>
    md(
      "# A",
      "",
      "```ts {file=lib/a.ts}",
      `export const a = ${n};`,
      "```",
      "",
      "```sh",
      "ls",
      "```",
    );
  const root = await tempProject({ "site/style.css": "", "spec/01-a.md": chapter(1) });
  const cacheFiles = async () => {
    const names = [];
    for await (const e of Deno.readDir(`${root}/.cache/highlight`)) names.push(e.name);
    return names;
  };
  const cold = await buildSite({ root });
  assert.deepEqual(where(cold.problems), []);
  const coldPage = await Deno.readTextFile(`${root}/_site/a.html`);
  const [file] = await cacheFiles();
  const saved = JSON.parse(await Deno.readTextFile(`${root}/.cache/highlight/${file}`));
  assert.equal(saved.length, 2, "both blocks are saved");

  await buildSite({ root });
  assert.equal(await Deno.readTextFile(`${root}/_site/a.html`), coldPage);

  // An edited block replaces its old entry; the untouched one stays.
  await Deno.writeTextFile(`${root}/spec/01-a.md`, chapter(2));
  await buildSite({ root });
  assert.deepEqual(await cacheFiles(), [file]);
  const keys = JSON.parse(await Deno.readTextFile(`${root}/.cache/highlight/${file}`))
    .map(([key]: [string]) => key.split("\u0000")[1]);
  assert.deepEqual(keys.sort(), ["export const a = 2;", "ls"]);
  await Deno.remove(root, { recursive: true });
});

Deno.test("site: uses of exported names link to their one definition, in code and in prose", async () => {
  const root = await tempProject({
    "site/style.css": "",
    "spec/01-a.md": md(
      "# A",
      "",
      "```ts {#peel file=lib/a.ts}",
      "export function peel_banana(): number {",
      "  return 1;",
      "}",
      "export const page = 2;",
      "export const TWICE_1 = 1;",
      "```",
      "",
      "```ts {#other file=lib/b.ts}",
      "export const TWICE_1 = 2;",
      "```",
    ),
    "spec/02-b.md": md(
      "# B",
      "",
      "Call `peel_banana()` on a `page`; see [`peel_banana`](01-a.md#peel).",
      "",
      "```ts {#use file=lib/c.ts}",
      'import { page, peel_banana, TWICE_1 } from "./a.ts";',
      "// peel_banana on every page",
      "export const n = peel_banana() + page + TWICE_1;",
      "```",
    ),
  });
  const result = await buildSite({ root, search: false });
  assert.deepEqual(where(result.problems), []);
  const a = await Deno.readTextFile(`${root}/_site/a.html`);
  const b = await Deno.readTextFile(`${root}/_site/b.html`);
  const codeLinks = [...b.matchAll(/<a class="ident" href="([^"]+)"[^>]*>([^<]+)<\/a>/g)]
    .map((m) => `${m[2]}→${m[1]}`);
  // The import, the comment and the call: three uses of peel_banana; `page` is a plain word and
  // TWICE_1 has two definitions, so neither links.
  assert.deepEqual(codeLinks, Array(3).fill("peel_banana→a.html#peel"));
  // Prose: inline code names link, once; an inline code already inside a link stays as written.
  assert.equal(
    [...b.matchAll(/<a href="a\.html#peel"[^>]*><code>peel_banana(?:\(\))?<\/code><\/a>/g)].length,
    2,
  );
  assert.doesNotMatch(b, /<a [^>]*><a /);
  // The defining block does not link to itself.
  assert.doesNotMatch(a, /class="ident"[^>]*>peel_banana</);
  // The identifier index lists it, with its definition and the block that uses it.
  const ids = await Deno.readTextFile(`${root}/_site/identifiers-j-r.html`);
  assert.match(
    ids,
    /<tr id="id-peel_banana"><td><a href="a\.html#peel"><code>peel_banana<\/code><\/a><\/td><td>function<\/td><td>A<\/td><td class="used-in"><a href="b\.html#use"/,
  );
  assert.doesNotMatch(ids, /id="id-page"/, "plain words are not indexed");
});
