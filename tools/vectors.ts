/**
 * `deno task vectors export [DIR]` writes JSON page-walk vectors for every format that has a
 * runner (riscv-iommu, vtd, arm-smmuv3, amd-v1) into DIR (default `vectors-out/`): the worked vectors and seeded
 * random tables. `deno task vectors check FILE…` runs files against the model, prints each
 * disagreement and ends with `vectors: N passed, M failed` (exit 1 when M > 0).
 *
 * The schemas are documented in spec/21-riscv-iommu.md#riscv-vectors and
 * spec/17-vtd-page-walk.md#vtd-vectors-json, spec/22-arm-smmuv3.md#arm-vectors and
 * spec/23-amd-iommu-v1.md#amd-vectors. A file without a
 * `format` field is a RISC-V file (the
 * reference-model form).
 */
import {
  amdRandomVectors,
  amdVectorCheck,
  type AmdVectorFile,
  amdWorkedVectors,
  armRandomVectors,
  armVectorCheck,
  type ArmVectorFile,
  armWorkedVectors,
  riscvRandomVectors,
  riscvVectorCheck,
  type RiscvVectorFile,
  riscvWorkedVectors,
  vtdRandomVectors,
  vtdVectorCheck,
  type VtdVectorFile,
  vtdWorkedVectors,
} from "../lib/internal.ts";

/** A format's vector runner: what export writes and how check runs a file. */
export interface VectorFormat {
  /** Files to write on export, by name. */
  export(seed: number): Record<string, unknown>;
  check(file: unknown): { passed: number; failed: number; lines: string[] };
}

/** Every format with vectors. A new format adds one entry here. */
export const VECTOR_FORMATS: Record<string, VectorFormat> = {
  "riscv-iommu": {
    export: (seed) => ({
      "riscv-iommu-worked.json": riscvWorkedVectors(),
      [`riscv-iommu-random-${seed}.json`]: riscvRandomVectors(seed),
    }),
    check: (file) => riscvVectorCheck(file as RiscvVectorFile),
  },
  vtd: {
    export: (seed) => ({
      "vtd-worked.json": vtdWorkedVectors(),
      [`vtd-random-${seed}.json`]: vtdRandomVectors(seed),
    }),
    check: (file) => vtdVectorCheck(file as VtdVectorFile),
  },
  "arm-smmuv3": {
    export: (seed) => ({
      "arm-smmuv3-worked.json": armWorkedVectors(),
      [`arm-smmuv3-random-${seed}.json`]: armRandomVectors(seed),
    }),
    check: (file) => armVectorCheck(file as ArmVectorFile),
  },
  "amd-v1": {
    export: (seed) => ({
      "amd-v1-worked.json": amdWorkedVectors(),
      [`amd-v1-random-${seed}.json`]: amdRandomVectors(seed),
    }),
    check: (file) => amdVectorCheck(file as AmdVectorFile),
  },
};

/** Checks one parsed file; the format comes from its `format` field (default riscv-iommu). */
export function checkVectorFile(
  file: { format?: string },
): { passed: number; failed: number; lines: string[] } {
  const name = file.format ?? "riscv-iommu";
  const fmt = VECTOR_FORMATS[name];
  if (!fmt) return { passed: 0, failed: 1, lines: [`no vector runner for format "${name}"`] };
  return fmt.check(file);
}

if (import.meta.main) {
  const [cmd, ...args] = Deno.args;
  if (cmd === "export") {
    const dir = args.find((a) => !a.startsWith("--")) ?? "vectors-out";
    const seed = Number(args.find((a) => a.startsWith("--seed="))?.slice(7) ?? 1);
    await Deno.mkdir(dir, { recursive: true });
    for (const [fname, fmt] of Object.entries(VECTOR_FORMATS)) {
      for (const [name, data] of Object.entries(fmt.export(seed))) {
        await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(data, null, 1) + "\n");
        const n = (data as { vectors?: unknown[] }).vectors?.length ?? 0;
        console.log(`${fname}: ${dir}/${name} (${n} vectors)`);
      }
    }
  } else if (cmd === "check" && args.length > 0) {
    let passed = 0, failed = 0;
    for (const path of args) {
      const r = checkVectorFile(JSON.parse(await Deno.readTextFile(path)));
      for (const line of r.lines) console.log(`${path}: ${line}`);
      passed += r.passed;
      failed += r.failed;
    }
    console.log(`vectors: ${passed} passed, ${failed} failed`);
    if (failed > 0) Deno.exit(1);
  } else {
    console.error("usage: deno task vectors export [DIR] [--seed=N] | check FILE…");
    Deno.exit(2);
  }
}
