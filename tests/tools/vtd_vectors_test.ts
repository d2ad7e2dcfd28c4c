/**
 * Issue 12 item 5 for VT-d (spec/17-vtd-page-walk.md#vtd-vectors-json): the exported worked vectors
 * say what the chapter's table says; `vectors export` then `vectors check` round-trips VT-d's files;
 * check reports a wrong fault, a wrong read order and a wrong A/D write, for the model and for the
 * generic walker on VT-d's formats.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { vtdRandomVectors, vtdVectorCheck, vtdWorkedVectors } from "../../lib/internal.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

Deno.test("vtd worked vectors carry the chapter's results", () => {
  const file = vtdWorkedVectors();
  const by = new Map(file.vectors.map((v) => [v.id, v]));
  assert.equal(file.vectors.length, 17);
  assert.deepEqual(by.get("V1")!.expect, {
    ok: true,
    pa_hex: "0x1234567456",
    size: 4096,
    read: true,
    write: true,
  });
  assert.deepEqual(by.get("V1")!.reads, ["0x100558", "0x101e68", "0x102778", "0x103918"]);
  const fault = (id: string) => (by.get(id)!.expect as { fault: number }).fault;
  assert.deepEqual(
    ["V2", "V5", "V6", "V7", "V8", "F2", "F3", "F4", "F5", "F6"].map(fault),
    [0x05, 0x0c, 0x0c, 0x06, 0x04, 0x80, 0x81, 0x71, 0x72, 0x85],
  );
  assert.equal((by.get("V4")!.expect as { pa_hex: string }).pa_hex, "0x801df23456");
  const n1 = by.get("N1")!;
  assert.equal(n1.reads.length, 24);
  assert.deepEqual(n1.expect, {
    ok: true,
    pa_hex: "0x80005567",
    size: 4096,
    read: true,
    write: true,
    gpa_hex: "0x5567",
  });
  // the first stage sets no A/D here (entries carry A), so no writes
  assert.deepEqual(n1.writes, []);
  assert.deepEqual(vtdVectorCheck(file), { passed: 17, failed: 0, lines: [] });
});

Deno.test("vtd random vectors: seeded, varied, and both walkers agree with them", () => {
  const a = vtdRandomVectors(5), b = vtdRandomVectors(5);
  assert.deepEqual(a, b, "same seed, same file");
  assert.notDeepEqual(vtdRandomVectors(6).tables, a.tables);
  const oks = a.vectors.filter((v) => v.expect.ok).length;
  const names = new Set(a.vectors.map((v) => v.expect.ok ? "" : v.expect.name));
  assert.ok(oks > 20 && names.size > 8, `${oks} translations, ${names.size - 1} fault reasons`);
  assert.ok(a.vectors.some((v) => (v.writes ?? []).length > 0), "some walks write A/D");
  const c = vtdVectorCheck(a);
  assert.equal(c.failed, 0, c.lines.join("\n"));
});

Deno.test("vtd vector check reports each disagreement, for the model and the generic walker", () => {
  const file = vtdWorkedVectors();
  const v1 = file.vectors.find((v) => v.id === "V1")!;
  const f6 = file.vectors.find((v) => v.id === "F6")!;
  const n1 = file.vectors.find((v) => v.id === "N1")!;
  v1.expect = { ...v1.expect, pa_hex: "0x1234567000" } as typeof v1.expect;
  f6.expect = { ...f6.expect, fault: 0x81 } as typeof f6.expect;
  n1.reads = [...n1.reads].reverse();
  const written = vtdRandomVectors(5);
  const withWrite = written.vectors.find((v) => (v.writes ?? []).length > 0)!;
  withWrite.writes = [];
  const c = vtdVectorCheck(file);
  assert.equal(c.failed, 3);
  assert.ok(c.lines.includes("V1: pa_hex: expected 0x1234567000, model 0x1234567456"));
  assert.ok(c.lines.includes("V1: pa_hex: expected 0x1234567000, generic walker 0x1234567456"));
  assert.ok(c.lines.includes("F6: fault: expected 129, model 133"));
  assert.ok(
    c.lines.some((l) =>
      l.startsWith("N1: reads: expected [") && l.includes("model [0x100000,0x101000,")
    ),
  );
  const w = vtdVectorCheck(written);
  assert.equal(w.failed, 1);
  assert.ok(w.lines.some((l) => l.startsWith(`${withWrite.id}: writes: expected [], model [0x`)));
});

Deno.test("vectors export then check round-trips VT-d's files through the CLI", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = async (...args: string[]) => {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-read", "--allow-write", "tools/vectors.ts", ...args],
        cwd: root,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: r.code, out: new TextDecoder().decode(r.stdout) };
    };
    const e = await run("export", dir, "--seed=9");
    assert.equal(e.code, 0);
    assert.match(e.out, /vtd: .*vtd-worked\.json \(17 vectors\)/);
    assert.match(e.out, /vtd: .*vtd-random-9\.json \(\d+ vectors\)/);
    const worked = `${dir}/vtd-worked.json`, random = `${dir}/vtd-random-9.json`;
    const c = await run("check", worked, random);
    assert.equal(c.code, 0);
    const n = JSON.parse(await Deno.readTextFile(random)).vectors.length + 17;
    assert.equal(c.out, `vectors: ${n} passed, 0 failed\n`);
    // a broken file fails with its line and the count
    const bad = JSON.parse(await Deno.readTextFile(worked));
    bad.vectors[0].expect.size = 2097152;
    await Deno.writeTextFile(worked, JSON.stringify(bad));
    const b = await run("check", worked);
    assert.equal(b.code, 1);
    assert.match(b.out, /vtd-worked\.json: V1: size: expected 2097152, model 4096\n/);
    assert.match(b.out, /vectors: 16 passed, 1 failed\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
