import assert from "node:assert/strict";
import { md, tempProject } from "./fixture.ts";

const repo = new URL("../../", import.meta.url).pathname;

// Types and multi-line code before the throw: Deno's emit removes and re-lays-out lines, so a
// map from lib/ lines alone would point at the wrong Markdown line.
const CHAPTER = md(
  "# A", //                                         1
  "", //                                            2
  "```ts {#boom file=lib/boom.ts}", //              3
  "export interface Shape {", //                    4
  "  size: number;", //                             5
  "}", //                                           6
  "", //                                            7
  "export function boom(", //                       8
  "  shape: Shape,", //                             9
  "): never {", //                                  10
  "  <<throw>>", //                                 11
  "}", //                                           12
  "```", //                                         13
  "", //                                            14
  "```ts {#throw}", //                              15
  "const detail = {", //                            16
  "  size: shape.size,", //                         17
  "};", //                                          18
  "if (detail.size) throw new Error(`boom ${detail.size}`);", // 19
  "throw new Error(`boom`);", //                    20
  "```", //                                         21
);

async function run(cwd: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("a runtime stack trace from lib/ points at the Markdown line", async () => {
  const root = await tempProject({
    "spec/01-a.md": CHAPTER,
    "main.ts": 'import { boom } from "./lib/boom.ts";\nboom({ size: 1 });\n',
  });
  assert.equal((await run(root, ["run", "-A", `${repo}tools/tangle.ts`])).code, 0);
  const { code, text } = await run(root, ["run", "main.ts"]);
  assert.notEqual(code, 0);
  // `new Error` is on Markdown line 19, column 24 (indented by 2 more in lib/).
  assert.match(text, /at boom \(file:\/\/\/.*\/spec\/01-a\.md:19:24\)/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("deno task check reports type errors of model code and illustrations at spec lines", async () => {
  const root = await tempProject({
    "spec/01-a.md": md(
      "# A", //                                     1
      "", //                                        2
      "```ts {#a file=lib/a.ts}", //                3
      "export function f(): number {", //           4
      "  <<body>>", //                              5
      "}", //                                       6
      "```", //                                     7
      "", //                                        8
      "```ts {#body}", //                           9
      'const s: number = "text";', //              10
      "return s;", //                               11
      "```", //                                     12
      "", //                                        13
      "- a list item holding an illustration:", //  14
      "", //                                        15
      "  ```ts", //                                 16
      '  import { f } from "../lib/a.ts";', //      17
      "  const n: string = f();", //                18
      "  ```", //                                   19
    ),
  });
  const { code, text } = await run(root, ["run", "-A", `${repo}tools/check.ts`]);
  assert.equal(code, 1);
  assert.match(text, /TS2322[^\n]*\n[^\n]*\n[^\n]*\n\s+at spec\/01-a\.md:10:7\n/);
  assert.match(text, /TS2322[^\n]*\n[^\n]*\n[^\n]*\n\s+at spec\/01-a\.md:18:9\n/);
  assert.doesNotMatch(text, /lib\/a\.ts:\d/, "no location is left in generated code");
  await Deno.remove(root, { recursive: true });
});

Deno.test("deno task lint reports findings in lib/ at spec lines", async () => {
  const root = await tempProject({
    "spec/01-a.md": md(
      "# A",
      "",
      "```ts {file=lib/a.ts}",
      "export const x = 1;",
      "let unused = 2;",
      "```",
    ),
  });
  const { code, text } = await run(root, ["run", "-A", `${repo}tools/check.ts`, "--lint"]);
  assert.equal(code, 1);
  assert.match(text, /spec\/01-a\.md:5:5/);
  await Deno.remove(root, { recursive: true });
});
