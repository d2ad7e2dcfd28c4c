/**
 * Section numbers, as ecmarkup numbers clauses: `17` on chapter 17's title, then `17.1`, `17.1.1`
 * and `17.1.1.1` for headings of levels 2 to 4. The number leads the heading and links to it.
 *
 * @module
 */
import type { RootContent } from "mdast";

/**
 * Numbers headings as ecmarkup numbers clauses: the chapter's number on its title, then `17.1`,
 * `17.1.1`, `17.1.1.1` for levels 2 to 4 (deeper headings carry no number).
 */
export function sectionNumbering(chapter: number): (depth: number) => string {
  const counts = [0, 0, 0];
  return (depth) => {
    if (depth <= 1) return String(chapter);
    if (depth > 4) return "";
    counts[depth - 2]++;
    counts.fill(0, depth - 1);
    return [chapter, ...counts.slice(0, depth - 1)].join(".");
  };
}

/**
 * The number at the start of a heading: a link to the heading itself (the section's permalink,
 * in place of a pilcrow), or plain text on the chapter's title.
 */
export function sectionNumber(number: string, id?: string): RootContent {
  const properties = id ? { className: ["secnum"], href: `#${id}` } : { className: ["secnum"] };
  return {
    type: "emphasis",
    children: [{ type: "text", value: number }],
    data: { hName: id ? "a" : "span", hProperties: properties },
  };
}
