/**
 * `deno task vectors` with the arm-smmuv3 runner: export writes its worked and random files, check
 * runs them back with no disagreement, a damaged file is reported field by field, and
 * examples/walk.ts traces an Arm vector (the nested N1 walk, 24 reads).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

async function deno(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-write", ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, out: text(r.stdout), err: text(r.stderr) };
}

Deno.test("vectors export then check round-trips the arm-smmuv3 files; damage is reported", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const e = await deno("tools/vectors.ts", "export", dir, "--seed=5");
    assert.equal(e.code, 0);
    assert.match(e.out, /arm-smmuv3: .*arm-smmuv3-worked\.json \(28 vectors\)/);
    assert.match(e.out, /arm-smmuv3: .*arm-smmuv3-random-5\.json \(\d+ vectors\)/);
    const files = [`${dir}/arm-smmuv3-worked.json`, `${dir}/arm-smmuv3-random-5.json`];
    const c = await deno("tools/vectors.ts", "check", ...files);
    assert.equal(c.code, 0, c.out);
    assert.match(c.out, /^vectors: \d+ passed, 0 failed\n$/);
    const file = JSON.parse(await Deno.readTextFile(files[0]));
    file.vectors = file.vectors.slice(0, 2);
    file.vectors[1].expect.event = 0x13;
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify(file));
    const b = await deno("tools/vectors.ts", "check", `${dir}/bad.json`);
    assert.equal(b.code, 1);
    const lines = b.out.trim().split("\n");
    assert.equal(lines.at(-1), "vectors: 1 passed, 1 failed");
    assert.ok(lines.some((l) => l.endsWith("A6: event: expected 19, model 18")), b.out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/walk.ts arm:N1: the nested SMMUv3 walk, 24 reads, stage 2 before every stage-1 read", async () => {
  const { code, out } = await deno("examples/walk.ts", "arm:N1");
  assert.equal(code, 0);
  assert.match(out, /^N1 \(nested\): nested, read of 0x8080604567, unprivileged$/m);
  assert.equal((out.match(/^ +\d+\. 0x/gm) ?? []).length, 24);
  assert.match(out, /^ {3}5\. 0x80001008 +stage 1 0x8080604567, level 0: 0x2003 table → 0x2000$/m);
  assert.match(out, /^→ PA 0x80005567 \(4 KiB translation, IPA 0x5567, 24 reads\)$/m);
});

Deno.test("examples/walk.ts N1: an id two formats share is refused with the prefixed choices", async () => {
  const { code, err } = await deno("examples/walk.ts", "N1");
  assert.notEqual(code, 0);
  assert.match(err, /N1 is a worked vector of 2 formats: say vtd:N1 or arm:N1/);
});
