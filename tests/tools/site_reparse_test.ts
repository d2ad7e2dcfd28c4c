/**
 * `deno task serve` parses a saved chapter again only around the edit (tools/site/reparse.ts): the
 * tree, positions included, is `parseMarkdown`'s for the new text, over random edits of the real
 * chapters — prose, blank lines, headings, list items, fences opened and closed, HTML, a link
 * definition — one after another, each from the tree the one before made.
 */
import assert from "node:assert/strict";
import { parseMarkdown } from "../../tools/literate/spec.ts";
import { reparse } from "../../tools/site/reparse.ts";
import { rng } from "../rng.ts";

const repo = new URL("../../", import.meta.url).pathname;

/**
 * Trees compared as JSON (positions included): equal strings pass at once; otherwise the parsed
 * JSON is compared, so the failure shows where the trees differ.
 */
function assertSameTree(actual: unknown, expected: unknown, message?: string): void {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) assert.deepEqual(JSON.parse(a), JSON.parse(e), message);
}

const INSERTS = [
  " word",
  "\n\nA new paragraph.\n\n",
  "\n\n## A new heading\n\n",
  "\n\n- an item\n- another\n\n",
  "\n\n1. first\n\n",
  "\n\n```ts\nconst open = 1;\n",
  "\n```\n",
  "\n\n```text\nclosed\n```\n\n",
  "\n\n<div>\n\nhtml\n",
  "\n\n> quoted\n",
  "\n\n[def]: https://example.com\n\n",
  "\n",
  "\n\n",
  "    indented\n",
  "| a | b |\n| - | - |\n",
];

/** One random edit: an insertion, a deletion or a replacement at a random place. */
function edit(text: string, r: (n: number) => number): string {
  const at = r(text.length + 1);
  const kind = r(3);
  const ins = INSERTS[r(INSERTS.length)];
  if (kind === 0) return text.slice(0, at) + ins + text.slice(at);
  const end = Math.min(text.length, at + 1 + r(kind === 1 ? 200 : 20));
  return text.slice(0, at) + (kind === 1 ? "" : ins) + text.slice(end);
}

Deno.test("reparse: the tree of an edited chapter is parseMarkdown's, over random edits of the real chapters", () => {
  const names = [...Deno.readDirSync(`${repo}spec`)].map((e) => e.name).filter((n) =>
    n.endsWith(".md")
  ).sort();
  const r = rng(20261202);
  let checked = 0;
  for (const name of names.filter((_, k) => k % 4 === 0)) {
    let text = Deno.readTextFileSync(`${repo}spec/${name}`);
    let tree = parseMarkdown(text);
    for (let k = 0; k < 6; k++) {
      const next = edit(text, r);
      const fast = reparse(text, tree, next);
      assertSameTree(fast, parseMarkdown(next), `${name}, edit ${k}`);
      [text, tree] = [next, fast];
      checked++;
    }
  }
  assert.ok(checked >= 30);
});

Deno.test("reparse: blocks before the edit are the old tree's, blocks after it moved copies", () => {
  const was = "# T\n\nOne.\n\nTwo.\n\nThree.\n";
  const before = parseMarkdown(was);
  const text = was.replace("Two.", "Two and\na half.");
  const after = reparse(was, before, text);
  assertSameTree(after, parseMarkdown(text));
  assert.equal(after.children[0], before.children[0], "the heading is reused");
  assert.equal(after.children[1], before.children[1], "so is the paragraph before the edit");
  assert.notEqual(after.children[3], before.children[3], "the one after it is a copy");
  assert.equal(before.children[3].position!.start.line, 7, "the old tree is unchanged");
  assert.equal(after.children[3].position!.start.line, 8);
});
