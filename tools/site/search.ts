/**
 * Full-text search for the site with pagefind: after the pages are written, pagefind indexes the
 * chapters' text (the `data-pagefind-body` parts) into `_site/pagefind/`, and the browser searches
 * that index without a server. On top of the prose, every name the model exports gets a record of
 * its own pointing at the block that defines it, so that searching for `iopt_map_pages` lands on
 * its definition first — what a kernel developer looking up a symbol wants. The pages' own titles
 * carry their section numbers (`17.3.1 …`), which the results show.
 *
 * @module
 */
import { close, createIndex } from "pagefind";
import type { Definition } from "./xref.ts";

/** Indexes `outDir`'s pages and the definitions into `outDir/pagefind/`; returns the counts. */
export async function writeSearchIndex(
  outDir: string,
  definitions: Definition[],
): Promise<{ pages: number; records: number }> {
  const { index, errors } = await createIndex({});
  if (!index) throw new Error(`pagefind: ${errors.join("; ")}`);
  try {
    const added = await index.addDirectory({ path: outDir });
    if (added.errors.length) throw new Error(`pagefind: ${added.errors.join("; ")}`);
    for (const d of definitions) {
      const record = await index.addCustomRecord({
        url: d.href,
        content: `${d.name} ${d.line}`,
        language: "en",
        // Only the name in the title: pagefind searches titles too, and a chapter's title there
        // made every definition of that chapter a hit for its words.
        // `definition` holds the bare name; the pages' search box weighs a match there above
        // any other (`ranking.metaWeights` in site/layout.tsx), so the definition of a name
        // comes before the pages that mention it.
        meta: { title: `${d.name} (${d.kind})`, definition: d.name },
      });
      if (record.errors.length) throw new Error(`pagefind: ${record.errors.join("; ")}`);
    }
    const written = await index.writeFiles({ outputPath: `${outDir}/pagefind` });
    if (written.errors.length) throw new Error(`pagefind: ${written.errors.join("; ")}`);
    return { pages: added.page_count, records: definitions.length };
  } finally {
    await close();
  }
}
