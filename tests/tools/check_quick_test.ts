import assert from "node:assert/strict";
import { md, tempProject } from "./fixture.ts";

const repo = new URL("../../", import.meta.url).pathname;

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

Deno.test("check and lint with nothing changed: no new tangle, and findings still at spec lines", async () => {
  // Type-correct (so a second `deno check` is answered from Deno's cache), but not lint-clean.
  const root = await tempProject({
    "spec/01-a.md": md(
      "# A", //                                     1
      "", //                                        2
      "```ts {#a file=lib/a.ts}", //                3
      "export function f(): number {", //           4
      "  let unused = 1;", //                       5
      "  return unused;", //                        6
      "}", //                                       7
      "```", //                                     8
      "", //                                        9
      "```ts", //                                   10
      'import { f } from "../lib/a.ts";', //        11
      "const n: number = f();", //                  12
      "```", //                                     13
    ),
  });
  const check = () => run(root, ["run", "-A", `${repo}tools/check.ts`]);
  const lint = () => run(root, ["run", "-A", `${repo}tools/check.ts`, "--lint"]);
  const doc = `${root}/.doc-check/01-a.L10.ts`;

  let r = await lint(); // tangles: lib/ and the manifest are written
  assert.equal(r.code, 1, r.text);
  assert.match(r.text, /spec\/01-a\.md:5:7/);
  r = await lint(); // nothing changed: no tangle, unless to map the findings back
  assert.equal(r.code, 1, r.text);
  assert.match(r.text, /spec\/01-a\.md:5:7/);
  assert.doesNotMatch(r.text, /lib\/a\.ts:\d/, "no location is left in generated code");

  r = await check();
  assert.equal(r.code, 0, r.text);
  const written = (await Deno.stat(doc)).mtime;
  r = await check(); // the illustrations are not written again
  assert.equal(r.code, 0, r.text);
  assert.deepEqual((await Deno.stat(doc)).mtime, written);
  await Deno.writeTextFile(doc, "export const edited = 1;\n");
  await check(); // a hand edit of an extracted illustration is undone
  assert.equal(
    await Deno.readTextFile(doc),
    'import { f } from "../lib/a.ts";\nconst n: number = f();\n',
  );
  await Deno.remove(root, { recursive: true });
});
