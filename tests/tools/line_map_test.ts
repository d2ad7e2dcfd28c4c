import assert from "node:assert/strict";
import { md, tempProject } from "./fixture.ts";

const repo = new URL("../../", import.meta.url).pathname;

const CHAPTER = md(
  "# A", //                                         1
  "", //                                            2
  "```ts {#boom file=lib/boom.ts}", //              3
  "export function boom(): never {", //             4
  "  <<throw>>", //                                 5
  "}", //                                           6
  "```", //                                         7
  "", //                                            8
  "```ts {#throw}", //                              9
  "const detail = `at ${'spec'}`;", //              10
  "throw new Error(`boom ${detail}`);", //          11
  "```", //                                         12
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
    "main.ts": 'import { boom } from "./lib/boom.ts";\nboom();\n',
  });
  assert.equal((await run(root, ["run", "-A", `${repo}tools/tangle.ts`])).code, 0);
  const { code, text } = await run(root, ["run", "main.ts"]);
  assert.notEqual(code, 0);
  // `throw` is on Markdown line 11, indented by 2 in lib/ but at column 1 in the chapter.
  assert.match(text, /at boom \(file:\/\/\/.*\/spec\/01-a\.md:11:1\)/);
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
