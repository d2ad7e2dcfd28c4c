/**
 * Traces one page walk, entry by entry, from the command line, in any format the model has.
 *
 *   deno run examples/walk.ts                      # RISC-V worked vector R15: Sv39 over Sv39x4
 *   deno run examples/walk.ts R7                   # any worked vector by id: R1–R18 (RISC-V),
 *   deno run examples/walk.ts V1                   #   V1–V9, F1–F6, F5b, N1 (VT-d),
 *   deno run examples/walk.ts arm:N1               #   A…, G…, S2…, N… (Arm SMMUv3), M1–M13
 *                                                  #   (AMD v1); an id two formats share takes a
 *                                                  #   prefix: vtd:N1, arm:N1, amd:M2
 *   deno run --allow-read examples/walk.ts ID FILE # a vector from a vector file (any producer)
 *   deno run examples/walk.ts --list               # the worked vectors
 *
 * Formats are looked up in TRACERS by the file's `format` field; a new format adds a tracer.
 * The schemas and the worked vectors are in spec/21-riscv-iommu.md, spec/17-vtd-page-walk.md,
 * spec/22-arm-smmuv3.md and spec/23-amd-iommu-v1.md.
 */
import {
  amdV1Translate,
  type AmdVectorFile,
  amdVectorSetup,
  amdWorkedVectors,
  type ArmVectorFile,
  armVectorSetup,
  armWorkedVectors,
  PhysMem,
  riscvHex,
  riscvTranslate,
  type RiscvVectorFile,
  riscvVectorSetup,
  riscvWorkedVectors,
  smmuTranslate,
  VtdFirstStage,
  VtdSecondStage,
  type VtdVectorFile,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
  vtdWorkedVectors,
} from "../mod.ts";

type Tracer = (file: unknown, id: string) => string[];

const kb = (n: bigint) =>
  n >= 1n << 30n ? `${n >> 30n} GiB` : n >= 1n << 20n ? `${n >> 20n} MiB` : `${n >> 10n} KiB`;

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
  const t = riscvTranslate(
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

/** RAM that remembers the value of every entry the VT-d walker reads, in order. */
class RecordingMem extends PhysMem {
  readonly values: bigint[] = [];
  override read64Parts(pa: number, out: Uint32Array): void {
    super.read64Parts(pa, out);
    this.values.push((BigInt(out[1]) << 32n) | BigInt(out[0]));
  }
}

/** Traces VT-d vectors: every entry read, by stage and level, decoded; A/D writes; the outcome. */
function traceVtd(f: unknown, id: string): string[] {
  const file = f as VtdVectorFile;
  const v = file.vectors.find((x) => x.id === id);
  if (!v) throw new Error(`no vector ${id}; try --list`);
  const mem = new RecordingMem(Number(BigInt(file.config.ram_hex)));
  for (const [pa, val] of file.tables[v.table]) mem.write64(Number(BigInt(pa)), BigInt(val));
  const root = (o: { root_hex: string }) => ({ ...o, root: Number(BigInt(o.root_hex)) });
  const ss = v.ss && new VtdSecondStage(root(v.ss));
  const fs = v.fs && new VtdFirstStage(root(v.fs));
  const iova = BigInt(v.request.iova_hex);
  const access = { write: v.request.write, supervisor: v.request.supervisor };
  const w = new VtdWalk({ trace: true });
  if (v.walk === "ss") vtdWalkSecondStage(mem, ss!, iova, access, w);
  else if (v.walk === "fs") vtdWalkFirstStage(mem, fs!, iova, access, w);
  else vtdWalkNested(mem, fs!, ss!, iova, access, w);
  const hex = (n: number | bigint) => `0x${n.toString(16)}`;
  const out = [
    `${v.id} (${v.cat}): VT-d ${
      v.walk === "nested" ? "nested (FS over SS)" : v.walk.toUpperCase()
    }${ss ? `, second stage ${ss.levels}-level ${ss.mode}` : ""}${
      fs ? `, first stage ${fs.levels}-level` : ""
    }, ${access.supervisor ? "supervisor" : "user"} ${access.write ? "write" : "read"} of ${
      hex(iova)
    }`,
  ];
  w.trace!.forEach((pa, k) => {
    const level = w.levels![k], value = mem.values[k];
    const stage = level < 0 ? "second stage" : "first stage";
    const lo = Number(value & 0xfffn);
    const leafy = (lo & 0x80) !== 0 ? " PS" : "";
    out.push(
      `  ${String(k + 1).padStart(2)}. ${hex(pa).padEnd(12)} ${stage}, level ${Math.abs(level)}: ${
        hex(value)
      } (addr ${hex(value & 0x000f_ffff_ffff_f000n)}, flags ${hex(lo)}${leafy})`,
    );
  });
  const before = new Map(file.tables[v.table].map(([a, b]) => [Number(BigInt(a)), BigInt(b)]));
  for (const pa of new Set(w.trace!)) {
    const now = mem.read64(pa);
    if (now !== (before.get(pa) ?? 0n)) out.push(`  A/D write ${hex(pa)} ← ${hex(now)}`);
  }
  out.push(`→ ${w.describe()}`);
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

/**
 * Traces AMD v1 vectors: every entry read, by the model's level (0 = the 4 KiB table, hardware
 * level 1; NextLevel n names the model's level n − 1), then the PA or the event.
 */
function traceAmd(f: unknown, id: string): string[] {
  const file = f as AmdVectorFile;
  const v = file.vectors.find((x) => x.id === id);
  if (!v) throw new Error(`no vector ${id}; try --list`);
  const { mem, dte, iova, access } = amdVectorSetup(file, v);
  const out = [
    `${v.id} (${v.cat}): AMD v1, DTE mode ${dte.mode}, root ${riscvHex(dte.root)}${
      dte.ir && dte.iw ? "" : `, DTE IR=${+dte.ir} IW=${+dte.iw}`
    }, ${access === "w" ? "write" : "read"} of ${riscvHex(iova)}`,
  ];
  let n = 0;
  const t = amdV1Translate(mem, dte, iova, access, {
    trace(level, pa, entry, d) {
      const what = d.kind === "table"
        ? `table → ${riscvHex(d.next)}${
          d.level === undefined ? "" : ` (skips to level ${d.level})`
        }`
        : d.kind === "leaf"
        ? `page ${kb(1n << BigInt(d.sizeShift))} at ${riscvHex(d.oa)}`
        : `fault (${d.why})`;
      const nl = Number((entry >> 9n) & 7n), ir = (entry >> 61n) & 1n, iw = (entry >> 62n) & 1n;
      out.push(
        `  ${String(++n).padStart(2)}. ${riscvHex(pa).padEnd(12)} level ${level}: ${
          riscvHex(entry)
        } NextLevel ${nl} IR=${ir} IW=${iw} ${what}`,
      );
    },
  });
  if (t.ok) out.push(`→ PA ${riscvHex(t.pa)} (${kb(t.size)} translation, ${t.reads.length} reads)`);
  else {
    const e = t.event;
    const names = e.type === 1 ? "ILLEGAL_DEV_TABLE_ENTRY" : "IO_PAGE_FAULT";
    out.push(
      `→ ${names} (type ${e.type}), flags 0x${
        e.flags.toString(16).padStart(3, "0")
      }: ${e.why} (${t.reads.length} reads)`,
    );
  }
  return out;
}

/** Every format that can be traced, by vector-file `format`. */
const TRACERS: Record<string, Tracer> = {
  "riscv-iommu": traceRiscv,
  vtd: traceVtd,
  "arm-smmuv3": traceArm,
  "amd-v1": traceAmd,
};

/** The worked vector files, by the prefix that picks one when an id is in more than one. */
const WORKED: Record<string, { format?: string; vectors: { id: string }[] }> = {
  riscv: riscvWorkedVectors(),
  vtd: vtdWorkedVectors(),
  arm: armWorkedVectors(),
  amd: amdWorkedVectors(),
};

/** The worked file that holds `ref` (`ID` or `PREFIX:ID`), and the bare id. */
function findWorked(ref: string): [{ format?: string; vectors: { id: string }[] }, string] {
  const [prefix, id] = ref.includes(":") ? ref.split(":", 2) : [undefined, ref];
  const holders = Object.entries(WORKED).filter(([p, f]) =>
    (prefix === undefined || p === prefix) && f.vectors.some((v) => v.id === id)
  );
  if (holders.length === 0) throw new Error(`no worked vector ${ref}; try --list`);
  if (holders.length > 1) {
    const names = holders.map(([p]) => `${p}:${id}`).join(" or ");
    throw new Error(`${id} is a worked vector of ${holders.length} formats: say ${names}`);
  }
  return [holders[0][1], id];
}

const args = Deno.args.filter((a) => !a.startsWith("--"));
if (Deno.args.includes("--list")) {
  for (const v of riscvWorkedVectors().vectors) {
    console.log(`${v.id.padEnd(4)} ${v.cat.padEnd(14)} ${v.mode}`);
  }
  for (const v of vtdWorkedVectors().vectors) {
    console.log(`${v.id.padEnd(4)} ${"vtd".padEnd(14)} ${v.tags?.[0] ?? v.walk}`);
  }
  for (const v of armWorkedVectors().vectors) {
    console.log(`${v.id.padEnd(4)} ${v.cat.padEnd(14)} arm-smmuv3 ${v.stages}`);
  }
  for (const v of amdWorkedVectors().vectors) {
    console.log(`${v.id.padEnd(4)} ${v.cat.padEnd(14)} amd-v1 mode ${v.dte.mode}`);
  }
} else {
  const [ref = "R15", path] = args;
  const [file, id] = path ? [JSON.parse(await Deno.readTextFile(path)), ref] : findWorked(ref);
  const tracer = TRACERS[file.format ?? "riscv-iommu"];
  if (!tracer) throw new Error(`no tracer for format ${file.format}`);
  console.log(tracer(file, id).join("\n"));
}
