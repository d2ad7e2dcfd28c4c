/**
 * The generic walker of chapter 21 (`ptWalk`, spec/21-riscv-iommu.md#pt-walk) and its fast path
 * (`PtFastWalker`, #pt-walk-fast) on hot tables: Sv48 (4 reads), Arm LPAE stage 1 with a 4 KiB
 * granule (4 reads), AMD v1 mode 4 (4 reads) and VT-d's 4-level second stage as a generic format.
 * 512 4 KiB pages, walked in turn, in `PhysMem` (through `PtPhysMemory`). Each pair is the same walk
 * both ways. `deno bench --allow-all bench/pt_walk_bench.ts`
 *
 * @module
 */
import {
  amdV1Format,
  armLpaeFormat,
  PhysMem,
  PtDomain,
  PtFastWalker,
  type PtFormat,
  PtPhysMemory,
  type PtRequest,
  ptWalk,
  riscvFormat,
  VtdSecondStage,
  vtdSecondStageFormat,
} from "./model.ts";
import { bench } from "./cases.ts";

const IOVA = 0x55f3_5df2_3000n;
const PAGES = 512;
const req: PtRequest = { access: "r", priv: "u" };
const attrs = { read: true, write: true, exec: false, user: true, memType: 0 };

function pair(name: string, what: string, fmt: PtFormat): void {
  const mem = new PtPhysMemory(new PhysMem(2 ** 40));
  const dom = new PtDomain(fmt, mem);
  for (let i = 0; i < PAGES; i++) {
    dom.map_pages(IOVA + BigInt(i) * 4096n, 0x40_0000_0000n + BigInt(i) * 4096n, 4096n, attrs);
  }
  const vas = Array.from({ length: PAGES }, (_, i) => IOVA + BigInt(i) * 4096n + 0x123n);
  const his = new Uint32Array(vas.map((v) => Number(v >> 32n)));
  const los = new Uint32Array(vas.map((v) => Number(v & 0xffff_ffffn)));
  const rootHi = Number(dom.root >> 32n), rootLo = Number(dom.root & 0xffff_ffffn);
  const w = new PtFastWalker();
  for (let i = 0; i < PAGES; i++) {
    const g = ptWalk(fmt, mem, dom.root, vas[i], req);
    if (!w.walk(fmt, mem, rootHi, rootLo, his[i], los[i], req) || !g.ok) {
      throw new Error(`${name}: the fast walker did not take the walk of ${vas[i].toString(16)}`);
    }
    if (((BigInt(w.oaHi) << 32n) | BigInt(w.oaLo)) !== g.oa) throw new Error(`${name}: oa`);
  }
  let i = 0, j = 0;
  bench(`ptwalk_${name}_ns`, `PtFastWalker: ${what}`, "ptwalk", () => {
    const k = i++ & (PAGES - 1);
    w.walk(fmt, mem, rootHi, rootLo, his[k], los[k], req);
  });
  bench(`ptwalk_${name}_general_ns`, `ptWalk: ${what}`, "ptwalk", () => {
    ptWalk(fmt, mem, dom.root, vas[j++ & (PAGES - 1)], req);
  });
}

pair("sv48", "Sv48, 4 KiB pages (4 reads)", riscvFormat(9, false));
pair(
  "arm_s1_4k",
  "Arm LPAE S1, 4 KiB granule, 48 bits (4 reads)",
  armLpaeFormat({
    stage: 1,
    granule: 4096,
    ias: 48,
    oas: 48,
  }),
);
pair("amd_v1_mode4", "AMD v1 mode 4 (4 reads)", amdV1Format({ mode: 4 }));
pair(
  "vtd_ss4_generic",
  "VT-d 4-level second stage as a generic format (4 reads)",
  vtdSecondStageFormat(new VtdSecondStage({ root: 0 })),
);
