/**
 * The page-walk explorer's Arm family: the worked SMMUv3 vectors of
 * spec/22-arm-smmuv3.md#arm-worked (A: stage 1, G: granules, S2: stage 2, N: nested stage 1 over
 * stage 2), walked by the model's `smmuTranslate()`, whose trace names each read's walk.
 *
 * @module
 */
import {
  type ArmVector,
  type ArmVectorFile,
  armVectorSetup,
  armWorkedVectors,
  type PtDecoded,
  smmuS1Format,
  smmuS2Format,
  smmuTranslate,
} from "../../lib/internal.ts";
import { esc, hex, type WalkCase, type WalkFamily, type WalkRead } from "./walk_types.ts";

/** The requests: [name, access, privilege]. */
const ACCESS = [
  ["unprivileged read", "r", "u"],
  ["unprivileged write", "w", "u"],
  ["unprivileged instruction fetch", "x", "u"],
  ["privileged read", "r", "s"],
  ["privileged write", "w", "s"],
  ["privileged instruction fetch", "x", "s"],
] as const;

/** SMMUv3 event IDs by number (arm-smmu-v3.h). */
const EVENT_NAMES = new Map<number, string>([
  [0x04, "C_BAD_STE"],
  [0x0a, "C_BAD_CD"],
  [0x10, "F_TRANSLATION"],
  [0x11, "F_ADDR_SIZE"],
  [0x12, "F_ACCESS"],
  [0x13, "F_PERMISSION"],
]);

const CLASS_NAMES = ["CD", "TT", "IN"];

/** The worked file, built once. */
let worked: ArmVectorFile | null = null;
const file = () => (worked ??= armWorkedVectors());

/** A long descriptor in words: what the walker made of it, and its low attribute bits. */
function decodeArm(value: bigint, d: PtDecoded): string {
  const flags = [];
  if (value & 1n) flags.push("valid");
  if (value & 2n) flags.push("table/page");
  if ((value >> 10n) & 1n) flags.push("AF");
  const what = d.kind === "table"
    ? `table → ${hex(d.next)}`
    : d.kind === "leaf"
    ? `leaf 2^${d.sizeShift} at ${hex(d.oa)}`
    : `fault (${d.why})`;
  return `${what} · ${flags.length ? flags.join(" ") : "invalid"}`;
}

const kb = (n: bigint) =>
  n >= 1n << 30n ? `${n >> 30n} GiB` : n >= 1n << 20n ? `${n >> 20n} MiB` : `${n >> 10n} KiB`;

/** The Arm levels a stage walks, top first. */
const levelsFrom = (start: number) => Array.from({ length: 4 - start }, (_, i) => start + i);

/** Arm SMMUv3 with LPAE: stage 1, stage 2 (concatenated roots), nested. */
export const armWalkFamily: WalkFamily = {
  id: "arm",
  label: "Arm SMMUv3 (LPAE stage 1, stage 2, nested)",
  accesses: ACCESS.map(([n]) => n),
  cases: () =>
    file().vectors.map((v) => ({
      id: v.id,
      title: `${v.id}: ${v.stages}, ${v.cat}`,
      iova: BigInt(v.request.iova_hex),
      access: ACCESS.findIndex(([, a, p]) => a === v.request.access && p === v.request.priv),
      entries: (file().tables[v.table] ?? []).map(([pa, val]) => [BigInt(pa), BigInt(val)]),
    })),
  run(c: WalkCase) {
    const v = file().vectors.find((x) => x.id === c.id)!;
    const [, access, priv] = ACCESS[c.access];
    const edited: ArmVector = {
      ...v,
      table: 0,
      request: { ...v.request, iova_hex: hex(c.iova), access, priv },
    };
    const one: ArmVectorFile = {
      ...file(),
      tables: [c.entries.map(([pa, val]) => [hex(pa), hex(val)])],
    };
    const setup = armVectorSetup(one, edited);
    const nested = v.stages === "nested";
    const reads: WalkRead[] = [];
    const t = smmuTranslate(setup.mem, setup.cfg, setup.iova, setup.access, {
      priv: setup.priv,
      trace(walk, _input, level, pa, value, d) {
        reads.push({
          stage: walk === "s1" ? "S1" : "S2",
          inner: nested && walk !== "s1",
          level,
          pa,
          value,
          decoded: decodeArm(value, d),
        });
      },
    });
    const writes = t.writes.map(([a, b]) => `; AF write ${hex(a)} ← ${hex(b)}`).join("");
    const resultHtml = t.ok
      ? `<span class="walk-ok">PA ${hex(t.pa)} (${kb(t.size)} translation${
        nested ? `, IPA ${hex(t.ipa)}` : ""
      }, ${t.reads.length} reads${esc(writes)})</span>`
      : `<span class="walk-fault">event 0x${t.event.id.toString(16)} <code>${
        EVENT_NAMES.get(t.event.id) ?? "?"
      }</code>, S2=${t.event.s2 ? 1 : 0}, CLASS=${CLASS_NAMES[t.event.class] ?? "?"}${
        t.event.ipa !== undefined ? `, IPA ${hex(t.event.ipa)}` : ""
      }, ${t.reads.length} reads${
        esc(writes)
      }, see <a class="walk-check" href="arm-smmuv3.html#arm-smmu">arm-smmu</a></span>`;
    return {
      ok: t.ok,
      resultHtml,
      reads,
      grid: nested && setup.cfg.s1 && setup.cfg.s2
        ? {
          outer: "S1",
          inner: "S2",
          outerLevels: levelsFrom(smmuS1Format(setup.cfg.s1).startLevel),
          innerLevels: levelsFrom(smmuS2Format(setup.cfg.s2).startLevel),
          finalRow: "final IPA",
        }
        : undefined,
    };
  },
};
