/**
 * The divergence ledger: every place the model departs from Linux v6.12, collected from the spec
 * itself so that the list cannot drift from the code.
 *
 * Three markers feed it:
 *
 * - `NON-KERNEL` in a comment of a model block: code that exists only in the model (the
 *   convention since chapter 0). The entry names the declaration that follows the comment.
 * - `@divergence <kind> <text>` in a comment of a model block: a kernel-named thing that the model
 *   does differently. `<kind>` is one of {@link DIVERGENCE_KINDS}; the text runs to the end of the
 *   comment or to the next `@` tag.
 * - In prose, `**Divergence (<kind>).** {#div-<id>} <text>`: the same, for what a whole section
 *   leaves out; the paragraph is the text, and `#div-<id>` its anchor on the chapter page.
 *
 * {@link collectLedger} reads them from the parsed spec; {@link ledgerBody} renders the page body,
 * which the site build lays out like a chapter at {@link LEDGER_PAGE}.
 *
 * @module
 */
import type { Chapter, Problem } from "../literate/spec.ts";
import { pageOf, type XrefIndex } from "./xref.ts";
import type { TocItem } from "../../site/layout.tsx";

/** The page the ledger is written to. */
export const LEDGER_PAGE = "divergences.html";

/** What kind of departure an entry records. */
export const DIVERGENCE_KINDS = {
  "non-kernel": "Model-only code (NON-KERNEL)",
  simplification: "Simplifications: the kernel does more",
  omitted: "Left out",
  inferred: "Inferred facts: not read in the v6.12 source",
  config: "Build options: one choice of a kernel configuration",
} as const;

/** One of {@link DIVERGENCE_KINDS}. */
export type DivergenceKind = keyof typeof DIVERGENCE_KINDS;

/** One entry of the ledger. */
export interface LedgerEntry {
  kind: DivergenceKind;
  /** The declaration or section the entry is about (may be empty). */
  subject: string;
  text: string;
  chapter: Chapter;
  /** 1-based line of the marker in the chapter's Markdown. */
  line: number;
  /** Link to where it lives: a block or prose anchor on the chapter page. */
  href: string;
  /** Link to the marker's line on the chapter's numbered source page. */
  sourceHref: string;
}

const DECLARATION =
  /^\s*(?:export\s+)?(?:declare\s+)?(?:readonly\s+|static\s+|private\s+|public\s+|async\s+|abstract\s+)*(?:function\*?|class|interface|type|const|let|var|enum|get|set)?\s*([A-Za-z_$][\w$]*)/;
const DIVERGENCE_TAG = /@divergence\s+([a-z-]+)\s+(.*)$/;
const PROSE_MARKER = /\*\*Divergence \(([a-z-]+)\)\.?\*\*\s*\{#(div-[\w-]+)\}/;

/** The text of a comment line (without `//`, `/**`, `*` and the closing mark), or null for code. */
function commentText(line: string): string | null {
  if (/^\s*\*\/\s*$/.test(line)) return "";
  const m = /^\s*(?:\/\/+|\/\*\*?|\*(?!\/))\s?(.*?)\s*(?:\*\/)?\s*$/.exec(line);
  return m ? m[1] : null;
}

const STATEMENT = new Set(["if", "for", "while", "return", "switch", "throw", "do", "else", "try"]);

/** The name declared by the first code line at or after `from`, skipping comment lines. */
function declaredName(lines: string[], from: number): string {
  for (let k = from; k < lines.length; k++) {
    const line = lines[k];
    if (line.trim() === "" || commentText(line) !== null) continue;
    const m = DECLARATION.exec(line);
    return m && !STATEMENT.has(m[1]) ? m[1] : "";
  }
  return "";
}

function kindOf(word: string): DivergenceKind | null {
  return word in DIVERGENCE_KINDS ? word as DivergenceKind : null;
}

/** One chapter's part of the ledger: its code markers and its prose markers, apart. */
export interface ChapterLedger {
  code: LedgerEntry[];
  prose: LedgerEntry[];
  /** Problems of the code markers, then of the prose markers. */
  codeProblems: Problem[];
  proseProblems: Problem[];
}

/**
 * Collects the ledger from the spec: code markers of model blocks, then prose markers (each in
 * reading order). `ofChapter` gives a chapter's part ({@link chapterLedger} by default; a caller
 * may reuse the part of a chapter whose text, title, page and block anchors are unchanged).
 */
export function collectLedger(
  chapters: Chapter[],
  xref: XrefIndex,
  ofChapter: (c: Chapter) => ChapterLedger = (c) => chapterLedger(c, xref),
): { entries: LedgerEntry[]; problems: Problem[] } {
  const parts = chapters.map(ofChapter);
  return {
    entries: [...parts.flatMap((p) => p.code), ...parts.flatMap((p) => p.prose)],
    problems: [...parts.flatMap((p) => p.codeProblems), ...parts.flatMap((p) => p.proseProblems)],
  };
}

/**
 * The anchors of a chapter's blocks: with the chapter's path, slug, title and text, everything
 * {@link chapterLedger} reads.
 */
export function ledgerAnchors(chapter: Chapter, xref: XrefIndex): string {
  return chapter.blocks.map((b) => xref.blocks.get(b)?.anchor ?? "").join(" ");
}

/** One chapter's markers: of its model blocks, and of its prose. */
export function chapterLedger(chapter: Chapter, xref: XrefIndex): ChapterLedger {
  const out: ChapterLedger = { code: [], prose: [], codeProblems: [], proseProblems: [] };
  const unknown = (problems: Problem[], path: string, line: number, kind: string) =>
    problems.push({ path, line, column: 1, message: `unknown divergence kind "${kind}"` });
  const source = (c: Chapter, line: number) => `source/${c.name}.md.html#L${line}`;
  for (const block of chapter.blocks) {
    if (!block.attrs) continue;
    const anchor = xref.blocks.get(block)?.anchor;
    const href = anchor ? `${pageOf(block.chapter)}#${anchor}` : pageOf(block.chapter);
    block.lines.forEach((line, k) => {
      const text = commentText(line);
      if (text === null) return;
      const at = block.fenceLine + 1 + k;
      const add = (kind: DivergenceKind, body: string) =>
        out.code.push({
          kind,
          subject: declaredName(block.lines, k + 1),
          text: body,
          chapter: block.chapter,
          line: at,
          href,
          sourceHref: source(block.chapter, at),
        });
      const nk = text.indexOf("NON-KERNEL");
      if (nk >= 0) add("non-kernel", continued(block.lines, k, text.slice(nk + 10)));
      const tag = DIVERGENCE_TAG.exec(text);
      if (tag) {
        const kind = kindOf(tag[1]);
        if (!kind) unknown(out.codeProblems, block.chapter.path, at, tag[1]);
        else add(kind, continued(block.lines, k, tag[2]));
      }
    });
  }
  const lines = chapter.text.split("\n");
  let fence = false;
  lines.forEach((line, k) => {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence;
    const m = fence ? null : PROSE_MARKER.exec(line);
    if (!m) return;
    const kind = kindOf(m[1]);
    if (!kind) {
      unknown(out.proseProblems, chapter.path, k + 1, m[1]);
      return;
    }
    const paragraph: string[] = [line.slice(m.index! + m[0].length)];
    for (let j = k + 1; j < lines.length && lines[j].trim() !== ""; j++) paragraph.push(lines[j]);
    out.prose.push({
      kind,
      subject: "",
      text: paragraph.join(" ").replace(/\s+/g, " ").trim(),
      chapter,
      line: k + 1,
      href: `${pageOf(chapter)}#${m[2]}`,
      sourceHref: source(chapter, k + 1),
    });
  });
  return out;
}

/** A marker's text with the comment lines that continue it (up to a blank, a tag or the end). */
function continued(lines: string[], k: number, first: string): string {
  const parts = [first.replace(/^[:\s]+/, "")];
  // A marker on a `//` line or on a line that closes its comment stands alone.
  const alone = /\*\/\s*$/.test(lines[k]) || /^\s*\/\//.test(lines[k]);
  for (let j = k + 1; !alone && j < lines.length; j++) {
    const text = commentText(lines[j]);
    if (text === null || text === "" || text.startsWith("@") || text.includes("NON-KERNEL")) break;
    parts.push(text);
    if (/\*\/\s*$/.test(lines[j])) break;
  }
  return parts.join(" ").replace(/\s+/g, " ").trim();
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Inline `code` in marker text, as the chapters write it. */
function inline(s: string): string {
  return escapeHtml(s).replace(/`([^`]+)`/g, "<code>$1</code>");
}

/** The page body: an introduction, then one table per kind, entries in reading order. */
export function ledgerBody(entries: LedgerEntry[]): { html: string; toc: TocItem[] } {
  const toc: TocItem[] = [];
  let html = `<h1 id="divergences">Divergences from Linux v6.12</h1>\n` +
    `<p class="lede">Every place the model departs from the kernel it specifies, collected from ` +
    `the markers in the chapters' code and prose when the site is built: ${entries.length} ` +
    `entries. Each links to where it lives.</p>\n`;
  for (const [kind, title] of Object.entries(DIVERGENCE_KINDS)) {
    const rows = entries.filter((e) => e.kind === kind);
    if (rows.length === 0) continue;
    const id = `kind-${kind}`;
    toc.push({ depth: 2, id, text: title, number: "" });
    html += `<h2 id="${id}">${escapeHtml(title)} (${rows.length})</h2>\n<table class="ledger">` +
      `<thead><tr><th>What</th><th>Where</th><th>Why</th></tr></thead><tbody>\n`;
    for (const e of rows) {
      html += `<tr><td>${e.subject ? `<code>${escapeHtml(e.subject)}</code>` : ""}</td>` +
        `<td><a href="${e.href}">${escapeHtml(e.chapter.title)}</a> ` +
        `(<a href="${e.sourceHref}">${e.chapter.path}:${e.line}</a>)</td>` +
        `<td>${inline(e.text)}</td></tr>\n`;
    }
    html += `</tbody></table>\n`;
  }
  return { html, toc };
}
