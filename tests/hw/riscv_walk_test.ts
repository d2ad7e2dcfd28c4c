/**
 * The RISC-V walker (spec/21-riscv-iommu.md): the hand-derived worked vectors R1–R18, the vectors
 * the RISC-V IOMMU reference model produced (tests/fixtures/riscv-ref-vectors.json, provenance in
 * the file), the iotval2 policy split, and seeded random vectors that round-trip through JSON.
 */
import assert from "node:assert/strict";
import {
  PtSparseMemory,
  ptWalk,
  RISCV_PTE_A,
  riscvFormat,
  riscvRandomVectors,
  riscvTranslate,
  riscvVectorCheck,
  type RiscvVectorFile,
  riscvVectorRun,
  riscvWorkedVectors,
} from "../../lib/internal.ts";

const fixture = (): RiscvVectorFile =>
  JSON.parse(Deno.readTextFileSync(new URL("../fixtures/riscv-ref-vectors.json", import.meta.url)));

Deno.test("riscv worked vectors R1–R18 pass with their causes, read order and A/D writes", () => {
  const file = riscvWorkedVectors();
  assert.equal(file.vectors.length, 18);
  for (const v of file.vectors) assert.deepEqual(riscvVectorRun(file, v), [], v.id);
  const r15 = file.vectors.find((v) => v.id === "R15")!;
  assert.equal(r15.reads.length, 15, "Sv39 over Sv39x4: n(m+1)+m = 15 reads");
});

Deno.test("riscv worked vectors: a wrong expectation is reported, field by field", () => {
  const file = riscvWorkedVectors();
  const v = structuredClone(file.vectors[0]);
  v.expect = { ok: true, pa_hex: "0xabcdef000", size: 4096 };
  v.reads = v.reads.slice(1);
  const problems = riscvVectorRun(file, v);
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^pa_hex: expected 0xabcdef000, model 0xabcdef89a$/);
  assert.match(problems[1], /^reads: /);
});

Deno.test("riscv reference-model vectors (riscv-iommu 14fd391) all pass under their policy", () => {
  const file = fixture();
  assert.match(file.source, /riscv-non-isa\/riscv-iommu@/);
  const r = riscvVectorCheck(file);
  assert.deepEqual(r.lines, []);
  assert.equal(r.passed, file.vectors.length);
  assert.ok(r.passed >= 50);
});

Deno.test("riscv iotval2 of an implicit guest-page fault: the spec's entry GPA vs the reference model's table GPA", () => {
  const file = fixture();
  file.policy.iotval2_implicit = "entry-gpa";
  const failing = file.vectors.filter((v) => riscvVectorRun(file, v).length > 0).map((v) => v.id);
  assert.ok(failing.includes("R16") && failing.includes("R17"), `${failing}`);
  for (const id of failing) {
    const v = file.vectors.find((x) => x.id === id)!;
    assert.ok(
      !v.expect.ok && BigInt(v.expect.iotval2_hex!) & 1n,
      `${id} is an implicit-access fault`,
    );
  }
  assert.equal(riscvVectorRun(riscvWorkedVectors(), riscvWorkedVectors().vectors[15]).length, 0);
});

Deno.test("riscv NAPOT size: the reference model reports 4 KiB, the model 64 KiB; the policy reconciles", () => {
  const file = fixture();
  const r7 = file.vectors.find((v) => v.id === "R7")!;
  assert.deepEqual(r7.expect, { ok: true, pa_hex: "0xabcd789a", size: 4096 });
  file.policy.napot_size = 65536;
  assert.deepEqual(riscvVectorRun(file, r7), ["size: expected 4096, model 65536"]);
});

Deno.test("riscv seeded random vectors: every fault class appears, and JSON export → check round-trips", () => {
  for (const seed of [1, 2, 3]) {
    const file = riscvRandomVectors(seed, 16);
    const json: RiscvVectorFile = JSON.parse(JSON.stringify(file));
    const r = riscvVectorCheck(json);
    assert.deepEqual(r.lines, []);
    assert.equal(r.passed, file.vectors.length);
    const causes = new Set(file.vectors.map((v) => (v.expect.ok ? 0 : v.expect.cause)));
    for (const c of [0, 12, 13, 15, 20, 21, 23]) {
      assert.ok(causes.has(c), `seed ${seed}: cause ${c} missing`);
    }
    assert.deepEqual(riscvRandomVectors(seed, 16), file, "same seed, same vectors");
  }
});

Deno.test("riscv random vectors detect a model change: flipping the U rule for G leaves fails some", () => {
  const file = riscvRandomVectors(5, 16);
  // pretend the producer saw every G-stage U-fault as success: the checker must notice
  let changed = 0;
  for (const v of file.vectors) {
    if (!v.expect.ok && (v.expect.cause === 21 || v.expect.cause === 23) && v.stage === "g") {
      v.expect = { ok: true, pa_hex: "0x0", size: 4096 };
      changed++;
    }
  }
  assert.ok(changed > 0);
  assert.equal(riscvVectorCheck(file).failed, changed);
});

Deno.test("riscv G stage: the root is indexed by 11 bits and the GPA must be zero-extended", () => {
  const fmt = riscvFormat(8, true);
  assert.equal(fmt.indexBits(2), 11);
  assert.equal(fmt.inputOk((1n << 41n) - 1n), true);
  assert.equal(fmt.inputOk(1n << 41n), false);
  assert.equal(fmt.inputOk(0xffff_ffff_ffff_f000n), false, "no sign extension in the G stage");
  assert.equal(
    riscvFormat(8, false).inputOk(0xffff_ffc0_0000_0000n),
    true,
    "Sv39 is sign-extended",
  );
});

Deno.test("riscv PTE decode: every reserved encoding is a page fault, in the reference model's order", () => {
  const fmt = riscvFormat(9, false);
  const leaf = 0x2af37bcd7n;
  const cases: [bigint, number, string][] = [
    [leaf & ~1n, 0, "V=0"],
    [(leaf & ~2n) | 4n, 0, "W without R"],
    [leaf | (3n << 61n), 0, "PBMT=3 reserved"],
    [leaf | (1n << 54n), 0, "reserved bits 60:54"],
    [leaf | (1n << 63n), 1, "N above level 0"],
    [(0x40n << 10n) | 1n | (1n << 61n), 1, "PBMT in a pointer"],
    [(0x40n << 10n) | 1n | RISCV_PTE_A, 1, "D/A/U in a pointer"],
    [(0x40001n << 10n) | 0xd7n, 1, "misaligned superpage"],
    [leaf | (1n << 63n), 0, "reserved NAPOT encoding"],
  ];
  for (const [e, level, why] of cases) {
    assert.deepEqual(fmt.decode(e, level), { kind: "fault", why });
  }
  assert.deepEqual(fmt.decode((0x40000n << 10n) | 0xd7n | (1n << 61n), 1), {
    kind: "leaf",
    oa: 0x4000_0000n,
    sizeShift: 21,
  }, "Svpbmt NC on a leaf is fine");
});

Deno.test("riscv S-mode: SUM opens user pages to reads and writes, never to execution", () => {
  const mem = new PtSparseMemory();
  for (const [a, v] of riscvWorkedVectors().tables[0]) mem.write64(BigInt(a), BigInt(v) | 8n);
  const cfg = {
    iosatp: { mode: 8, ppn: 0x100n },
    iohgatp: { mode: 0, ppn: 0n },
    sade: false,
    gade: false,
    pas: 56,
    priv: "s" as const,
    sum: true,
  };
  // table entries got X too: make the pointers pointers again
  mem.write64(0x100240n, 0x40401n);
  mem.write64(0x101d10n, 0x40801n);
  assert.equal(riscvTranslate(mem, cfg, 0x123456789an, "r").ok, true);
  assert.equal(riscvTranslate(mem, cfg, 0x123456789an, "w").ok, true);
  assert.deepEqual(
    (riscvTranslate(mem, cfg, 0x123456789an, "x") as { cause: number }).cause,
    12,
  );
  assert.equal(riscvTranslate(mem, { ...cfg, priv: "u" }, 0x123456789an, "x").ok, true);
});

Deno.test("generic walker: a hook in front of every table access sees each entry address once, in order", () => {
  const mem = new PtSparseMemory();
  for (const [a, v] of riscvWorkedVectors().tables[0]) mem.write64(BigInt(a), BigInt(v));
  const seen: bigint[] = [];
  const w = ptWalk(
    riscvFormat(8, false),
    mem,
    0x100000n,
    0x123456789an,
    { access: "r", priv: "u" },
    {
      tableAddress(a) {
        seen.push(a);
        return { ok: true, pa: a, writable: true };
      },
    },
  );
  assert.equal(w.ok, true);
  assert.deepEqual(seen, [0x100240n, 0x101d10n, 0x102b38n]);
});
