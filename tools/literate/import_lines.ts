/**
 * The second half of deriving imports (see `imports.ts`): from each generated file's scan — what
 * it exports, the names it leaves free — to the import lines each file needs. This half needs no
 * TypeScript, and a scan depends only on its file's text, so the tangler keeps scans by content
 * (`.cache/import-scans/`) and parses only files whose text changed.
 *
 * @module
 */
import type { Problem } from "./spec.ts";
import { mapBack, type TangledFile } from "./tangle.ts";

/** One generated file's scan, as plain data. */
export interface FileScan {
  /** Exported names, each with true when the export is a type only. */
  exports: [string, boolean][];
  /** Names left free in value positions, at their first use (1-based line and column). */
  valueUses: [string, number, number][];
  /** Names left free in type positions, likewise. */
  typeUses: [string, number, number][];
  /** The 0-based line after a leading `@module` comment, if there is one. */
  afterModule: number | null;
  /** The 0-based line after the last of the file's own leading imports, if it has any. */
  afterImports: number | null;
}

function caseless(a: string, b: string): number {
  const x = a.toLowerCase(), y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

function relative(from: string, to: string): string {
  const a = from.split("/").slice(0, -1);
  const b = to.split("/");
  let k = 0;
  while (k < a.length && k < b.length - 1 && a[k] === b[k]) k++;
  const up = a.length - k;
  return (up === 0 ? "./" : "../".repeat(up)) + b.slice(k).join("/");
}

/** `import { … } from "…";` as `deno fmt` lays it out at a line width of 100. */
function importLine(names: { name: string; type: boolean }[], from: string): string[] {
  const allTypes = names.every((n) => n.type);
  const spec = names.map((n) => (n.type && !allTypes ? `type ${n.name}` : n.name));
  const head = allTypes ? "import type" : "import";
  const one = `${head} { ${spec.join(", ")} } from "${from}";`;
  if (one.length <= 100) return [one];
  return [`${head} {`, ...spec.map((s) => `  ${s},`), `} from "${from}";`];
}

/** The derived import lines of one file and the line they go before (0-based). */
export interface Insertion {
  at: number;
  lines: string[];
}

/** The result of {@link deriveImports}. */
export interface DerivedImports {
  insertions: Map<string, Insertion>;
  problems: Problem[];
}

/**
 * Where the derived imports go (a 0-based line): after the tangler's header, after a leading
 * `@module` comment, and after any explicit imports.
 */
function insertionLine(file: TangledFile, scan: FileScan): number {
  let line = scan.afterModule ?? file.origins.findIndex((o) => o !== null);
  if (scan.afterImports !== null) line = Math.max(line, scan.afterImports);
  return line;
}

/** Derives each generated file's imports from the files' scans (`scans[k]` is `files[k]`'s). */
export function combineScans(files: TangledFile[], scans: FileScan[]): DerivedImports {
  const exporters = new Map<string, { path: string; type: boolean }[]>();
  files.forEach((file, k) => {
    for (const [name, type] of scans[k].exports) {
      const list = exporters.get(name) ?? [];
      list.push({ path: file.path, type });
      exporters.set(name, list);
    }
  });
  const problems: Problem[] = [];
  const insertions = new Map<string, Insertion>();
  files.forEach((file, k) => {
    const s = scans[k];
    const wanted = new Map<string, { name: string; type: boolean }[]>();
    const free = new Map<string, { line: number; column: number; value: boolean }>();
    for (const [name, line, column] of s.typeUses) free.set(name, { line, column, value: false });
    for (const [name, line, column] of s.valueUses) free.set(name, { line, column, value: true });
    for (const [name, use] of free) {
      const from = (exporters.get(name) ?? []).filter((e) => e.path !== file.path);
      if (from.length === 0) continue;
      if (from.length > 1) {
        const at = mapBack(file, use.line, use.column);
        problems.push({
          path: at?.path ?? file.path,
          line: at?.line ?? use.line,
          column: at?.column ?? use.column,
          message: `${name} is exported by ${
            from.map((e) => e.path).join(" and ")
          }: import it explicitly`,
        });
        continue;
      }
      const list = wanted.get(from[0].path) ?? [];
      list.push({ name, type: from[0].type || !use.value });
      wanted.set(from[0].path, list);
    }
    if (wanted.size === 0) return;
    const lines: string[] = [];
    // In the order `deno fmt` keeps: declarations by specifier, names case-insensitively.
    const byName = (a: string, b: string) => caseless(a, b) || (a < b ? -1 : a > b ? 1 : 0);
    const modules = [...wanted.keys()].map((path) => ({ path, from: relative(file.path, path) }))
      .sort((a, b) => byName(a.from, b.from));
    for (const { path, from } of modules) {
      const names = wanted.get(path)!.sort((a, b) => byName(a.name, b.name));
      lines.push(...importLine(names, from));
    }
    const at = insertionLine(file, s);
    insertions.set(file.path, {
      at,
      lines: file.text.split("\n")[at] === "" ? lines : [...lines, ""],
    });
  });
  return { insertions, problems };
}

/** A generated file with its derived imports in place; its line map shifts with them. */
export function withImports(file: TangledFile, insertion: Insertion | undefined): TangledFile {
  if (!insertion) return file;
  const text = file.text.split("\n");
  text.splice(insertion.at, 0, ...insertion.lines);
  const origins = [...file.origins];
  origins.splice(insertion.at, 0, ...insertion.lines.map(() => null));
  return { ...file, text: text.join("\n"), origins };
}
