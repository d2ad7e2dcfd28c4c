/**
 * What `deno task serve` reuses from one save to the next — the last tangle after a prose edit,
 * unchanged chapters' parses, rendered chapters, the ledger's part of each chapter, split bodies,
 * the identifier index and refs.json, laid-out pages — never shows: after each edit of a sequence
 * (prose that moves lines, a chapter title, an anchor another chapter's code names, a definition
 * another chapter uses, a first paragraph), every file the server wrote equals a fresh build's.
 */
import assert from "node:assert/strict";
import { startDevServer } from "../../tools/site/dev_server.ts";
import { buildSite } from "../../tools/site/build.ts";
import { md, tempProject } from "./fixture.ts";

const chapterA = (o: { title?: string; lede?: string; check?: boolean; name?: string } = {}) =>
  md(
    `# ${o.title ?? "A"}`,
    "",
    o.lede ?? "Apples.",
    "",
    "## Alpha {#alpha}",
    "",
    ...(o.check ? ["- {#a-check} The check.", ""] : []),
    "```ts {#one}",
    "/** NON-KERNEL: a model-only helper. */",
    `export function ${o.name ?? "Foo_bar"}(): number {`,
    "  return 1;",
    "}",
    "```",
    "",
    "```ts {file=lib/a.ts}",
    "<<one>>",
    "```",
  );

const chapterB = md(
  "# B",
  "",
  "Bananas call `Foo_bar()`; see [alpha](01-a.md#alpha).",
  "",
  "```ts {#two}",
  "// a-check",
  "export const Two_x = Foo_bar() + 1;",
  "```",
  "",
  "```ts {file=lib/b.ts}",
  "<<two>>",
  "```",
);

/** Every file under `dir` (but the search index), relative to it. */
async function filesOf(dir: string, under = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${under}`)) {
    const path = under ? `${under}/${e.name}` : e.name;
    if (e.isDirectory && path !== "pagefind") out.push(...await filesOf(dir, path));
    else if (e.isFile) out.push(path);
  }
  return out.sort();
}

Deno.test("serve: after each edit of a sequence, every file served equals a fresh build's", async () => {
  const root = await tempProject({
    "site/style.css": "",
    "spec/01-a.md": chapterA(),
    "spec/02-b.md": chapterB,
    "spec/03-c.md": md("# C", "", "Cherries."),
  });
  const server = await startDevServer({ root, port: 0, typecheck: false, log: () => {} });
  const fresh = await Deno.makeTempDir({ prefix: "fresh-site-" });
  const b = () => Deno.readTextFileSync(`${root}/_site/b.html`);
  try {
    const edits: [string, string, (before: string) => void][] = [
      ["prose that moves A's lines", chapterA({ lede: "Apples.\n\nRipe ones." }), () => {}],
      ["A's title, which B's links name", chapterA({ title: "A prime" }), (before) => {
        assert.notEqual(b(), before, "B's page names the new title");
      }],
      ["an anchor in A that B's code names", chapterA({ check: true }), (before) => {
        assert.notEqual(b(), before, "B's check-id comment links to it");
        assert.match(b(), /class="check-id" href="a\.html#a-check"/);
      }],
      ["the anchor gone again", chapterA(), (before) => assert.notEqual(b(), before)],
      ["a definition B uses, renamed", chapterA({ name: "Foo_baz" }), (before) => {
        assert.notEqual(b(), before, "B's uses of Foo_bar link nowhere now");
      }],
      ["A's first paragraph", chapterA({ name: "Foo_baz", lede: "Pears." }), () => {}],
    ];
    for (const [what, text, check] of edits) {
      const before = b();
      await Deno.writeTextFile(`${root}/spec/01-a.md`, text);
      await server.rebuild(); // after any the watcher started: it reads the saved chapter
      check(before);
      await Deno.remove(fresh, { recursive: true });
      const built = await buildSite({ root, outDir: fresh, search: false });
      assert.deepEqual(built.problems, [], what);
      const served = await filesOf(`${root}/_site`);
      assert.deepEqual(served, await filesOf(fresh), what);
      for (const path of served) {
        assert.equal(
          await Deno.readTextFile(`${root}/_site/${path}`),
          await Deno.readTextFile(`${fresh}/${path}`),
          `${what}: ${path}`,
        );
      }
    }
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(fresh, { recursive: true }).catch(() => {});
  }
});
