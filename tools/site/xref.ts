/**
 * The cross-reference index of model blocks: each block's anchor and label, the blocks it
 * continues and is continued by, and the blocks that use its fragment — the "defined in / used in
 * / continued in" links of pbrt and noweb, across chapters.
 *
 * @module
 */
import type { Chapter, CodeBlock } from "../literate/spec.ts";
import type { Tangle } from "../literate/tangle.ts";

/** A link to a block on some page. */
export interface BlockLink {
  href: string;
  /** Short text: the fragment name or file path. */
  text: string;
  /** The chapter title, for the link's tooltip. */
  chapter: string;
}

/** What the site shows around one model block. */
export interface BlockXref {
  anchor: string;
  /** `⟨name⟩` or a file path. */
  label: string;
  title?: string;
  /** The file the block belongs to, when it is (part of) a file root. */
  file?: string;
  /** True for the second and later blocks of a name. */
  continuation: boolean;
  definedIn?: BlockLink;
  continuedIn?: BlockLink;
  usedIn: BlockLink[];
}

/** A name exported by a model block, and where it is defined. */
export interface Definition {
  name: string;
  /** `function`, `const`, `class`, `interface`, `type`, … */
  kind: string;
  /** Page and block anchor, e.g. `mapping.html#iopt-map-pages`. */
  href: string;
  /** The defining block's anchor. */
  anchor: string;
  chapter: string;
  /** The declaring line. */
  line: string;
}

/** The index for all model blocks, plus where each `<<ref>>` line points. */
export interface XrefIndex {
  blocks: Map<CodeBlock, BlockXref>;
  /** Every exported declaration of the model, in reading order. */
  definitions: Definition[];
  /** Key `${block.index}:${lineIndex}` → link to the referenced fragment's first block. */
  refs: Map<string, BlockLink>;
  /** Every fragment/file anchor → the chapter page it lives on. */
  anchors: Map<string, Chapter>;
}

/** The page file of a chapter. */
export function pageOf(chapter: Chapter): string {
  return `${chapter.slug}.html`;
}

function fileAnchor(path: string): string {
  return `file--${path.replace(/[^A-Za-z0-9]+/g, "-")}`;
}

/** Builds the index from a tangle (which already resolved names and references). */
export function buildXref(t: Tangle): XrefIndex {
  const blocks = new Map<CodeBlock, BlockXref>();
  const anchors = new Map<string, Chapter>();
  const linkTo = (block: CodeBlock, text: string): BlockLink => ({
    href: `${pageOf(block.chapter)}#${blocks.get(block)!.anchor}`,
    text,
    chapter: block.chapter.title,
  });

  for (const f of t.fragments.values()) {
    f.blocks.forEach((block, k) => {
      const anchor = k === 0 ? f.name : `${f.name}--${k + 1}`;
      anchors.set(anchor, block.chapter);
      blocks.set(block, {
        anchor,
        label: `⟨${f.name}⟩`,
        title: block.attrs!.title,
        file: f.file,
        continuation: k > 0,
        usedIn: [],
      });
    });
  }
  for (const block of t.anonymousFiles) {
    const anchor = fileAnchor(block.attrs!.file!);
    anchors.set(anchor, block.chapter);
    blocks.set(block, {
      anchor,
      label: block.attrs!.file!,
      title: block.attrs!.title,
      file: block.attrs!.file,
      continuation: false,
      usedIn: [],
    });
  }

  for (const f of t.fragments.values()) {
    const usedIn = f.usedIn.map((r) => linkTo(r.block, blocks.get(r.block)!.label));
    f.blocks.forEach((block, k) => {
      const x = blocks.get(block)!;
      x.usedIn = usedIn;
      if (k > 0) x.definedIn = linkTo(f.blocks[0], x.label);
      if (k + 1 < f.blocks.length) x.continuedIn = linkTo(f.blocks[k + 1], x.label);
    });
  }

  const refs = new Map<string, BlockLink>();
  for (const r of t.references) {
    const target = t.fragments.get(r.name)!.blocks[0];
    refs.set(`${r.block.index}:${r.lineIndex}`, linkTo(target, `⟨${r.name}⟩`));
  }
  return { blocks, refs, anchors, definitions: definitionsOf(blocks) };
}

/** An exported declaration: group 1 its kind, group 2 its name. */
export const EXPORT =
  /^\s*export\s+(?:declare\s+)?(?:async\s+)?(function|const|let|class|interface|type|enum)\s+([A-Za-z_$][\w$]*)/;

function definitionsOf(blocks: Map<CodeBlock, BlockXref>): Definition[] {
  const out: Definition[] = [];
  for (const [block, x] of blocks) {
    for (const line of block.lines) {
      const m = EXPORT.exec(line);
      if (!m) continue;
      out.push({
        name: m[2],
        kind: m[1],
        href: `${pageOf(block.chapter)}#${x.anchor}`,
        anchor: x.anchor,
        chapter: block.chapter.title,
        line: line.trim(),
      });
    }
  }
  return out;
}
