/**
 * The tangler: model blocks → files under `lib/`.
 *
 * A block `{#name file=lib/x.ts}` starts a file; `{#name}` defines a fragment, and further blocks
 * with the same name continue it in reading order (across chapters too). A line that holds only
 * `<<name>>` is replaced by that fragment, every line indented like the reference. Every generated
 * line remembers the Markdown line it came from: `tools/check.ts` uses that table to move type
 * errors there, and `emit_map.ts` turns it into the source map that makes Deno print runtime
 * stack traces at `spec/…md:line`.
 *
 * @module
 */
import type { Chapter, CodeBlock, Problem, Spec } from "./spec.ts";

/** Where one generated line comes from. */
export interface Origin {
  block: CodeBlock;
  /** 1-based Markdown line. */
  line: number;
  /** Columns of indentation the tangler added in front of the Markdown text. */
  indent: number;
}

/**
 * One generated file, without its source map. `origins[k]` belongs to line k+1 (null for header
 * and marker lines).
 */
export interface TangledFile {
  path: string;
  chapters: string[];
  text: string;
  origins: (Origin | null)[];
}

/** A `<<name>>` line inside a model block. */
export interface Reference {
  name: string;
  block: CodeBlock;
  /** Index into `block.lines`. */
  lineIndex: number;
  indent: string;
}

/** A named fragment: the blocks that define it (in reading order) and where it is used. */
export interface Fragment {
  name: string;
  blocks: CodeBlock[];
  /** The file this fragment starts, when its first block has `file=`. */
  file?: string;
  usedIn: Reference[];
}

/** The result of tangling: files, the fragment index (for the site) and problems. */
export interface Tangle {
  chapters: Chapter[];
  files: TangledFile[];
  fragments: Map<string, Fragment>;
  /** Model blocks without a name: each is a whole file on its own. */
  anonymousFiles: CodeBlock[];
  references: Reference[];
  problems: Problem[];
}

const REFERENCE = /^(\s*)<<([^<>]*)>>\s*$/;
const FRAGMENT_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

function at(block: CodeBlock, lineIndex: number | null, column: number, message: string): Problem {
  return {
    path: block.chapter.path,
    line: lineIndex === null ? block.fenceLine : block.fenceLine + 1 + lineIndex,
    column: lineIndex === null ? block.fenceColumn : block.fenceColumn + column,
    message,
  };
}

function where(block: CodeBlock): string {
  return `${block.chapter.path}:${block.fenceLine}`;
}

/** Tangles a parsed spec. Problems are collected, not thrown; callers write nothing if any. */
export function tangle(spec: Spec): Tangle {
  const problems: Problem[] = [...spec.problems];
  const fragments = new Map<string, Fragment>();
  const fileBlocks = new Map<string, CodeBlock>();
  const anonymousFiles: CodeBlock[] = [];
  // A chapter that could not be read as written (an unclosed fence swallows the blocks after it)
  // would only give misleading consequences here: unused fragments, cycles.
  if (problems.some((p) => p.fatal)) {
    return {
      chapters: spec.chapters,
      files: [],
      fragments,
      anonymousFiles,
      references: [],
      problems,
    };
  }
  const model = spec.blocks.filter((b) => b.attrs);

  // 1. Names and files.
  for (const block of model) {
    const { id, file } = block.attrs!;
    if (file) {
      const claimed = fileBlocks.get(file);
      if (claimed) {
        const who = claimed.chapter === block.chapter ? "this chapter" : claimed.chapter.path;
        problems.push(
          at(block, null, 0, `${file} is already produced by ${who} (${where(claimed)})`),
        );
        continue;
      }
      fileBlocks.set(file, block);
      if (!id) {
        anonymousFiles.push(block);
        continue;
      }
    }
    const existing = fragments.get(id!);
    if (!existing) {
      fragments.set(id!, { name: id!, blocks: [block], file, usedIn: [] });
    } else if (file) {
      problems.push(
        at(
          block,
          null,
          0,
          `#${id} is already defined at ${where(existing.blocks[0])}; ` +
            `file= belongs on the first block of a name`,
        ),
      );
    } else {
      existing.blocks.push(block);
    }
  }

  // 2. References.
  const references: Reference[] = [];
  for (const block of model) {
    block.lines.forEach((text, lineIndex) => {
      const m = REFERENCE.exec(text);
      if (!m) return;
      const [, indent, name] = m;
      const column = indent.length;
      if (!FRAGMENT_NAME.test(name)) {
        problems.push(at(block, lineIndex, column, `malformed reference <<${name}>>`));
        return;
      }
      const fragment = fragments.get(name);
      if (!fragment) {
        problems.push(at(block, lineIndex, column, `undefined fragment <<${name}>>`));
        return;
      }
      if (fragment.file) {
        problems.push(
          at(
            block,
            lineIndex,
            column,
            `<<${name}>> starts ${fragment.file}; a file cannot be included`,
          ),
        );
        return;
      }
      const ref = { name, block, lineIndex, indent };
      fragment.usedIn.push(ref);
      references.push(ref);
    });
  }

  // 3. Cycles, then fragments no file reaches.
  // References grouped by the fragment (or, for an unnamed file block, the file) holding them.
  const owner = (b: CodeBlock) => b.attrs!.id ?? `file=${b.attrs!.file}`;
  const inside = new Map<string, Reference[]>();
  for (const r of references) {
    const list = inside.get(owner(r.block)) ?? [];
    list.push(r);
    inside.set(owner(r.block), list);
  }
  const cyclic = findCycles(fragments, inside, problems);
  const reached = new Set<string>();
  const reach = (name: string) => {
    if (reached.has(name)) return;
    reached.add(name);
    for (const ref of inside.get(name) ?? []) reach(ref.name);
  };
  for (const block of fileBlocks.values()) reach(owner(block));
  for (const f of fragments.values()) {
    if (reached.has(f.name) || cyclic.has(f.name)) continue;
    problems.push(
      at(
        f.blocks[0],
        null,
        0,
        f.usedIn.length === 0
          ? `unused fragment #${f.name}: no <<${f.name}>> refers to it`
          : `unused fragment #${f.name}: it is only used by fragments that no file includes`,
      ),
    );
  }

  // 4. Expansion.
  const files: TangledFile[] = [];
  const refAt = new Map<string, Reference>();
  for (const r of references) refAt.set(`${r.block.index}:${r.lineIndex}`, r);
  if (cyclic.size === 0) {
    for (const [path, root] of fileBlocks) {
      const blocks = root.attrs!.id ? fragments.get(root.attrs!.id)!.blocks : [root];
      files.push(render(path, blocks, fragments, refAt));
    }
  }
  files.sort((a, b) => a.path.localeCompare(b.path));
  problems.sort((a, b) => a.path.localeCompare(b.path) || a.line - b.line || a.column - b.column);
  return { chapters: spec.chapters, files, fragments, anonymousFiles, references, problems };
}

function findCycles(
  fragments: Map<string, Fragment>,
  inside: Map<string, Reference[]>,
  problems: Problem[],
): Set<string> {
  const cyclic = new Set<string>();
  const state = new Map<string, "active" | "done">();
  const stack: Reference[] = [];
  const visit = (name: string) => {
    state.set(name, "active");
    for (const ref of inside.get(name) ?? []) {
      const s = state.get(ref.name);
      if (s === "active") {
        const from = stack.findIndex((r) => r.name === ref.name);
        const chain = [...stack.slice(from + 1).map((r) => r.name), ref.name];
        const cycle = from < 0 ? [ref.name, ...chain] : [stack[from].name, ...chain];
        cycle.forEach((n) => cyclic.add(n));
        problems.push(
          at(ref.block, ref.lineIndex, ref.indent.length, `reference cycle: ${cycle.join(" → ")}`),
        );
      } else if (s === undefined) {
        stack.push(ref);
        visit(ref.name);
        stack.pop();
      }
    }
    state.set(name, "done");
  };
  for (const name of fragments.keys()) if (!state.has(name)) visit(name);
  return cyclic;
}

function render(
  path: string,
  rootBlocks: CodeBlock[],
  fragments: Map<string, Fragment>,
  refAt: Map<string, Reference>,
): TangledFile {
  const out: string[] = [];
  const origins: (Origin | null)[] = [];
  const chapters = new Set<string>();

  const emit = (blocks: CodeBlock[], indent: string, name: string | undefined) => {
    for (const block of blocks) {
      chapters.add(block.chapter.path);
      if (block !== rootBlocks[0]) {
        out.push(`${indent}// ⟨${name}⟩ ${block.chapter.path}:${block.fenceLine}`);
        origins.push(null);
      }
      block.lines.forEach((text, k) => {
        const ref = refAt.get(`${block.index}:${k}`);
        if (ref) {
          emit(fragments.get(ref.name)!.blocks, indent + ref.indent, ref.name);
          return;
        }
        out.push(text === "" ? "" : indent + text);
        origins.push({ block, line: block.fenceLine + 1 + k, indent: indent.length });
      });
    }
  };
  emit(rootBlocks, "", rootBlocks[0].attrs!.id);

  const header = [
    `// ${path}: generated by \`deno task tangle\`; do not edit. Change the chapter instead:`,
    `// ${[...chapters].join(", ")}`,
  ];
  const text = [...header, ...out].join("\n") + "\n";
  return { path, chapters: [...chapters], text, origins: [...header.map(() => null), ...origins] };
}

/**
 * Maps a position in a generated file back to its chapter: `line`/`column` are 1-based positions
 * in `file.text`. Returns null for header and marker lines.
 */
export function mapBack(
  file: TangledFile,
  line: number,
  column: number,
): { path: string; line: number; column: number } | null {
  const o = file.origins[line - 1];
  if (!o) return null;
  return {
    path: o.block.chapter.path,
    line: o.line,
    column: Math.max(1, column - o.indent) + o.block.fenceColumn - 1,
  };
}
