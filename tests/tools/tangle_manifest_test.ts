import assert from "node:assert/strict";
import { tangleLib } from "../../tools/literate/lib_dir.ts";
import { MANIFEST, upToDate } from "../../tools/literate/manifest.ts";
import { md, tempProject } from "./fixture.ts";

const A = md("# A", "", "Prose.", "", "```ts {#main file=lib/a.ts}", "export const a = 1;", "```");
const B = md("# B", "", "```ts {#b file=lib/b.ts}", "export const b = a + 1;", "```");
const TANGLE = new URL("../../tools/tangle.ts", import.meta.url).pathname;

/** `deno task tangle` in `root`, with read and write permissions only: the quick path needs no more. */
async function quickTangle(root: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", "--allow-write", "--allow-env", TANGLE, ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("tangle manifest: nothing changed, or only mtimes, stops after hashing; --check too", async () => {
  const root = await tempProject({ "spec/01-a.md": A, "spec/02-b.md": B });
  assert.equal(await upToDate(root, "write"), null, "no manifest yet");
  assert.deepEqual((await tangleLib(root, "write")).problems, []);
  for (const args of [[], ["--check"], ["--prune"]]) {
    const run = await quickTangle(root, ...args);
    assert.equal(run.code, 0, run.text);
    assert.match(run.text, /^tangle: 3 files from 2 chapters; .*unchanged since the last tangle/);
  }
  const now = new Date();
  for (const path of ["spec/01-a.md", "spec/02-b.md", "lib/a.ts"]) {
    await Deno.utime(`${root}/${path}`, now, now);
  }
  assert.ok(await upToDate(root, "check"), "a touched chapter or lib file is not a change");
  await Deno.remove(root, { recursive: true });
});

Deno.test("tangle manifest: a hand edit or a stray file in lib/ fails --check; a prose edit tangles", async () => {
  const root = await tempProject({ "spec/01-a.md": A, "spec/02-b.md": B });
  await tangleLib(root, "write");
  const generated = await Deno.readTextFile(`${root}/lib/b.ts`);

  await Deno.writeTextFile(`${root}/lib/b.ts`, generated.replace("a + 1", "a + 2"));
  assert.equal(await upToDate(root, "check"), null);
  let run = await quickTangle(root, "--check");
  assert.equal(run.code, 1, run.text);
  assert.match(run.text, /^lib\/b\.ts:1:1: differs from a fresh tangle of spec\/02-b\.md/m);
  await Deno.writeTextFile(`${root}/lib/b.ts`, generated);
  assert.ok(await upToDate(root, "check"), "put back as it was: up to date again");

  await Deno.writeTextFile(`${root}/lib/c.ts`, "export const c = 3;\n");
  run = await quickTangle(root, "--check");
  assert.equal(run.code, 1, run.text);
  assert.match(run.text, /^lib\/c\.ts:1:1: stale: no chapter produces this file/m);
  await Deno.remove(`${root}/lib/c.ts`);

  await Deno.remove(`${root}/.cache/srcmap/lib/a.ts.map`);
  assert.ok(await upToDate(root, "check"), "--check does not look at source maps");
  assert.equal(await upToDate(root, "write"), null, "a tangle puts a missing source map back");
  assert.deepEqual((await tangleLib(root, "write")).changed, []);
  await Deno.stat(`${root}/.cache/srcmap/lib/a.ts.map`);
  assert.ok(await upToDate(root, "write"));

  // A prose edit changes no file in lib/, but it moves the lines the source maps point at.
  await Deno.writeTextFile(`${root}/spec/01-a.md`, A.replace("Prose.", "Prose,\nmore prose."));
  assert.equal(await upToDate(root, "write"), null);
  assert.deepEqual((await tangleLib(root, "write")).changed, []);
  assert.ok(await upToDate(root, "write"));

  await Deno.writeTextFile(`${root}/${MANIFEST}`, "{");
  assert.equal(await upToDate(root, "check"), null, "an unreadable manifest is no manifest");
  await Deno.remove(root, { recursive: true });
});

Deno.test("import scans are kept per file: an edit to one chapter scans only the files it changed", async () => {
  const root = await tempProject({ "spec/01-a.md": A, "spec/02-b.md": B });
  const scans = async () => {
    const names = [];
    for await (const e of Deno.readDir(`${root}/.cache/import-scans`)) names.push(e.name);
    return names.sort();
  };
  await tangleLib(root, "write");
  const before = await scans();
  assert.equal(before.length, 2, "one scan per generated file");
  assert.match(await Deno.readTextFile(`${root}/lib/b.ts`), /^import \{ a \} from "\.\/a\.ts";$/m);

  await Deno.writeTextFile(`${root}/spec/02-b.md`, B.replace("a + 1", "a * a"));
  assert.deepEqual((await tangleLib(root, "write")).changed, ["lib/b.ts"]);
  const after = await scans();
  assert.equal(after.length, 2, "the old scan of lib/b.ts is pruned");
  assert.equal(after.filter((n) => before.includes(n)).length, 1, "lib/a.ts's scan is reused");
  const b = await Deno.readTextFile(`${root}/lib/b.ts`);
  assert.match(b, /^import \{ a \} from "\.\/a\.ts";$/m);
  assert.match(b, /^export const b = a \* a;$/m);
  await Deno.remove(root, { recursive: true });
});
