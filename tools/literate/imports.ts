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
import { combineScans, type DerivedImports, type FileScan } from "./import_lines.ts";
import type { TangledFile } from "./tangle.ts";

export {
  combineScans,
  type DerivedImports,
  type FileScan,
  type Insertion,
  withImports,
} from "./import_lines.ts";

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

/** One file's scan as plain data (positions 1-based), for {@link combineScans}. */
export function scanFile(file: TangledFile): FileScan {
  const s = scan(file);
  const at = (id: ts.Identifier): [number, number] => {
    const pos = s.sf.getLineAndCharacterOfPosition(id.getStart(s.sf));
    return [pos.line + 1, pos.character + 1];
  };
  const lineOf = (pos: number) => s.sf.getLineAndCharacterOfPosition(pos).line;
  let afterModule: number | null = null;
  const first = s.sf.statements[0];
  if (first) {
    const comments = ts.getLeadingCommentRanges(file.text, first.getFullStart()) ?? [];
    const module = comments.find((c) => file.text.slice(c.pos, c.end).includes("@module"));
    if (module) afterModule = lineOf(module.end) + 1;
  }
  let afterImports: number | null = null;
  for (const st of s.sf.statements) {
    if (!ts.isImportDeclaration(st)) break;
    afterImports = Math.max(afterImports ?? 0, lineOf(st.end) + 1);
  }
  return {
    exports: [...s.exports],
    valueUses: [...s.valueUses].map(([name, id]) => [name, ...at(id)]),
    typeUses: [...s.typeUses].map(([name, id]) => [name, ...at(id)]),
    afterModule,
    afterImports,
  };
}

/** Derives each generated file's imports; a file that needs none has no insertion. */
export function deriveImports(files: TangledFile[]): DerivedImports {
  return combineScans(files, files.map(scanFile));
}
