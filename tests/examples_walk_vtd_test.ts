/**
 * examples/walk.ts traces VT-d walks too (issue 12 item 6): the nested worked vector N1 read by
 * read, a second-stage fault with its reason and check, and a VT-d file written by
 * `deno task vectors export`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { VECTOR_FORMATS } from "../tools/vectors.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

async function walk(...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "examples/walk.ts", ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("examples/walk.ts vtd:N1: the nested VT-d walk, 24 reads, to HPA 0x80005567", async () => {
  const out = await walk("vtd:N1");
  assert.match(out, /^N1 \(worked\): VT-d nested \(FS over SS\), second stage 4-level scalable/m);
  assert.equal((out.match(/^ +\d+\. 0x/gm) ?? []).length, 24);
  assert.match(out, /^ {3}5\. 0x80001008 +first stage, level 4: 0x2027 /m);
  assert.match(out, /^ {2}24\. 0x103028 +second stage, level 1: 0x80005003 /m);
  assert.match(out, /^→ PA 0x80005567 \(4 KiB page, rw, 24 reads\)$/m);
});

Deno.test("examples/walk.ts V2 and --list: a VT-d fault with its reason and check; every worked id", async () => {
  const out = await walk("V2");
  assert.match(out, /^→ fault 0x5 VTD_FR_WRITE .* at SS level 1 \[vtd-ss-check-perm\], 4 reads$/m);
  const list = await walk("--list");
  for (const id of ["R1", "R18", "V1", "F5b", "N1"]) assert.match(list, new RegExp(`^${id} `, "m"));
});

Deno.test("examples/walk.ts ID FILE: a VT-d vector file from vectors export", async () => {
  // The file `deno task vectors export DIR --seed=4` writes (its CLI is tested in
  // tests/tools/vtd_vectors_test.ts), made here by the same exporter without a process of its own.
  const dir = await Deno.makeTempDir();
  try {
    const name = "vtd-random-4.json";
    await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(VECTOR_FORMATS.vtd.export(4)[name]));
    const file = JSON.parse(await Deno.readTextFile(`${dir}/${name}`));
    const v = file.vectors.find((x: { walk: string; expect: { ok: boolean } }) =>
      x.walk === "nested" && x.expect.ok
    );
    const out = await walk(v.id, `${dir}/vtd-random-4.json`);
    assert.equal((out.match(/^ +\d+\. 0x/gm) ?? []).length, v.reads.length);
    assert.match(out, new RegExp(`^→ PA ${v.expect.pa_hex} `, "m"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
