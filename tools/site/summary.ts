/**
 * Chapter summaries for the front page: the first sentences of a chapter's first paragraph. A
 * sentence ends at `.`, `!` or `?` followed by white space or the end of the text — never inside a
 * name such as `memory.max` or `iommu.c` — and not after an abbreviation such as "e.g.".
 *
 * @module
 */

const ABBREVIATIONS = /(?:^|\s)(?:e\.g|i\.e|etc|cf|vs|approx|resp|fig|no)\.$/i;

/** Splits text into sentences; joined again, they give back the text. */
export function sentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (const m of text.matchAll(/[.!?]+["'”’)\]]*(?=\s|$)\s*/g)) {
    const end = m.index + m[0].length;
    if (ABBREVIATIONS.test(text.slice(start, m.index + m[0].trimEnd().length))) continue;
    out.push(text.slice(start, end));
    start = end;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/**
 * The whole sentences of `summary` that fit in about `max` characters: at least one, and a second
 * one up to `1.6 × max` when the first is short ("A memory cgroup is a budget.").
 */
export function brief(summary: string, max = 240): string {
  let out = "";
  for (const s of sentences(summary)) {
    const limit = out.trim().length < max / 3 ? max * 1.6 : max;
    if (out && out.length + s.length > limit) break;
    out += s;
  }
  return out.trim();
}
