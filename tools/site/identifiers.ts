/**
 * The identifier index on several pages: `identifiers.html` lists every name compactly (kind,
 * chapter, number of uses), so that every `identifiers.html#id-<name>` link keeps landing on its
 * name's row; the blocks using each name are listed on a page per range of first letters. The
 * ranges are fixed (a name's page never moves) and chosen to balance the pages: names starting
 * with `i` — `iommu_…`, `IOMMU_…`, `iopt_…` — are as many as all of J–R.
 *
 * @module
 */
import type { IdentifierEntry, IdentifierRange } from "../../site/layout.tsx";

/** The detail pages' first and last letters. */
const RANGES: [string, string][] = [["a", "h"], ["i", "i"], ["j", "r"], ["s", "z"]];

/** The detail pages, in order. */
export const IDENTIFIER_RANGES: IdentifierRange[] = RANGES.map(([a, z]) => ({
  label: a === z ? a.toUpperCase() : `${a.toUpperCase()}–${z.toUpperCase()}`,
  href: a === z ? `identifiers-${a}.html` : `identifiers-${a}-${z}.html`,
}));

/** The detail page of a name: by its first letter, leading `_` and `$` skipped. */
export function identifierPage(name: string): string {
  const letter = /[a-z]/i.exec(name)?.[0].toLowerCase() ?? "a";
  const k = RANGES.findIndex(([a, z]) => letter >= a && letter <= z);
  return IDENTIFIER_RANGES[Math.max(k, 0)].href;
}

/** The entries of each detail page. */
export function identifierPages(
  entries: IdentifierEntry[],
): { range: IdentifierRange; entries: IdentifierEntry[] }[] {
  return IDENTIFIER_RANGES.map((range) => ({
    range,
    entries: entries.filter((e) => e.details === range.href),
  }));
}
