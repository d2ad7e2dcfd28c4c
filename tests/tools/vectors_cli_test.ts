/**
 * `deno task vectors`: export writes every format's files; check runs them, reports each
 * disagreement, and ends with `vectors: N passed, M failed` (exit 1 on failures).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

async function vectors(...args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-write", "tools/vectors.ts", ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: new TextDecoder().decode(r.stdout) };
}

Deno.test("vectors export then check round-trips, and the reference-model fixture passes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const e = await vectors("export", dir, "--seed=3");
    assert.equal(e.code, 0);
    assert.match(e.out, /riscv-iommu: .*riscv-iommu-worked\.json \(18 vectors\)/);
    const files = [...Deno.readDirSync(dir)].map((f) => `${dir}/${f.name}`).sort();
    assert.equal(files.filter((f) => f.includes("/riscv-iommu-")).length, 2);
    assert.equal(
      files.length,
      8,
      "riscv-iommu, vtd, arm-smmuv3 and amd-v1: worked and random each",
    );
    const c = await vectors("check", ...files, "tests/fixtures/riscv-ref-vectors.json");
    assert.equal(c.code, 0);
    assert.match(c.out, /^vectors: \d+ passed, 0 failed\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vectors check reports each disagreement and counts failures", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = JSON.parse(
      await Deno.readTextFile(`${root}/tests/fixtures/riscv-ref-vectors.json`),
    );
    delete file.format; // the reference-model form has no format field
    file.vectors = file.vectors.slice(0, 3);
    file.vectors[0].expect = { ok: false, cause: 13 };
    file.vectors[2].reads = [];
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify(file));
    const c = await vectors("check", `${dir}/bad.json`);
    assert.equal(c.code, 1);
    const lines = c.out.trim().split("\n");
    assert.equal(lines.at(-1), "vectors: 1 passed, 2 failed");
    assert.ok(
      lines.some((l) => l.includes(`${file.vectors[0].id}: ok: expected false, model true`)),
    );
    assert.ok(lines.some((l) => l.includes(`${file.vectors[2].id}: reads: expected []`)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
