/**
 * `deno task vectors` with the amd-v1 runner: export writes its worked and random files, check runs
 * them back with no disagreement, a damaged file is reported field by field, and examples/walk.ts
 * traces AMD vectors (M2's skipped level, M6's fault) by id and by the `amd:` prefix.
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

Deno.test("vectors export then check round-trips the amd-v1 files; damage is reported", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const e = await deno("tools/vectors.ts", "export", dir, "--seed=5");
    assert.equal(e.code, 0);
    assert.match(e.out, /amd-v1: .*amd-v1-worked\.json \(15 vectors\)/);
    assert.match(e.out, /amd-v1: .*amd-v1-random-5\.json \(72 vectors\)/);
    const files = [`${dir}/amd-v1-worked.json`, `${dir}/amd-v1-random-5.json`];
    const c = await deno("tools/vectors.ts", "check", ...files);
    assert.equal(c.code, 0, c.out);
    assert.equal(c.out, "vectors: 87 passed, 0 failed\n");
    const random = JSON.parse(await Deno.readTextFile(files[1]));
    const outcomes = new Set(
      random.vectors.map((v: { expect: { ok: boolean; flags?: number } }) =>
        v.expect.ok ? "ok" : v.expect.flags
      ),
    );
    for (const o of ["ok", 0, 0x50, 0x70]) assert.ok(outcomes.has(o), `random outcome ${o}`);
    const file = JSON.parse(await Deno.readTextFile(files[0]));
    file.vectors = file.vectors.slice(0, 3);
    file.vectors[1].expect.pa_hex = "0x55555457";
    file.vectors[2].reads = ["0x400240"];
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify(file));
    const b = await deno("tools/vectors.ts", "check", `${dir}/bad.json`);
    assert.equal(b.code, 1);
    const lines = b.out.trim().split("\n");
    assert.equal(lines.at(-1), "vectors: 1 passed, 2 failed");
    assert.ok(lines.some((l) => l.endsWith("M2: pa_hex: expected 0x55555457, model 0x55555456")));
    assert.ok(lines.some((l) => l.includes("M3: reads: expected [0x400240]")), b.out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/walk.ts amd:M2: three reads, the root pointer skipping a level", async () => {
  const { code, out } = await deno("examples/walk.ts", "amd:M2");
  assert.equal(code, 0);
  assert.match(out, /^M2 \(skip\): AMD v1, DTE mode 4, root 0x410000, read of 0x123456$/m);
  assert.equal((out.match(/^ +\d+\. 0x/gm) ?? []).length, 3);
  assert.match(out, /^ {3}1\. 0x410000 +level 3: .* table → 0x412000 \(skips to level 1\)$/m);
  assert.match(out, /^→ PA 0x55555456 \(4 KiB translation, 3 reads\)$/m);
});

Deno.test("examples/walk.ts M6: a non-zero skipped index is an IO_PAGE_FAULT after one read", async () => {
  const { code, out } = await deno("examples/walk.ts", "M6");
  assert.equal(code, 0);
  assert.match(out, /^→ IO_PAGE_FAULT \(type 2\), flags 0x010: skipped level 2: index not zero/m);
});
