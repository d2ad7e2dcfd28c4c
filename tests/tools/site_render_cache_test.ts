/**
 * The render cache (tools/site/render_cache.ts): a build re-renders only the chapters whose text,
 * or whose referenced definitions and anchors, changed — and its pages are the pages a build from
 * nothing makes.
 */
import assert from "node:assert/strict";
import { buildSite } from "../../tools/site/build.ts";
import { RenderCache } from "../../tools/site/render_cache.ts";
import { md, tempProject, where } from "./fixture.ts";

const A = md(
  "# A",
  "",
  "Apples.",
  "",
  "```ts {#peel file=lib/a.ts}",
  "export function peel_banana(): number {",
  "  return 1;",
  "}",
  "```",
);
const B = md(
  "# B",
  "",
  "Bananas: `peel_banana()`.",
  "",
  "```ts {#use file=lib/b.ts}",
  "export const n = peel_banana();",
  "```",
);
const C = md("# C", "", "Cherries, which name nothing.");

async function pages(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const visit = async (d: string) => {
    for await (const e of Deno.readDir(`${dir}/${d}`)) {
      const p = d ? `${d}/${e.name}` : e.name;
      if (e.isDirectory) await visit(p);
      else out.set(p, await Deno.readTextFile(`${dir}/${p}`));
    }
  };
  await visit("");
  return out;
}

Deno.test("render cache: a prose edit re-renders its chapter; a moved definition its users too", async () => {
  const root = await tempProject({
    "site/style.css": "",
    "spec/01-a.md": A,
    "spec/02-b.md": B,
    "spec/03-c.md": C,
  });
  const cache = new RenderCache();
  const written = new Map<string, string>();
  const build = async () => {
    const r = await buildSite({ root, search: false, renderCache: cache, written });
    assert.deepEqual(where(r.problems), []);
    return r.rendered;
  };
  /** The same spec built from nothing, elsewhere: the pages must be the same. */
  const fresh = async () => {
    const outDir = await Deno.makeTempDir({ prefix: "site-fresh-" });
    const r = await buildSite({ root, outDir, search: false, renderCache: new RenderCache() });
    assert.deepEqual(where(r.problems), []);
    assert.deepEqual(await pages(`${root}/_site`), await pages(outDir));
    await Deno.remove(outDir, { recursive: true });
  };
  assert.equal(await build(), 3);
  assert.equal(await build(), 0, "nothing changed: nothing rendered");
  await fresh();

  await Deno.writeTextFile(`${root}/spec/02-b.md`, B.replace("Bananas:", "Ripe bananas:"));
  assert.equal(await build(), 1, "a prose edit renders its own chapter");
  assert.match(await Deno.readTextFile(`${root}/_site/b.html`), /Ripe bananas/);
  await fresh();

  // The definition's block gets another name: B's links to it change, C names nothing of A's.
  await Deno.writeTextFile(`${root}/spec/01-a.md`, A.replace("{#peel ", "{#peeler "));
  assert.equal(await build(), 2, "A and the chapter that uses its definition");
  const b = await Deno.readTextFile(`${root}/_site/b.html`);
  assert.match(b, /href="a\.html#peeler"/);
  assert.doesNotMatch(b, /href="a\.html#peel"/);
  await fresh();
  await Deno.remove(root, { recursive: true });
});

Deno.test("render cache: a warm build reads rendered chapters from .cache/site", async () => {
  const root = await tempProject({ "site/style.css": "", "spec/01-a.md": A, "spec/02-b.md": B });
  const first = await buildSite({ root, search: false });
  assert.equal(first.rendered, 2);
  // As `serve` does: one cache object over the disk, its second build served from memory — which
  // must not make the disk forget the entries.
  const serving = new RenderCache(`${root}/.cache/site`);
  assert.equal((await buildSite({ root, search: false, renderCache: serving })).rendered, 0);
  assert.equal((await buildSite({ root, search: false, renderCache: serving })).rendered, 0);
  const before = await pages(`${root}/_site`);
  // A new process has only the disk: a new cache object over the same directory.
  const warm = await buildSite({
    root,
    search: false,
    renderCache: new RenderCache(`${root}/.cache/site`),
  });
  assert.equal(warm.rendered, 0);
  assert.deepEqual(await pages(`${root}/_site`), before, "the same pages, highlighting included");
  await Deno.remove(root, { recursive: true });
});
