/**
 * Parsing a saved chapter again in proportion to the edit, for `deno task serve`: the blocks before
 * and after the edited stretch keep their nodes from the chapter's previous tree (those after it
 * moved by the lines and characters the edit added), and only the stretch between is parsed.
 *
 * It rests on what `parseMarkdown` (tools/literate/spec.ts) already rests on to parse a chapter in
 * pieces: at a *boundary* — a line that starts at column 1 after a blank line and is not a list
 * item — every list item and block quote has ended, so the text after it parses the same on its
 * own, and the text before it too unless its last block runs on (an unclosed fence, an HTML
 * block). Here the stretch starts and ends at boundaries of both the old and the new text that are
 * also where a top-level block of the old tree starts; the stretch's own last block must not run
 * on. A text with a link or footnote definition (whose label applies to the whole document), or
 * an edit where no such boundaries are found, is parsed whole by `parseMarkdown`, as the build
 * does. tests/tools/site_reparse_test.ts compares the result with `parseMarkdown`'s, positions
 * included, over random edits of the real chapters.
 *
 * The old tree is not changed: the nodes before the stretch are shared with it (nothing changes a
 * chapter's tree: the site renders copies), the nodes after it are copies with new positions.
 *
 * @module
 */
import type { Root, RootContent } from "mdast";
import { parseMarkdown } from "../literate/spec.ts";

/** After a blank line, a line that starts at column 1 and is no list item (see parseMarkdown). */
const BOUNDARY_AHEAD = /(?![ \t\n]|[-+*](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$))/my;

/** Whether `pos` of `text` starts a line after a blank line that can start a piece. */
function boundaryAt(text: string, pos: number): boolean {
  if (pos === 0 || pos === text.length) return true;
  if (text.charCodeAt(pos - 1) !== 10) return false;
  let q = pos - 2;
  while (q >= 0 && (text[q] === " " || text[q] === "\t")) q--;
  if (q < 0 || text.charCodeAt(q) !== 10) return false;
  BOUNDARY_AHEAD.lastIndex = pos;
  return BOUNDARY_AHEAD.test(text);
}

type Node = Root | RootContent;

/** Whether a tree holds a link or footnote definition (kept per tree: trees are not changed). */
const definitionsIn = new WeakMap<Root, boolean>();
function hasDefinition(node: Node): boolean {
  if (node.type === "definition" || node.type === "footnoteDefinition") return true;
  return "children" in node && (node.children as RootContent[]).some(hasDefinition);
}
function treeHasDefinition(tree: Root): boolean {
  let known = definitionsIn.get(tree);
  if (known === undefined) definitionsIn.set(tree, known = hasDefinition(tree));
  return known;
}

/** Moves a fresh tree's positions by `lines` and `offset`, in place. */
function shift(node: Node, lines: number, offset: number): void {
  for (const point of [node.position?.start, node.position?.end]) {
    if (!point) continue;
    point.line += lines;
    if (point.offset !== undefined) point.offset += offset;
  }
  if ("children" in node) {
    for (const child of node.children as RootContent[]) shift(child, lines, offset);
  }
}

/** A copy of a node of the old tree, its positions moved by `lines` and `offset`. */
function moved<T extends Node>(node: T, lines: number, offset: number): T {
  const out = { ...node };
  if (node.position) {
    const { start, end } = node.position;
    out.position = {
      start: { ...start, line: start.line + lines, offset: start.offset! + offset },
      end: { ...end, line: end.line + lines, offset: end.offset! + offset },
    };
  }
  if ("children" in node) {
    (out as { children: RootContent[] }).children = (node.children as RootContent[]).map((c) =>
      moved(c, lines, offset)
    );
  }
  return out;
}

/** Whether a piece's last block may run on past its end: HTML, or a fence not closed in it. */
function runsOn(tree: Root, text: string): boolean {
  const last = tree.children.at(-1);
  if (last?.type === "html") return true;
  if (last?.type !== "code") return false;
  const source = text.slice(last.position!.start.offset, last.position!.end.offset).split("\n");
  const open = /^[ \t>]*(`{3,}|~{3,})/.exec(source[0]);
  if (!open) return false; // indented code ends at the boundary's line
  const [char, length] = [open[1][0], open[1].length];
  const close = /^[ \t>]*(`{3,}|~{3,})[ \t]*$/.exec(source.at(-1)!);
  return !(source.length >= 2 && close && close[1][0] === char && close[1].length >= length);
}

function newlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let k = text.indexOf("\n", from); k >= 0 && k < to; k = text.indexOf("\n", k + 1)) n++;
  return n;
}

/**
 * The tree of `text`, given the tree `before` of the text `was`: what `parseMarkdown(text)` returns,
 * parsing only the edited stretch when it can.
 */
export function reparse(was: string, before: Root, text: string): Root {
  if (was === text) return before;
  const whole = () => parseMarkdown(text);
  if (treeHasDefinition(before)) return whole();
  // The edit: text[p, text.length - s) replaced was[p, was.length - s).
  const limit = Math.min(was.length, text.length);
  let p = 0;
  while (p < limit && was.charCodeAt(p) === text.charCodeAt(p)) p++;
  let s = 0;
  while (
    s < limit - p && was.charCodeAt(was.length - 1 - s) === text.charCodeAt(text.length - 1 - s)
  ) s++;
  const delta = text.length - was.length;
  const blocks = before.children;
  const startOf = (k: number) => blocks[k].position?.start.offset;
  if (blocks.some((b) => b.position?.start.offset === undefined)) return whole();
  // The stretch starts at the last old block that starts at or before the edit on a boundary…
  let first = 0;
  for (let k = blocks.length - 1; k > 0; k--) {
    const at = startOf(k)!;
    if (at <= p && boundaryAt(was, at) && boundaryAt(text, at)) {
      first = k;
      break;
    }
  }
  const from = first === 0 ? 0 : startOf(first)!;
  // …and ends at the first old block after it that starts on a boundary (or at the end).
  let last = blocks.length;
  for (let k = first; k < blocks.length; k++) {
    const at = startOf(k)!;
    if (at >= was.length - s && at >= from && boundaryAt(was, at) && boundaryAt(text, at + delta)) {
      last = k;
      break;
    }
  }
  const wasTo = last === blocks.length ? was.length : startOf(last)!;
  const to = wasTo + delta;
  const piece = text.slice(from, to);
  const tree = parseMarkdown(piece);
  if (hasDefinition(tree) || (to < text.length && runsOn(tree, piece))) return whole();
  const linesBefore = first === 0 ? 0 : blocks[first].position!.start.line - 1;
  shift(tree, linesBefore, from);
  const lineDelta = newlines(piece, 0, piece.length) - newlines(was, from, wasTo);
  const after = blocks.slice(last).map((b) => moved(b, lineDelta, delta));
  const lastLine = text.slice(text.lastIndexOf("\n") + 1);
  const root: Root = {
    type: "root",
    children: [...blocks.slice(0, first), ...tree.children, ...after],
    position: {
      start: { line: 1, column: 1, offset: 0 },
      end: {
        line: newlines(text, 0, text.length) + 1,
        column: lastLine.length + 1,
        offset: text.length,
      },
    },
  };
  definitionsIn.set(root, false);
  return root;
}
