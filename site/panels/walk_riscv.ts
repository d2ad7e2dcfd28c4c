/**
 * The page-walk explorer's RISC-V family: the worked vectors of spec/21-riscv-iommu.md#riscv-worked
 * (R1–R18: Sv39, Sv39x4 and Sv39 over Sv39x4), and, for the wider modes, one translating vector of
 * each of Sv48, Sv57, Sv48x4, Sv57x4 and the two-stage walks over them from the seeded random vector
 * file (seed 2) — walked by the model's `riscvTranslate()`, whose trace names each read's walk.
 *
 * @module
 */
import {
  type PtDecoded,
  RISCV_CAUSE,
  riscvModeNumber,
  riscvRandomVectors,
  riscvTranslate,
  type RiscvVector,
  type RiscvVectorFile,
  riscvVectorSetup,
  riscvWorkedVectors,
} from "../../lib/internal.ts";
import { esc, hex, type WalkCase, type WalkFamily, type WalkRead } from "./walk_types.ts";

/** The requests: [name, access, privilege]. */
const ACCESS = [
  ["user read", "r", "u"],
  ["user write", "w", "u"],
  ["user execute", "x", "u"],
  ["supervisor read", "r", "s"],
  ["supervisor write", "w", "s"],
  ["supervisor execute", "x", "s"],
] as const;

/** The modes the random file adds beyond the worked vectors. */
const WIDER = ["Sv48", "Sv57", "Sv48x4", "Sv57x4", "Sv48+Sv48x4", "Sv57+Sv57x4"];

/** The vectors the family offers, each with the file it belongs to (built once). */
let offered: { file: RiscvVectorFile; v: RiscvVector; title: string }[] | null = null;

function vectors(): { file: RiscvVectorFile; v: RiscvVector; title: string }[] {
  if (offered) return offered;
  const worked = riscvWorkedVectors();
  offered = worked.vectors.map((v) => ({ file: worked, v, title: `${v.id}: ${v.mode}, ${v.cat}` }));
  const random = riscvRandomVectors(2);
  for (const mode of WIDER) {
    const ok = random.vectors.filter((v) => v.mode === mode && v.expect.ok);
    const v = ok.reduce((a, b) => (b.reads.length > a.reads.length ? b : a), ok[0]);
    if (v) offered.push({ file: random, v, title: `${v.id}: ${v.mode}, random table` });
  }
  return offered;
}

const CAUSE_NAMES = new Map<number, string>(
  Object.entries(RISCV_CAUSE).map(([name, code]) => [code, name]),
);

const PTE_BITS = ["V", "R", "W", "X", "U", "G", "A", "D"];

/** An Sv* entry in words: what the walker made of it, and its flags. */
function decodeRiscv(value: bigint, d: PtDecoded): string {
  const flags = PTE_BITS.filter((_, i) => (value >> BigInt(i)) & 1n);
  if (value >> 63n) flags.push("N");
  const pbmt = Number((value >> 61n) & 3n);
  if (pbmt) flags.push(`PBMT=${pbmt}`);
  const what = d.kind === "table"
    ? `table → ${hex(d.next)}`
    : d.kind === "leaf"
    ? `leaf 2^${d.sizeShift} at ${hex(d.oa)}`
    : `fault (${d.why})`;
  return `${what} · ${flags.length ? flags.join(" ") : "no flags"}`;
}

const kb = (n: bigint) =>
  n >= 1n << 30n ? `${n >> 30n} GiB` : n >= 1n << 20n ? `${n >> 20n} MiB` : `${n >> 10n} KiB`;

/** RISC-V: Sv39/Sv48/Sv57 first stage, Sv39x4/Sv48x4/Sv57x4 G stage, and both. */
export const riscvWalkFamily: WalkFamily = {
  id: "riscv",
  label: "RISC-V IOMMU (Sv39/48/57, x4, two-stage)",
  accesses: ACCESS.map(([n]) => n),
  cases: () =>
    vectors().map(({ file, v, title }) => ({
      id: v.id,
      title,
      iova: BigInt(v.request.iova_hex),
      access: ACCESS.findIndex(([, a, p]) => a === v.request.access && p === v.request.priv),
      entries: (file.tables[v.table] ?? []).map(([pa, val]) => [BigInt(pa), BigInt(val)]),
    })),
  run(c: WalkCase) {
    const { file, v } = vectors().find((x) => x.v.id === c.id)!;
    const [, access, priv] = ACCESS[c.access];
    const edited: RiscvVector = {
      ...v,
      table: 0,
      request: { ...v.request, iova_hex: hex(c.iova), access, priv },
    };
    const one: RiscvVectorFile = {
      ...file,
      tables: [c.entries.map(([pa, val]) => [hex(pa), hex(val)])],
    };
    const setup = riscvVectorSetup(one, edited);
    const two = v.stage === "two";
    const reads: WalkRead[] = [];
    const t = riscvTranslate(
      setup.mem,
      {
        ...setup.cfg,
        trace(walk, _input, level, pa, value, d) {
          reads.push({
            stage: walk === "s" ? (two ? "VS" : "S") : "G",
            inner: two && walk !== "s",
            level,
            pa,
            value,
            decoded: decodeRiscv(value, d),
          });
        },
      },
      setup.iova,
      setup.access,
    );
    const writes = t.writes.map(([a, b]) => `; A/D write ${hex(a)} ← ${hex(b)}`).join("");
    const resultHtml = t.ok
      ? `<span class="walk-ok">PA ${hex(t.pa)} (${kb(t.size)} translation${
        two ? `, GPA ${hex(t.gpa)}` : ""
      }, ${t.reads.length} reads${esc(writes)})</span>`
      : `<span class="walk-fault">fault: cause ${t.cause} <code>${
        CAUSE_NAMES.get(t.cause) ?? "?"
      }</code>${t.iotval2 ? `, iotval2 ${hex(t.iotval2)}` : ""}, ${t.reads.length} reads${
        esc(writes)
      }, see <a class="walk-check" href="riscv-iommu.html#riscv-translate">riscv-translate</a></span>`;
    const levels = (mode: number | string) => {
      const n = riscvModeNumber(mode) - 5;
      return Array.from({ length: n }, (_, i) => n - 1 - i);
    };
    return {
      ok: t.ok,
      resultHtml,
      reads,
      grid: two
        ? {
          outer: "VS",
          inner: "G",
          outerLevels: levels(v.iosatp.mode),
          innerLevels: levels(v.iohgatp.mode),
          finalRow: "final GPA",
        }
        : undefined,
    };
  },
};
