/**
 * Traces one page walk, entry by entry, from the command line.
 *
 *   deno run examples/walk.ts                      # RISC-V worked vector R15: Sv39 over Sv39x4
 *   deno run examples/walk.ts R7                   # any worked vector by id (R1–R18)
 *   deno run examples/walk.ts N1                   # an Arm SMMUv3 worked vector (A…, G…, S2…, N…)
 *   deno run --allow-read examples/walk.ts ID FILE # a vector from a vector file (any producer)
 *   deno run examples/walk.ts --list               # the worked vectors
 *
 * Formats are looked up in TRACERS by the file's `format` field; a new format adds a tracer.
 * The schemas and the worked vectors are in spec/21-riscv-iommu.md and spec/22-arm-smmuv3.md.
 */
import {
  type ArmVectorFile,
  armVectorSetup,
  armWorkedVectors,
  riscv_translate,
  riscvHex,
  type RiscvVectorFile,
  riscvVectorSetup,
  riscvWorkedVectors,
  smmuTranslate,
} from "../mod.ts";

type Tracer = (file: unknown, id: string) => string[];

const kb = (n: bigint) => (n >= 1n << 20n ? `${n >> 20n} MiB` : `${n >> 10n} KiB`);

/** Traces RISC-V vectors: every entry read, labelled by walk and level, then the outcome. */
function traceRiscv(f: unknown, id: string): string[] {
  const file = f as RiscvVectorFile;
  const v = file.vectors.find((x) => x.id === id);
  if (!v) throw new Error(`no vector ${id}; try --list`);
  const { mem, cfg, iova, access } = riscvVectorSetup(file, v);
  const out = [
    `${v.id} (${v.cat}): ${v.mode}, ${
      access === "r" ? "read" : access === "w" ? "write" : "execute"
    } of ${riscvHex(iova)} by ${v.request.priv === "u" ? "user" : "supervisor"}${
      v.sade ? ", SADE" : ""
    }${v.gade ? ", GADE" : ""}`,
  ];
  let n = 0;
  const t = riscv_translate(
    mem,
    {
      ...cfg,
      trace(walk, input, level, pa, entry, d) {
        const what = d.kind === "table"
          ? `table → ${riscvHex(d.next)}`
          : d.kind === "leaf"
          ? `leaf ${kb(1n << BigInt(d.sizeShift))} at ${riscvHex(d.oa)}`
          : `fault (${d.why})`;
        const label = walk === "s"
          ? "first stage"
          : walk === "g-implicit"
          ? "G stage for table GPA"
          : "G stage for final GPA";
        out.push(
          `  ${String(++n).padStart(2)}. ${riscvHex(pa).padEnd(12)} ${label} ${
            riscvHex(input)
          }, level ${level}: ${riscvHex(entry)} ${what}`,
        );
      },
    },
    iova,
    access,
  );
  for (const [pa, val] of t.writes) out.push(`  A/D write ${riscvHex(pa)} ← ${riscvHex(val)}`);
  if (t.ok) {
    out.push(
      `→ PA ${riscvHex(t.pa)} (${kb(t.size)} translation${
        v.stage === "two" ? `, GPA ${riscvHex(t.gpa)}` : ""
      }, ${t.reads.length} reads)`,
    );
  } else {
    out.push(
      `→ fault, cause ${t.cause}${
        t.iotval2 ? `, iotval2 ${riscvHex(t.iotval2)}` : ""
      } (${t.reads.length} reads)`,
    );
  }
  return out;
}

/** Traces Arm SMMUv3 vectors: every descriptor read, by walk and Arm level, then PA or event. */
function traceArm(f: unknown, id: string): string[] {
  const file = f as ArmVectorFile;
  const v = file.vectors.find((x) => x.id === id);
  if (!v) throw new Error(`no vector ${id}; try --list`);
  const { mem, cfg, iova, access, priv } = armVectorSetup(file, v);
  const out = [
    `${v.id} (${v.cat}): ${v.stages}, ${
      access === "r" ? "read" : access === "w" ? "write" : "instruction fetch"
    } of ${riscvHex(iova)}, ${priv === "u" ? "unprivileged" : "privileged"}`,
  ];
  let n = 0;
  const t = smmuTranslate(mem, cfg, iova, access, {
    priv,
    trace(walk, input, level, pa, entry, d) {
      const what = d.kind === "table"
        ? `table → ${riscvHex(d.next)}`
        : d.kind === "leaf"
        ? `leaf ${kb(1n << BigInt(d.sizeShift))} at ${riscvHex(d.oa)}`
        : `fault (${d.why})`;
      const label = walk === "s1"
        ? "stage 1"
        : walk === "s2-table"
        ? "stage 2 for table IPA"
        : "stage 2 for final IPA";
      out.push(
        `  ${String(++n).padStart(2)}. ${riscvHex(pa).padEnd(12)} ${label} ${
          riscvHex(input)
        }, level ${level}: ${riscvHex(entry)} ${what}`,
      );
    },
  });
  for (const [pa, val] of t.writes) out.push(`  AF write ${riscvHex(pa)} ← ${riscvHex(val)}`);
  if (t.ok) {
    out.push(
      `→ PA ${riscvHex(t.pa)} (${kb(t.size)} translation${
        v.stages === "nested" ? `, IPA ${riscvHex(t.ipa)}` : ""
      }, ${t.reads.length} reads)`,
    );
  } else {
    const e = t.event;
    out.push(
      `→ event 0x${e.id.toString(16)}, S2=${e.s2 ? 1 : 0}, CLASS=${["CD", "TT", "IN"][e.class]}${
        e.s2 && e.ipa !== undefined ? `, IPA ${riscvHex(e.ipa)}` : ""
      } (${t.reads.length} reads)`,
    );
  }
  return out;
}

/** Every format that can be traced, by vector-file `format`. */
const TRACERS: Record<string, Tracer> = { "riscv-iommu": traceRiscv, "arm-smmuv3": traceArm };

const args = Deno.args.filter((a) => !a.startsWith("--"));
if (Deno.args.includes("--list")) {
  for (const v of riscvWorkedVectors().vectors) {
    console.log(`${v.id.padEnd(4)} ${v.cat.padEnd(14)} ${v.mode}`);
  }
  for (const v of armWorkedVectors().vectors) {
    console.log(`${v.id.padEnd(4)} ${v.cat.padEnd(14)} arm-smmuv3 ${v.stages}`);
  }
} else {
  const [id = "R15", path] = args;
  const arm = armWorkedVectors();
  const file = path
    ? JSON.parse(await Deno.readTextFile(path))
    : arm.vectors.some((v) => v.id === id)
    ? arm
    : riscvWorkedVectors();
  const tracer = TRACERS[file.format ?? "riscv-iommu"];
  if (!tracer) throw new Error(`no tracer for format ${file.format}`);
  console.log(tracer(file, id).join("\n"));
}
