/**
 * The data of the references pop-up: for each linked name, the model blocks that use it, written
 * to `refs.json` and fetched by the page's script only when a reader opens a pop-up.
 *
 * @module
 */

/** `refs.json`: the chapter titles once, then name → `[href, label, chapter index]` per use. */
export interface References {
  chapters: string[];
  uses: Record<string, [string, string, number][]>;
}

/**
 * Builds the file's content from the uses collected while rendering (name → page#anchor →
 * chapter title); a use's label is its block anchor.
 */
export function referencesOf(
  uses: Map<string, Map<string, string>>,
  chapters: string[],
): References {
  const out: References = { chapters, uses: {} };
  for (const [name, blocks] of [...uses].sort(([a], [b]) => a.localeCompare(b))) {
    out.uses[name] = [...blocks].map(([href, chapter]) => [
      href,
      href.slice(href.indexOf("#") + 1),
      chapters.indexOf(chapter),
    ]);
  }
  return out;
}
