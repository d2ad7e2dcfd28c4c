/**
 * Toolchain errors are never silent (issue 11, item 5): an unclosed fence, bytes that are not
 * UTF-8, CRLF line endings and bad `serve --port` values each give a clear error or a clean
 * result, never a misleading one.
 */
import assert from "node:assert/strict";
import { tangleLib } from "../../tools/literate/lib_dir.ts";
import { parseMarkdown } from "../../tools/literate/spec.ts";
import { mapBack } from "../../tools/literate/tangle.ts";
import { md, tangleOf, tempProject, where } from "./fixture.ts";

const repo = new URL("../../", import.meta.url).pathname;

// The first block lacks its closing fence: the second block's closing fence closes it.
const UNCLOSED_MID = md(
  "# A", //                                  1
  "", //                                     2
  "```ts {#main file=lib/a.ts}", //          3
  "export function f() {", //                4
  "  <<body>>", //                           5
  "}", //                                    6
  "", //                                     7  (the closing fence is missing)
  "The body:", //                            8
  "", //                                     9
  "```ts {#body}", //                        10
  "<<main-helper>>", //                      11
  "```", //                                  12
  "", //                                     13
  "```ts {#main-helper}", //                 14
  "return <<body>>;", //                     15
  "```", //                                  16
);

Deno.test("unclosed fence mid-chapter: named at its opening fence, nothing misleading besides", () => {
  const t = tangleOf({ "spec/01-a.md": UNCLOSED_MID });
  assert.deepEqual(where(t.problems), [
    "spec/01-a.md:3:1: unclosed code fence: the block runs on to the fence at line 10 " +
    "(```ts {#body}); close it before that",
  ]);
  assert.deepEqual(t.files, []);
});

Deno.test("unclosed fence before an illustration: the fence it took as its end is named too", () => {
  const text = md(
    "# A", //                                  1
    "", //                                     2
    "```ts {file=lib/a.ts}", //                3
    "export const a = 1;", //                  4
    "", //                                     5  (the closing fence is missing)
    "For example:", //                         6
    "", //                                     7
    "```", //                                  8  closes the block at line 3
    "a;", //                                   9
    "```", //                                  10 opens a block
    "", //                                     11
    "```ts {file=lib/b.ts}", //                12
    "export const b = 1;", //                  13
    "```", //                                  14
  );
  assert.deepEqual(where(tangleOf({ "spec/01-a.md": text }).problems), [
    "spec/01-a.md:10:1: unclosed code fence: the block runs on to the fence at line 12 " +
    "(```ts {file=lib/b.ts}); close it before that; if this fence was meant to close a block, " +
    "the block at line 3 is the one left open: it ends only at line 8",
  ]);
});

Deno.test("unclosed fence at the end of a chapter: an error, not silently the rest of the file", () => {
  const text = md("# A", "", "```ts {file=lib/a.ts}", "export const a = 1;", "", "More prose.");
  const t = tangleOf({ "spec/01-a.md": text });
  assert.deepEqual(where(t.problems), [
    "spec/01-a.md:3:1: unclosed code fence: the block runs to the end of the chapter",
  ]);
  // An opening fence on the chapter's last line, with no newline after it.
  const bare = tangleOf({ "spec/01-a.md": "# A\n\nText.\n\n```" });
  assert.deepEqual(where(bare.problems), [
    "spec/01-a.md:5:1: unclosed code fence: the block runs to the end of the chapter",
  ]);
});

Deno.test("unclosed fence inside a block quote is named; closed and nested fences are not", () => {
  const quoted = md("# A", "", "> ```ts", "> x;", "", "Prose.");
  assert.deepEqual(where(tangleOf({ "spec/01-a.md": quoted }).problems), [
    "spec/01-a.md:3:3: unclosed code fence: the block runs to the end of the list item or " +
    "block quote it is in",
  ]);
  const fine = md(
    "# A",
    "",
    "````md", // a longer fence may show shorter ones
    "```ts {#x}",
    "```",
    "````",
    "",
    "> ```ts",
    "> y;",
    "> ```",
    "",
    "- item",
    "",
    "  ~~~ts",
    "  z;",
    "  ~~~~",
    "",
    "    indented code",
    "",
    "```ts {file=lib/a.ts}",
    "export const a = 1;",
    "```",
  );
  const t = tangleOf({ "spec/01-a.md": fine });
  assert.deepEqual(where(t.problems), []);
  assert.equal(t.files.length, 1);
});

Deno.test("a chapter that is not UTF-8: an error at its line, and lib/ is not written", async () => {
  const root = await tempProject({ "spec/01-a.md": "" });
  const head = new TextEncoder().encode(
    md("# A", "", "```ts {file=lib/a.ts}", 'export const s = "'),
  );
  // "é" in Latin-1 (0xe9), then `";`.
  const bytes = new Uint8Array([
    ...head.slice(0, -1),
    0xe9,
    0x22,
    0x3b,
    0x0a,
    ...new TextEncoder().encode("```\n"),
  ]);
  await Deno.writeFile(`${root}/spec/01-a.md`, bytes);
  const result = await tangleLib(root, "write");
  assert.deepEqual(where(result.problems), [
    "spec/01-a.md:4:19: not UTF-8: byte 0xe9; save the chapter as UTF-8",
  ]);
  assert.deepEqual(result.changed, []);
  await assert.rejects(Deno.stat(`${root}/lib/a.ts`), Deno.errors.NotFound);
});

Deno.test("CRLF chapters: lib/ is LF-only and positions keep their lines", async () => {
  const lf = md(
    "# A", //                              1
    "", //                                 2
    "```ts {#main file=lib/a.ts}", //      3
    "export function f(): number {", //    4
    "  <<body>>", //                       5
    "}", //                                6
    "```", //                              7
    "", //                                 8
    "```ts {#body}", //                    9
    "return 1;", //                        10
    "```", //                              11
  );
  const crlf = lf.replaceAll("\n", "\r\n");
  const root = await tempProject({ "spec/01-a.md": crlf });
  const result = await tangleLib(root, "write");
  assert.deepEqual(where(result.problems), []);
  const written = await Deno.readTextFile(`${root}/lib/a.ts`);
  assert.ok(!written.includes("\r"), "lib/a.ts has a CR");
  const [file] = result.tangle.files;
  const line = file.text.split("\n").indexOf("  return 1;") + 1;
  assert.deepEqual(mapBack(file, line, 3), { path: "spec/01-a.md", line: 10, column: 1 });
  // A problem in a CRLF chapter is at the right line, and so is one with lone CRs.
  const broken = crlf.replace("<<body>>", "<<nobody>>");
  assert.deepEqual(where(tangleOf({ "spec/01-a.md": broken }).problems), [
    "spec/01-a.md:5:3: undefined fragment <<nobody>>",
    "spec/01-a.md:9:1: unused fragment #body: no <<body>> refers to it",
  ]);
  const cr = tangleOf({ "spec/01-a.md": lf.replaceAll("\n", "\r") });
  assert.deepEqual(where(cr.problems), []);
  assert.ok(!cr.files[0].text.includes("\r"));
});

async function serve(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${repo}tools/serve.ts`, ...args],
    cwd: repo,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("serve: a bad --port exits 1 with one line", async () => {
  for (const port of ["abc", "70000", "80.5", ""]) {
    const { code, stdout, stderr } = await serve([`--port=${port}`]);
    assert.equal(code, 1, `--port=${port}`);
    assert.equal(stdout, "");
    assert.equal(
      stderr,
      `serve: bad port "${port}": a port is a number from 0 (any free port) to 65535\n`,
    );
  }
});

Deno.test("serve: when every port of the range is busy it exits 1 with one line", async () => {
  // Hold 20 consecutive ports; start over elsewhere when one is taken already.
  let held: Deno.Listener[] = [];
  let first = 0;
  for (let tries = 0; held.length < 20 && tries < 50; tries++) {
    held.forEach((l) => l.close());
    held = [];
    first = 20000 + Math.floor(Math.random() * 40000);
    try {
      for (let p = first; p < first + 20; p++) {
        held.push(Deno.listen({ hostname: "127.0.0.1", port: p }));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    }
  }
  try {
    assert.equal(held.length, 20);
    const { code, stdout, stderr } = await serve(["--port", String(first)]);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.equal(
      stderr,
      `serve: ports ${first}–${
        first + 19
      } are all busy; choose another with --port N (or PORT=N)\n`,
    );
  } finally {
    held.forEach((l) => l.close());
  }
});

/** Trees compared as JSON (positions included), so a difference shows where it is. */
function plain(tree: unknown): unknown {
  return JSON.parse(JSON.stringify(tree));
}

/** plain() of both, compared; equal JSON strings pass without parsing them again. */
function assertSameTree(actual: unknown, expected: unknown, message?: string): void {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) assert.deepEqual(JSON.parse(a), JSON.parse(e), message);
}

Deno.test("a big chapter is parsed in pieces; the tree is the whole parse's, on the real spec", async () => {
  const names = [...Deno.readDirSync(`${repo}spec`)].map((e) => e.name).sort();
  const texts = await Promise.all(names.map((n) => Deno.readTextFile(`${repo}spec/${n}`)));
  const text = texts.join("\n");
  assertSameTree(parseMarkdown(text, 2000), parseMarkdown(text, Infinity));
});

Deno.test("parsing in pieces: fences, HTML, lists and definitions across piece ends", () => {
  const blocks = md(
    "- a loose",
    "",
    "- list",
    "",
    "  continued",
    "",
    "1. ordered",
    "",
    "2. loose",
    "",
    "> quote",
    "",
    "> another",
    "",
    "| a | b |",
    "| - | - |",
    "| 1 | 2 |",
    "",
    "Setext",
    "======",
    "",
    "    indented code",
    "",
    "Text with a [link](#t) and https://example.com.",
    "",
  );
  const runOn = md(
    "```ts",
    "code();",
    "",
    "not a boundary: inside a fence",
    "",
    "# nor this",
    "```",
    "",
    "<!-- a comment",
    "",
    "that spans blank lines -->",
    "",
  );
  const unclosed = md("~~~~", "unclosed to the end", "", "text");
  const tricky = `# T\n\n${blocks}${runOn}${blocks}${runOn}${blocks}${unclosed}`;
  const reference = md("# R", "", "See [the spec][s].", "", "[s]: https://example.com");
  for (const text of [tricky, tricky + reference, reference + tricky]) {
    const whole = plain(parseMarkdown(text, Infinity));
    for (const piece of [1, 8, 64]) assert.deepEqual(plain(parseMarkdown(text, piece)), whole);
  }
});
