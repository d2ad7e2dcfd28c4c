import assert from "node:assert/strict";
import { deriveImports, withImports } from "../../tools/literate/imports.ts";
import { md, tangleOf, where } from "./fixture.ts";

/** The generated files of a spec, with their derived imports, keyed by path; and the problems. */
function generate(chapters: Record<string, string>) {
  const t = tangleOf(chapters);
  assert.deepEqual(where(t.problems), []);
  const derived = deriveImports(t.files);
  const files = new Map(
    t.files.map((f) => [f.path, withImports(f, derived.insertions.get(f.path)).text]),
  );
  return { files, problems: where(derived.problems) };
}

const DEFS = md(
  "# Definitions",
  "",
  "```ts {file=lib/uapi/defs.ts}",
  "/**",
  " * Definitions.",
  " *",
  " * @module",
  " */",
  "export interface Shape {",
  "  size: number;",
  "}",
  "export const Layout = { size: 4 };",
  "export interface Layout {",
  "  size: number;",
  "}",
  "export function area(s: Shape): number {",
  "  return s.size;",
  "}",
  "export class Box {}",
  "export const size = 8;",
  "```",
);

Deno.test("imports: values, types (import type) and a struct-and-layout name (a value)", () => {
  const { files, problems } = generate({
    "spec/01-defs.md": DEFS,
    "spec/02-use.md": md(
      "# Use",
      "",
      "```ts {file=lib/hw/use.ts}",
      "/**",
      " * Uses.",
      " *",
      " * @module",
      " */",
      "export function use(s: Shape, b: Box): number {",
      "  const l: Layout = Layout;",
      "  return area(s) + l.size + (b ? 1 : 0);",
      "}",
      "```",
    ),
  });
  assert.deepEqual(problems, []);
  const text = files.get("lib/hw/use.ts")!;
  assert.match(
    text,
    / \*\/\nimport \{ area, type Box, Layout, type Shape \} from "\.\.\/uapi\/defs\.ts";\n\nexport function use/,
  );
});

Deno.test("imports: only the types used → import type; property names and keys import nothing", () => {
  const { files } = generate({
    "spec/01-defs.md": DEFS,
    "spec/02-use.md": md(
      "# Use",
      "",
      "```ts {file=lib/uapi/use.ts}",
      "export function use(s: Shape): { size: number } {",
      "  const o = { size: s.size, area: 1 };",
      "  return { size: o.size };",
      "}",
      "```",
    ),
  });
  const text = files.get("lib/uapi/use.ts")!;
  assert.match(text, /\nimport type \{ Shape \} from "\.\/defs\.ts";\n/);
  assert.doesNotMatch(text, /import[^\n]*(area|size)/);
});

Deno.test("imports: a local binding shadows an export in its scope only", () => {
  const { files } = generate({
    "spec/01-defs.md": DEFS,
    "spec/02-use.md": md(
      "# Use",
      "",
      "```ts {file=lib/use.ts}",
      "export function local(area: (n: number) => number): number {",
      "  return area(1);",
      "}",
      "export function global(): number {",
      "  const size = 2;",
      "  return size;",
      "}",
      "```",
      "",
      "```ts {file=lib/use2.ts}",
      "export function one(s: Shape): number {",
      "  const Box = 1;",
      "  return area(s) + Box;",
      "}",
      "export function two(b: Box): Box {",
      "  return b;",
      "}",
      "```",
    ),
  });
  assert.doesNotMatch(files.get("lib/use.ts")!, /import/, "area and size are local there");
  assert.match(
    files.get("lib/use2.ts")!,
    /^import \{ area, type Box, type Shape \} from "\.\/uapi\/defs\.ts";$/m,
    "Box the value is local; Box the type is imported",
  );
});

Deno.test("imports: a name two files export is a problem at its use, unless imported explicitly", () => {
  const twice = md(
    "# Two",
    "",
    "```ts {file=lib/a.ts}",
    "export const dup = 1;",
    "```",
    "",
    "```ts {file=lib/b.ts}",
    "export const dup = 2;",
    "```",
    "",
    "```ts {file=lib/c.ts}",
    "export const c = dup;",
    "```",
    "",
    "```ts {file=lib/d.ts}",
    'import { dup } from "./b.ts";',
    "export const d = dup;",
    "```",
  );
  const { files, problems } = generate({ "spec/01-two.md": twice });
  assert.deepEqual(problems, [
    "spec/01-two.md:12:18: dup is exported by lib/a.ts and lib/b.ts: import it explicitly",
  ]);
  assert.equal(files.get("lib/d.ts")!.match(/import/g)!.length, 1, "the explicit import alone");
});

Deno.test("imports: long lists wrap as deno fmt lays them out, modules in specifier order", () => {
  const names = Array.from({ length: 12 }, (_, k) => `some_long_name_${k}`);
  const { files } = generate({
    "spec/01-defs.md": md(
      "# Defs",
      "",
      "```ts {file=lib/z/defs.ts}",
      ...names.map((n) => `export const ${n} = 1;`),
      "```",
      "",
      "```ts {file=lib/a.ts}",
      "export const a = 1;",
      "```",
      "",
      "```ts {file=lib/z/use.ts}",
      `export const all = [a, ${names.join(", ")}];`,
      "```",
    ),
  });
  const text = files.get("lib/z/use.ts")!;
  const head = text.slice(text.indexOf("import"), text.indexOf("export"));
  assert.equal(
    head,
    `import { a } from "../a.ts";\nimport {\n${
      names.sort().map((n) => `  ${n},\n`).join("")
    }} from "./defs.ts";\n\n`,
  );
});
