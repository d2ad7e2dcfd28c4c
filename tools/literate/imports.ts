/**
 * Imports written by the tangler.
 *
 * Model blocks carry no import lines: a reader sees the argument, not the plumbing. After the
 * fragments are expanded, every generated file is parsed (TypeScript's parser, no type-checking)
 * for what it exports and what it refers to, and the imports are derived:
 *
 * - a name the file refers to but does not declare, exported by exactly one other generated file,
 *   is imported from that file — as `type` when every use sits in a type position;
 * - a name exported by two or more files is a problem at the first use's `spec/…md:line:col`
 *   unless the file imports it explicitly (explicit imports stay for npm packages and such true
 *   ambiguities);
 * - anything else (globals, typos) is left to `deno check`, whose errors map to the Markdown too.
 *
 * The derived lines go after the file's `@module` comment and map to no Markdown line.
 *
 * @module
 */
import ts from "typescript";
import type { Problem } from "./spec.ts";
import { mapBack, type TangledFile } from "./tangle.ts";

/** What one generated file exports: name → true when the export is a type only. */
type Exports = Map<string, boolean>;

/** A name a file leaves free in one space (value or type), at its first use there. */
type Uses = Map<string, ts.Identifier>;

/** One file's parse: its exports and the names it leaves free in each space. */
interface Scan {
  sf: ts.SourceFile;
  exports: Exports;
  valueUses: Uses;
  typeUses: Uses;
}

/** The names a scope declares, per space. */
interface Declared {
  values: Set<string>;
  types: Set<string>;
}

/** Declarations that bind a value name (classes and enums bind both). */
const VALUE_DECLARATIONS = new Set([
  ts.SyntaxKind.VariableDeclaration,
  ts.SyntaxKind.Parameter,
  ts.SyntaxKind.FunctionDeclaration,
  ts.SyntaxKind.FunctionExpression,
  ts.SyntaxKind.ClassDeclaration,
  ts.SyntaxKind.ClassExpression,
  ts.SyntaxKind.EnumDeclaration,
  ts.SyntaxKind.ModuleDeclaration,
  ts.SyntaxKind.BindingElement,
  ts.SyntaxKind.ImportSpecifier,
  ts.SyntaxKind.ImportClause,
  ts.SyntaxKind.NamespaceImport,
]);

/** Declarations that bind a type name. */
const TYPE_DECLARATIONS = new Set([
  ts.SyntaxKind.ClassDeclaration,
  ts.SyntaxKind.ClassExpression,
  ts.SyntaxKind.InterfaceDeclaration,
  ts.SyntaxKind.TypeAliasDeclaration,
  ts.SyntaxKind.EnumDeclaration,
  ts.SyntaxKind.ModuleDeclaration,
  ts.SyntaxKind.TypeParameter,
  ts.SyntaxKind.ImportSpecifier,
  ts.SyntaxKind.ImportClause,
  ts.SyntaxKind.NamespaceImport,
]);

function hasExport(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

function bindingNames(name: ts.BindingName, out: string[] = []): string[] {
  if (ts.isIdentifier(name)) out.push(name.text);
  else for (const e of name.elements) if (!ts.isOmittedExpression(e)) bindingNames(e.name, out);
  return out;
}

function exportsOf(sf: ts.SourceFile): Exports {
  const out: Exports = new Map();
  for (const s of sf.statements) {
    if (!hasExport(s)) continue;
    if (ts.isVariableStatement(s)) {
      for (const d of s.declarationList.declarations) {
        for (const n of bindingNames(d.name)) out.set(n, false);
      }
    } else if (ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s)) {
      // An interface may share its name with a const (a struct and its layout): a value then.
      out.set(s.name.text, out.get(s.name.text) ?? true);
    } else if (
      (ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s) || ts.isEnumDeclaration(s)) &&
      s.name
    ) {
      out.set(s.name.text, false);
    }
  }
  return out;
}

/** True when an identifier names something rather than being the name of a member or binding. */
function isReference(id: ts.Identifier): boolean {
  const p = id.parent as ts.Node & { name?: ts.Node; propertyName?: ts.Node; label?: ts.Node };
  if (ts.isShorthandPropertyAssignment(p)) return true;
  if (ts.isQualifiedName(p)) return p.left === id;
  if (ts.isMetaProperty(p)) return false;
  return p.name !== id && p.propertyName !== id && p.label !== id;
}

/** True when a reference sits in a type position, so `import type` serves it. */
function inTypePosition(id: ts.Node): boolean {
  for (let n: ts.Node = id; n.parent; n = n.parent) {
    const p = n.parent;
    if (ts.isHeritageClause(p)) {
      return p.token === ts.SyntaxKind.ImplementsKeyword || ts.isInterfaceDeclaration(p.parent);
    }
    if (ts.isTypeNode(n) && !ts.isExpressionWithTypeArguments(n)) return true;
    if (ts.isStatement(p) || ts.isSourceFile(p)) return false;
  }
  return false;
}

function isBlockScope(n: ts.Node): boolean {
  return ts.isSourceFile(n) || ts.isBlock(n) || ts.isModuleBlock(n) || ts.isCaseBlock(n) ||
    ts.isForStatement(n) || ts.isForInStatement(n) || ts.isForOfStatement(n) ||
    ts.isCatchClause(n);
}

/** The node whose scope a declaration binds its name in. */
function scopeOf(decl: ts.Node): ts.Node {
  // A binding element binds where its variable or parameter does.
  let d = decl;
  while (ts.isBindingElement(d) || ts.isObjectBindingPattern(d) || ts.isArrayBindingPattern(d)) {
    d = d.parent;
  }
  // Parameters and type parameters bind in their function or declaration; a function or class
  // expression's own name binds inside it.
  if (ts.isParameter(d) || ts.isTypeParameterDeclaration(d)) return d.parent;
  if (ts.isFunctionExpression(d) || ts.isClassExpression(d)) return d;
  if (ts.isVariableDeclaration(d) && ts.isCatchClause(d.parent)) return d.parent;
  let n = d.parent;
  while (!isBlockScope(n)) n = n.parent;
  return n;
}

function scan(file: TangledFile): Scan {
  const sf = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true);
  const scopes = new Map<ts.Node, Declared>();
  const references: ts.Identifier[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node) && node.parent) {
      const p = node.parent as ts.Node & { name?: ts.Node };
      const value = VALUE_DECLARATIONS.has(p.kind);
      const type = TYPE_DECLARATIONS.has(p.kind);
      if (p.name === node && (value || type)) {
        const scope = scopeOf(p);
        const d = scopes.get(scope) ?? { values: new Set(), types: new Set() };
        if (value) d.values.add(node.text);
        if (type) d.types.add(node.text);
        scopes.set(scope, d);
      } else if (isReference(node)) references.push(node);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const valueUses: Uses = new Map();
  const typeUses: Uses = new Map();
  for (const id of references) {
    const typeSpace = inTypePosition(id);
    let bound = false;
    for (let n: ts.Node | undefined = id.parent; n && !bound; n = n.parent) {
      const d = scopes.get(n);
      bound = !!d && (typeSpace ? d.types : d.values).has(id.text);
    }
    const uses = typeSpace ? typeUses : valueUses;
    if (!bound && !uses.has(id.text)) uses.set(id.text, id);
  }
  return { sf, exports: exportsOf(sf), valueUses, typeUses };
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

/**
 * Where the derived imports go (a 0-based line): after the tangler's header, after a leading
 * `@module` comment, and after any explicit imports.
 */
function insertionLine(file: TangledFile, sf: ts.SourceFile): number {
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line;
  let line = file.origins.findIndex((o) => o !== null);
  const first = sf.statements[0];
  if (first) {
    const comments = ts.getLeadingCommentRanges(file.text, first.getFullStart()) ?? [];
    const module = comments.find((c) => file.text.slice(c.pos, c.end).includes("@module"));
    if (module) line = lineOf(module.end) + 1;
  }
  for (const s of sf.statements) {
    if (!ts.isImportDeclaration(s)) break;
    line = Math.max(line, lineOf(s.end) + 1);
  }
  return line;
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

/** Derives each generated file's imports; a file that needs none has no insertion. */
export function deriveImports(files: TangledFile[]): DerivedImports {
  const scans = new Map(files.map((f) => [f.path, scan(f)]));
  const exporters = new Map<string, { path: string; type: boolean }[]>();
  for (const [path, s] of scans) {
    for (const [name, type] of s.exports) {
      const list = exporters.get(name) ?? [];
      list.push({ path, type });
      exporters.set(name, list);
    }
  }
  const problems: Problem[] = [];
  const insertions = new Map<string, Insertion>();
  for (const file of files) {
    const s = scans.get(file.path)!;
    const wanted = new Map<string, { name: string; type: boolean }[]>();
    const free = new Map<string, { node: ts.Identifier; value: boolean }>();
    for (const [name, node] of s.typeUses) free.set(name, { node, value: false });
    for (const [name, node] of s.valueUses) free.set(name, { node, value: true });
    for (const [name, use] of free) {
      const from = (exporters.get(name) ?? []).filter((e) => e.path !== file.path);
      if (from.length === 0) continue;
      if (from.length > 1) {
        const pos = s.sf.getLineAndCharacterOfPosition(use.node.getStart(s.sf));
        const at = mapBack(file, pos.line + 1, pos.character + 1);
        problems.push({
          path: at?.path ?? file.path,
          line: at?.line ?? pos.line + 1,
          column: at?.column ?? pos.character + 1,
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
    if (wanted.size === 0) continue;
    const lines: string[] = [];
    // In the order `deno fmt` keeps: declarations by specifier, names case-insensitively.
    const byName = (a: string, b: string) => caseless(a, b) || (a < b ? -1 : a > b ? 1 : 0);
    const modules = [...wanted.keys()].map((path) => ({ path, from: relative(file.path, path) }))
      .sort((a, b) => byName(a.from, b.from));
    for (const { path, from } of modules) {
      const names = wanted.get(path)!.sort((a, b) => byName(a.name, b.name));
      lines.push(...importLine(names, from));
    }
    const at = insertionLine(file, s.sf);
    insertions.set(file.path, {
      at,
      lines: file.text.split("\n")[at] === "" ? lines : [...lines, ""],
    });
  }
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
