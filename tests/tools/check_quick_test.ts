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
  const root = await tempProject({
    "spec/01-a.md": md(
      "# A", //                                     1
      "", //                                        2
      "```ts {#a file=lib/a.ts}", //                3
      "export function f(): number {", //           4
      '  const s: number = "text";', //             5
      "  let unused = s;", //                       6
      "  return unused;", //                        7
      "}", //                                       8
      "```", //                                     9
      "", //                                        10
      "```ts", //                                   11
      'import { f } from "../lib/a.ts";', //        12
      "const n: string = f();", //                  13
      "```", //                                     14
    ),
  });
  const doc = `${root}/.doc-check/01-a.L11.ts`;
  const typeErrors = (text: string) => {
    assert.match(text, /TS2322[^\n]*\n[^\n]*\n[^\n]*\n\s+at spec\/01-a\.md:5:9\n/);
    assert.match(text, /TS2322[^\n]*\n[^\n]*\n[^\n]*\n\s+at spec\/01-a\.md:13:7\n/);
    assert.doesNotMatch(
      text,
      /lib\/a\.ts:\d|\.doc-check\/\S*:\d/,
      "no location is left in generated code",
    );
  };
  let r = await run(root, ["run", "-A", `${repo}tools/check.ts`]);
  assert.equal(r.code, 1, r.text);
  typeErrors(r.text);
  const written = (await Deno.stat(doc)).mtime;

  // Nothing changed: the illustrations are not written again; the diagnostics map back all the same.
  r = await run(root, ["run", "-A", `${repo}tools/check.ts`]);
  assert.equal(r.code, 1, r.text);
  typeErrors(r.text);
  assert.deepEqual((await Deno.stat(doc)).mtime, written);
  r = await run(root, ["run", "-A", `${repo}tools/check.ts`, "--lint"]);
  assert.equal(r.code, 1, r.text);
  assert.match(r.text, /spec\/01-a\.md:6:7/);

  await Deno.remove(root, { recursive: true });
});
