/**
 * The search index a build writes is whole — its entry file parses and names the pages' language —
 * and a cached index that is not (as pagefind's own writeFiles() could leave it, killed before its
 * entry file was written) is indexed afresh instead of reused.
 */
import assert from "node:assert/strict";
import { searchIndex, wholeIndex } from "../../tools/site/search.ts";

const PAGE = `<html lang="en"><body><article data-pagefind-body><h1>A</h1>
<p>The quokka eats apples.</p></article></body></html>`;

Deno.test("search index: written whole, and a broken cached index is not reused", async () => {
  const root = await Deno.makeTempDir({ prefix: "search-index-" });
  try {
    const outDir = `${root}/_site`;
    await Deno.mkdir(outDir);
    await Deno.writeTextFile(`${outDir}/a.html`, PAGE);
    const files = new Map([["a.html", PAGE]]);
    const entry = `${outDir}/pagefind/pagefind-entry.json`;

    await searchIndex(root, outDir, files, []);
    assert.ok(await wholeIndex(`${outDir}/pagefind`), "the first index");
    const first = JSON.parse(await Deno.readTextFile(entry));
    assert.equal(first.languages.en.page_count, 1);

    // The cache holds the same files (hard links or copies); empty its entry file, as the old
    // writer could, and take the served index away.
    const [key] = [...Deno.readDirSync(`${root}/.cache/pagefind`)].map((e) => e.name);
    const cachedEntry = `${root}/.cache/pagefind/${key}/pagefind-entry.json`;
    await Deno.remove(`${outDir}/pagefind`, { recursive: true });
    await Deno.writeTextFile(cachedEntry, "");
    assert.equal(await wholeIndex(`${root}/.cache/pagefind/${key}`), false);

    await searchIndex(root, outDir, files, []);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(entry)), first, "indexed afresh");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
