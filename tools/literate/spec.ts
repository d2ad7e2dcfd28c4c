/**
 * The one parse of the spec: every chapter `spec/NN-topic.md` becomes an mdast tree plus the list
 * of its code blocks. The tangler and the site both start from here.
 *
 * @module
 */
import type { Code, Heading, Root, RootContent } from "mdast";
import { fromMarkdown } from "mdast-util-from-markdown";
import { gfmFromMarkdown } from "mdast-util-gfm";
import { gfm } from "micromark-extension-gfm";
import { EditMap } from "micromark-util-edit-map";
import { AttrError, type BlockAttrs, hasAttrs, parseAttrs } from "./attrs.ts";
import { HashStore, sha256 } from "./hash_store.ts";

/** A position-tagged complaint about the spec: `spec/file.md:line:col: message`. */
export interface Problem {
  path: string;
  line: number;
  column: number;
  message: string;
  /**
   * The chapter could not be read as written (an unclosed fence, bytes that are not UTF-8):
   * checks that need the whole spec would only report consequences of it, so they are skipped.
   */
  fatal?: boolean;
}

/** Formats a problem the way compilers do, so editors can jump to it. */
export function formatProblem(p: Problem): string {
  return `${p.path}:${p.line}:${p.column}: ${p.message}`;
}

/** A fenced code block of a chapter. It is part of the model when it has attributes. */
export interface CodeBlock {
  chapter: Chapter;
  /** Reading-order index over the whole spec. */
  index: number;
  lang: string;
  /** Present on model blocks (`{#name file=…}`); absent on illustrations. */
  attrs?: BlockAttrs;
  /** 1-based line and column of the opening fence. */
  fenceLine: number;
  fenceColumn: number;
  /** Lines of code; `lines[k]` sits at Markdown line `fenceLine + 1 + k`. */
  lines: string[];
  node: Code;
}

/** One chapter of the spec. */
export interface Chapter {
  /** Path relative to the repository root, e.g. `spec/01-domain-alloc-user.md`. */
  path: string;
  /** File name without extension, e.g. `01-domain-alloc-user`. */
  name: string;
  /** Name without its number, e.g. `domain-alloc-user`; the page is `<slug>.html`. */
  slug: string;
  /** The text of the first level-1 heading. */
  title: string;
  text: string;
  tree: Root;
  blocks: CodeBlock[];
}

/** The parsed spec in reading order, with the problems found while parsing. */
export interface Spec {
  chapters: Chapter[];
  blocks: CodeBlock[];
  problems: Problem[];
}

const CHAPTER_NAME = /^(\d\d)-([a-z0-9]+(?:-[a-z0-9]+)*)$/;

/** Plain text of an mdast node (inline code keeps its text). */
export function textOf(node: RootContent | Root): string {
  if ("value" in node && typeof node.value === "string") return node.value;
  if ("children" in node) return node.children.map((c) => textOf(c as RootContent)).join("");
  return "";
}

/**
 * micromark 4.0.3 applies an edit to the document's event list each time a list item or block
 * quote closes, and `EditMap.consume` (micromark-util-edit-map 1.0.0) copies the whole list to
 * do it — also the part before the first edit, which it then puts back unchanged. A chapter with
 * n lists thus costs O(n²): 10 MB took 33 s and 935 MB. This `consume` makes the same list but
 * leaves that prefix in place, so each edit costs what follows it (lists close near the end).
 */
EditMap.prototype.consume = function (events) {
  this.map.sort((a, b) => a[0] - b[0]);
  const tails = [];
  for (let k = this.map.length - 1; k >= 0; k--) {
    const [at, remove, add] = this.map[k];
    tails.push(events.slice(at + remove), add);
    events.length = at;
  }
  for (let k = tails.length - 1; k >= 0; k--) for (const e of tails[k]) events.push(e);
  this.map.length = 0;
  this.index.clear();
  return undefined;
};

function parseWhole(text: string): Root {
  return fromMarkdown(text, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
}

/**
 * Parses Markdown with GitHub-flavoured extensions (tables, strikethrough, autolinks).
 *
 * micromark holds about 100 bytes of events per character of its input until the tree is built,
 * so a chapter is parsed in pieces of about `piece` characters whose trees are joined: memory goes
 * with the tree, not with the events (11 MB: 1.5 GB before, 0.5 GB now). A piece ends before a line
 * that starts at column 1 after a blank line and is not a list item: every list item and block
 * quote has ended there, and only the piece's last block can run on past it — an unclosed fence
 * or an HTML block. Then the piece is cut before the last of its blocks that starts such a line
 * (the blocks before it are what a piece ending there gives), and that block starts the next
 * piece; only when it is the piece's first does the piece grow and get parsed again (a piece that
 * opens with a fence reaches at least to the first line that can close it). A link or footnote
 * definition applies to the whole document, so a text that has one is parsed whole. The tree is the
 * same as a whole parse's (tests/tools/toolchain_errors_test.ts compares them on the real spec).
 */
export function parseMarkdown(text: string, piece = 16 * 1024): Root {
  if (text.length <= piece) return parseWhole(text);
  const root: Root = { type: "root", children: [] };
  const boundary = /\n[ \t]*\n(?![ \t\n]|[-+*](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$))/gm;
  const nextBoundary = (from: number) => {
    boundary.lastIndex = from;
    const m = boundary.exec(text);
    return m ? m.index + m[0].length : text.length;
  };
  const sticky = new RegExp(boundary.source, "y");
  /** Whether a boundary ends at `k`: `k` starts a line after a blank line, as `nextBoundary` finds. */
  const boundaryAt = (k: number) => {
    if (text.charCodeAt(k - 1) !== 10) return false;
    sticky.lastIndex = text.lastIndexOf("\n", k - 2);
    const m = sticky.exec(text);
    return m !== null && m.index + m[0].length === k;
  };
  let from = 0;
  let lines = 0; // line breaks before `from`
  while (from < text.length) {
    let size = piece;
    // A fence that opens the piece is taken whole, up to the first line that can close it.
    let to = nextBoundary(Math.max(from + size, fenceCloser(text, from)));
    let tree = parseWhole(text.slice(from, to));
    while (to < text.length && runsOn(tree, text.slice(from, to))) {
      // The piece ends before the last of its blocks that starts at a boundary, which is then the
      // next piece's first: the blocks before it are the same as if the piece had ended there.
      const cut = tree.children.findLastIndex((b, k) =>
        k > 0 && boundaryAt(from + b.position!.start.offset!)
      );
      if (cut > 0) {
        to = from + tree.children[cut].position!.start.offset!;
        tree.children.length = cut;
        break;
      }
      // Else the run-on block is the piece's first: the piece grows.
      size *= 2;
      to = nextBoundary(from + size);
      tree = parseWhole(text.slice(from, to));
    }
    if (!shift(tree, lines, from)) return parseWhole(text);
    root.children.push(...tree.children);
    for (let k = from; k < to; k++) if (text.charCodeAt(k) === 10) lines++;
    from = to;
  }
  const lastLine = text.slice(text.lastIndexOf("\n") + 1);
  root.position = {
    start: { line: 1, column: 1, offset: 0 },
    end: { line: lines + 1, column: lastLine.length + 1, offset: text.length },
  };
  return root;
}

/**
 * Where the first line that can close a fence opening at `open` ends, or -1 (also when no fence
 * opens there): up to three spaces, then at least as many of the fence's characters, then only
 * spaces or tabs (CommonMark 0.31 §4.5; `open` starts a line outside any container).
 */
function fenceCloser(text: string, open: number): number {
  const fence = FENCE.exec(text.slice(open, open + 64));
  if (!fence) return -1;
  const closer = new RegExp(`^ {0,3}${fence[1][0]}{${fence[1].length},}[ \\t]*$`, "gm");
  closer.lastIndex = text.indexOf("\n", open) + 1;
  const m = closer.lastIndex > 0 ? closer.exec(text) : null;
  return m ? m.index + m[0].length : -1;
}

/** Whether the last block of a piece may continue past its end (an unclosed fence, HTML). */
function runsOn(tree: Root, text: string): boolean {
  const last = tree.children.at(-1);
  return last?.type === "html" || (last?.type === "code" && unclosedFence(last, text) !== null);
}

/** Moves a piece's positions to where it sits; false when it holds a definition. */
function shift(node: Root | RootContent, lines: number, offset: number): boolean {
  if (node.type === "definition" || node.type === "footnoteDefinition") return false;
  for (const point of [node.position?.start, node.position?.end]) {
    if (!point) continue;
    point.line += lines;
    if (point.offset !== undefined) point.offset += offset;
  }
  if ("children" in node) {
    for (const child of node.children) if (!shift(child, lines, offset)) return false;
  }
  return true;
}

/**
 * Parses chapters given as `{path, text}` (in any order; they are sorted by file name, which is
 * reading order because chapters are numbered).
 */
export function parseSpec(files: { path: string; text: string; tree?: Root }[]): Spec {
  const problems: Problem[] = [];
  const chapters: Chapter[] = [];
  const blocks: CodeBlock[] = [];
  const sorted = [...files].sort((a, b) => a.path.localeCompare(b.path));
  for (const { path, text: raw, tree: parsed } of sorted) {
    // A given tree was parsed from the text as given; `loadSpec` normalises before parsing.
    const text = parsed ? raw : normaliseNewlines(raw);
    const name = path.replace(/^.*\//, "").replace(/\.md$/, "");
    const m = CHAPTER_NAME.exec(name);
    if (!m) {
      problems.push({ path, line: 1, column: 1, message: "a chapter is named NN-topic.md" });
      continue;
    }
    const tree = parsed ?? parseMarkdown(text);
    const h1 = tree.children.find((n): n is Heading => n.type === "heading" && n.depth === 1);
    if (!h1) {
      problems.push({ path, line: 1, column: 1, message: "a chapter starts with a # title" });
    }
    const chapter: Chapter = {
      path,
      name,
      slug: m[2],
      // The title as a reader sees it: without the heading's own `{#id}`.
      title: h1 ? textOf(h1).replace(/\s*\{#[\w-]+\}\s*$/, "").trim() : name,
      text,
      tree,
      blocks: [],
    };
    collectBlocks(chapter, text.split("\n"), blocks, problems);
    chapters.push(chapter);
  }
  return { chapters, blocks, problems };
}

function collectBlocks(
  chapter: Chapter,
  sourceLines: string[],
  blocks: CodeBlock[],
  problems: Problem[],
): void {
  const visit = (node: Root | RootContent): void => {
    if (node.type === "code") {
      const start = node.position!.start;
      const unclosed = unclosedFence(node, chapter.text);
      if (unclosed) {
        // A fence without a language is most often a closing fence that opened a block because
        // the block before it was left open and took this block's opening fence as its end.
        const before = chapter.blocks.at(-1);
        const hint = !node.lang && before
          ? `; if this fence was meant to close a block, the block at line ${before.fenceLine} ` +
            `is the one left open: it ends only at line ${before.node.position!.end.line}`
          : "";
        problems.push({
          path: chapter.path,
          line: start.line,
          column: start.column,
          message: `unclosed code fence: ${unclosed}${hint}`,
          fatal: true,
        });
      }
      const block: CodeBlock = {
        chapter,
        index: blocks.length,
        lang: node.lang ?? "",
        fenceLine: start.line,
        fenceColumn: start.column,
        lines: node.value === "" ? [] : node.value.split("\n"),
        node,
      };
      // A `figure` block's attributes are the site's (tools/site/figures.ts), not the model's.
      if (hasAttrs(node.meta) && node.lang !== "figure") {
        try {
          block.attrs = parseAttrs(node.meta);
        } catch (e) {
          if (!(e instanceof AttrError)) throw e;
          const fence = sourceLines[start.line - 1] ?? "";
          const metaAt = fence.indexOf(node.meta, start.column - 1);
          problems.push({
            path: chapter.path,
            line: start.line,
            column: (metaAt < 0 ? start.column - 1 : metaAt) + e.offset + 1,
            message: `malformed attribute: ${e.message}`,
          });
        }
      }
      chapter.blocks.push(block);
      blocks.push(block);
      return;
    }
    if ("children" in node) { for (const child of node.children) visit(child); }
  };
  visit(chapter.tree);
}

/** CRLF and lone CR line endings become LF, so `lib/` is LF-only; line numbers do not change. */
export function normaliseNewlines(text: string): string {
  return text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * Why a fenced block is not closed where its author meant, or null. CommonMark ends an unclosed
 * fence at the end of the document (or of its list item or block quote), so the block silently
 * swallows the rest. Mid-chapter, the next block's closing fence closes it instead: the block then
 * holds the next block's opening fence — a line with the same fence character, at least as long,
 * with an info string — which no properly closed block can contain (its closing fence would end it).
 */
function unclosedFence(node: Code, text: string): string | null {
  const { start, end } = node.position!;
  if (start.offset === undefined || end.offset === undefined) return null;
  const source = text.slice(start.offset, end.offset).split("\n");
  const open = FENCE.exec(source[0]);
  if (!open) return null; // indented code
  const [char, length] = [open[1][0], open[1].length];
  const fence = (line: string) => {
    const m = /^[ \t>]*(`{3,}|~{3,})(.*)$/.exec(line);
    return m && m[1][0] === char && m[1].length >= length ? m[2].trim() : null;
  };
  for (let k = 1; k < source.length - 1; k++) {
    const info = fence(source[k]);
    if (info) {
      return `the block runs on to the fence at line ${start.line + k} (${
        source[k].trim()
      }); close it before that`;
    }
  }
  if (source.length >= 2 && fence(source[source.length - 1]) === "") return null;
  return end.offset >= text.trimEnd().length
    ? "the block runs to the end of the chapter"
    : "the block runs to the end of the list item or block quote it is in";
}

/**
 * A chapter's text: UTF-8 (an error naming the line of the first bad byte otherwise, never
 * U+FFFD in `lib/`), with newlines normalised.
 */
export function decodeChapter(
  path: string,
  bytes: Uint8Array,
): { text: string } | { problem: Problem } {
  try {
    return { text: normaliseNewlines(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) };
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
  }
  let lineStart = 0;
  for (let line = 1;; line++) {
    const nl = bytes.indexOf(0x0a, lineStart);
    const lineEnd = nl < 0 ? bytes.length : nl;
    const lineBytes = bytes.subarray(lineStart, lineEnd);
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(lineBytes);
    } catch {
      const before = new TextDecoder().decode(lineBytes).split("\uFFFD", 1)[0];
      const bad = lineBytes[new TextEncoder().encode(before).length];
      return {
        problem: {
          path,
          line,
          column: before.length + 1,
          message: `not UTF-8: byte 0x${
            bad.toString(16).padStart(2, "0")
          }; save the chapter as UTF-8`,
          fatal: true,
        },
      };
    }
    if (nl < 0) break;
    lineStart = nl + 1;
  }
  // Invalid only across a line break cannot happen (0x0a is never inside a UTF-8 sequence).
  throw new Error(`${path}: not UTF-8`);
}

/**
 * Reads every `spec/NN-*.md` under `root` and parses it. Parsing is most of a tangle's time, so
 * each chapter's tree is kept in `.cache/mdast/` under a hash of its text and of `deno.lock` (a
 * new parser version makes new keys); only chapters that changed are parsed again.
 */
export async function loadSpec(root: string): Promise<Spec> {
  const files: { path: string; text: string; tree?: Root }[] = [];
  const unreadable: Problem[] = [];
  for await (const entry of Deno.readDir(`${root}/spec`)) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      const path = `spec/${entry.name}`;
      const read = decodeChapter(path, await Deno.readFile(`${root}/${path}`));
      if ("problem" in read) unreadable.push(read.problem);
      else files.push({ path, text: read.text });
    }
  }
  const store = new HashStore(`${root}/.cache/mdast`);
  const lock = await Deno.readTextFile(`${root}/deno.lock`).catch(() => "");
  for (const file of files) {
    const key = await sha256(`${lock}\0${file.text}`);
    const json = await store.get(key);
    file.tree = json ? JSON.parse(json) : parseMarkdown(file.text);
    if (!json) await store.put(key, JSON.stringify(file.tree));
  }
  await store.prune();
  const spec = parseSpec(files);
  spec.problems.unshift(...unreadable);
  return spec;
}
