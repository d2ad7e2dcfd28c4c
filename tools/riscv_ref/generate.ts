/**
 * Regenerates tests/fixtures/riscv-ref-vectors.json from the RISC-V IOMMU reference model.
 *
 * Not run by any test. Needs a built reference model (riscv-non-isa/riscv-iommu, `make` in
 * iommu_ref_model) and the throw-away harness beside this file, built with:
 *
 *   gcc -O1 -w --coverage -I$REF/iommu_ref_model/libiommu/include -o harness harness.c \
 *       $REF/iommu_ref_model/libiommu/libiommu.a
 *
 * Usage: deno run -A tools/riscv_ref/generate.ts ./harness [commit] > tests/fixtures/riscv-ref-vectors.json
 *
 * The requests (tables, roots, accesses) come from this model's worked vectors and a small seeded
 * random set; every `expect`, `reads` and `writes` field comes from the reference model.
 */
import {
  riscvModeNumber,
  riscvRandomVectors,
  type RiscvVector,
  type RiscvVectorFile,
  riscvWorkedVectors,
} from "../../lib/internal.ts";

const [harness, commit = "14fd391"] = Deno.args;
const inputs = [riscvWorkedVectors(), riscvRandomVectors(7, 4)];
const out: RiscvVectorFile = {
  source: `riscv-non-isa/riscv-iommu@${commit} iommu_ref_model (libiommu.a)`,
  generator:
    "tools/riscv_ref/harness.c: two_stage_address_translation() then second_stage_address_translation() on the final GPA, memory callbacks logging every read (AMO reads included) and write",
  policy: { iotval2_implicit: "table-gpa", napot_size: 4096 },
  config: {
    svpbmt: true,
    napot: true,
    sxl: 0,
    gxl: 0,
    exec: "untranslated read-for-execute, needs X only",
  },
  tables: [],
  vectors: [],
};
let script = "";
const order: RiscvVector[] = [];
for (const f of inputs) {
  for (const v of f.vectors) {
    script += "C\n";
    for (const [pa, val] of f.tables[v.table]) {
      script += `M ${BigInt(pa).toString(16)} ${BigInt(val).toString(16)}\n`;
    }
    const k = out.tables.indexOf(f.tables[v.table]);
    const table = k >= 0 ? k : out.tables.push(f.tables[v.table]) - 1;
    const r = v.request;
    script += `V ${v.id} ${riscvModeNumber(v.iosatp.mode)} ${
      BigInt(v.iosatp.ppn_hex).toString(16)
    } ${riscvModeNumber(v.iohgatp.mode)} ${BigInt(v.iohgatp.ppn_hex).toString(16)} ${+v.sade} ${+v
      .gade} ${v.pas} ${BigInt(r.iova_hex).toString(16)} ${r.access} ${r.priv === "s" ? 1 : 0} ${+r
      .sum}\n`;
    order.push({ ...v, table, tags: [...v.tags, "ref-model"] });
  }
}
const p = new Deno.Command(harness, { stdin: "piped", stdout: "piped" }).spawn();
const w = p.stdin.getWriter();
await w.write(new TextEncoder().encode(script));
await w.close();
const lines = new TextDecoder().decode((await p.output()).stdout).trim().split("\n");
const hex = (s: string) => `0x${s}`;
lines.forEach((line, i) => {
  const v = order[i];
  const [head, reads, writes] = line.split(" |");
  const f = head.split(" ");
  if (f[2] === "ok") {
    const [pa, gpa, sSz, gSz] = f.slice(3, 7).map((x) => BigInt(`0x${x}`));
    const size = v.stage === "two" ? (sSz < gSz ? sSz : gSz) : v.stage === "s" ? sSz : gSz;
    v.expect = { ok: true, pa_hex: `0x${pa.toString(16)}`, size: Number(size) };
    if (v.stage === "two") {
      Object.assign(v.expect, {
        gpa_hex: `0x${gpa.toString(16)}`,
        s_size: Number(sSz),
        g_size: Number(gSz),
      });
    }
  } else {
    const cause = Number(f[3]);
    v.expect = [20, 21, 23].includes(cause)
      ? { ok: false, cause, iotval2_hex: hex(f[4]) }
      : { ok: false, cause };
  }
  v.reads = reads.trim() ? reads.trim().split(" ").map(hex) : [];
  v.writes = writes.trim()
    ? writes.trim().split(" ").map((x) => x.split("=").map(hex) as [string, string])
    : [];
  out.vectors.push(v);
});
console.log(JSON.stringify(out));
