/**
 * The walk explorer's AMD family (site/panels/walk_amd.ts), run without a browser: it is registered,
 * offers the worked vectors M1–M13, and walks a case — as given or edited — exactly as the model's
 * amdV1Translate does (reads, levels, result).
 */
import assert from "node:assert/strict";
import { amdV1Translate, amdVectorSetup, amdWorkedVectors } from "../../lib/internal.ts";
import { amdWalkFamily } from "../../site/panels/walk_amd.ts";
import { WALK_FAMILIES } from "../../site/panels/walk_formats.ts";

Deno.test("walk explorer: the AMD family is registered and offers M1–M13", () => {
  assert.ok(WALK_FAMILIES.includes(amdWalkFamily));
  assert.equal(new Set(WALK_FAMILIES.map((f) => f.id)).size, WALK_FAMILIES.length);
  const ids = amdWalkFamily.cases().map((c) => c.id);
  for (const id of ["M1", "M2", "M6", "M7", "M13"]) assert.ok(ids.includes(id), id);
});

Deno.test("walk explorer AMD: M2 shows the model's three reads and its PA; M6 its fault", () => {
  const file = amdWorkedVectors();
  const model = (id: string) => {
    const { mem, dte, iova, access } = amdVectorSetup(file, file.vectors.find((v) => v.id === id)!);
    return amdV1Translate(mem, dte, iova, access);
  };
  const m2 = amdWalkFamily.run(amdWalkFamily.cases().find((c) => c.id === "M2")!);
  assert.ok(m2.ok);
  assert.deepEqual(m2.reads.map((r) => r.pa), model("M2").reads);
  assert.deepEqual(m2.reads.map((r) => r.level), [3, 1, 0]);
  assert.match(m2.reads[0].decoded, /^table → 0x412000 \(skips to level 1\) · PR NL=2 IR IW$/);
  assert.match(m2.resultHtml, /PA 0x55555456 \(4 KiB translation, 3 reads\)/);
  const m6 = amdWalkFamily.run(amdWalkFamily.cases().find((c) => c.id === "M6")!);
  assert.ok(!m6.ok);
  assert.equal(m6.reads.length, 1);
  assert.match(m6.resultHtml, /event 2 <code>IO_PAGE_FAULT<\/code>, flags 0x010: skipped level 2/);
});

Deno.test("walk explorer AMD: an edited case walks the edit (M1 as a write, then with IW cleared)", () => {
  const m1 = amdWalkFamily.cases().find((c) => c.id === "M1")!;
  const write = amdWalkFamily.run({ ...m1, access: 1 });
  assert.ok(write.ok);
  const entries = m1.entries.map(([pa, v]) =>
    [pa, pa === 0x402b38n ? v & ~(1n << 62n) : v] as [bigint, bigint]
  );
  const denied = amdWalkFamily.run({ ...m1, access: 1, entries });
  assert.ok(!denied.ok);
  assert.match(denied.resultHtml, /flags 0x070: permission, 3 reads/);
  assert.ok(amdWalkFamily.run({ ...m1, entries }).ok, "a read is still granted");
});
