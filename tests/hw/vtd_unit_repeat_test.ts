/**
 * The VT-d unit's shortcuts (spec/18-vtd-unit.md, "The repeat path"): `translate()` tries
 * `#repeat()` (the previous IOTLB hit's 4 KiB page again) and `#hit()` (the previous request's
 * configuration) before the steps. A traced request takes neither, so a twin unit driven only with
 * traced requests runs the steps alone. Over random sequences of requests (reads, writes, PASIDs,
 * supervisor requests, bigint and non-integer addresses), page-table edits (permissions, unmaps, a
 * 2 MiB leaf replaced by a table of 4 KiB pages and back, without invalidation), every kind and
 * granularity of invalidation, GCMD writes (TE off and on, SRTP) and IOTLB evictions, in legacy
 * and scalable mode, both units must answer every field alike and end with the same fault
 * records, counters, caches and IOTLB.
 */
import assert from "node:assert/strict";
import {
  DMA_GCMD_SRTP,
  DMA_GCMD_TE,
  DMA_RTADDR_SMT,
  DMAR_GCMD_REG,
  DMAR_RTADDR_REG,
  Machine,
  PCI_DEVFN,
  PCI_DEVID,
  vtdSetContextEntry,
  vtdSetPasidDirEntry,
  vtdSetPasidEntry,
  vtdSetRootEntry,
  vtdSetScalableContextEntry,
  VtdTranslation,
  VtdUnit,
  vtdUnitEnable,
} from "../../lib/internal.ts";
import { rng } from "../rng.ts";

const DEVFNS = [PCI_DEVFN(3, 0), PCI_DEVFN(4, 0)];
const SIDS = DEVFNS.map((devfn) => PCI_DEVID(0, devfn));
const ROOT = 0x200000, CTX = 0x201000, PASID_DIR = 0x202000, PASID_TABLE = 0x203000;
/** The second stage: PML4, PDPT, PD; PT0 maps IOVA 0–2 MiB, PT1 is 2–4 MiB when not a 2 MiB leaf. */
const PML4 = 0x100000, PDPT = 0x101000, PD = 0x102000, PT0 = 0x103000, PT1 = 0x104000;
/** A first stage for PGTT=1, in host addresses: IOVA 0x4000_0000 + p·4 KiB. */
const FS = [0x110000, 0x111000, 0x112000, 0x113000];
/** The pages requests go to (each with a random offset). */
const PAGES = [
  0x1000,
  0x2000,
  0x3000,
  0x4000,
  0x5000,
  0x20_0000,
  0x20_1000,
  0x20_2000,
  0x20_3000,
  0x3f_f000,
  0x40_0000, // not mapped: just past a 2 MiB page

  0x4000_1000,
  0x4000_2000,
  0x4000_3000,
  0x80_8060_4000, // chapter 17's N1: nested through PASID 9
  0x80_8060_5000,
];

/** One unit over its own machine, with an IOTLB of `iotlbSize` entries. */
function world(scalable: boolean, iotlbSize: number) {
  const m = new Machine();
  const mem = m.physmem;
  const unit = new VtdUnit(m, { iotlbSize });
  mem.write64(PML4, BigInt(PDPT) | 3n);
  mem.write64(PDPT, BigInt(PD) | 3n);
  mem.write64(PDPT + 8, BigInt(PD + 0x1_0000) | 3n); // IOVA 1–2 GiB: the PGTT=1 first stage's pages
  mem.write64(PD, BigInt(PT0) | 3n);
  for (let p = 1; p <= 5; p++) mem.write64(PT0 + 8 * p, BigInt(0x8000_0000 + p * 0x1000) | 3n);
  for (let p = 0; p < 4; p++) mem.write64(PT1 + 8 * p, BigInt(0x9000_0000 + p * 0x1000) | 3n);
  mem.write64(PT1 + 8 * 511, 0x9000_f000n | 1n);
  // chapter 17's N1 first stage, at the host addresses of its guest addresses
  mem.write64(0x8000_1008, 0x2027n);
  mem.write64(0x8000_2010, 0x3027n);
  mem.write64(0x8000_3018, 0x4027n);
  mem.write64(0x8000_4020, 0x5067n);
  mem.write64(FS[0] + 8 * 0, BigInt(FS[1]) | 0x27n);
  mem.write64(FS[1] + 8 * 1, BigInt(FS[2]) | 0x27n);
  mem.write64(FS[2] + 8 * 0, BigInt(FS[3]) | 0x27n);
  for (let p = 1; p <= 3; p++) mem.write64(FS[3] + 8 * p, BigInt(0xa000_0000 + p * 0x1000) | 0x27n);
  if (!scalable) {
    vtdSetRootEntry(mem, ROOT, 0, CTX);
    vtdSetContextEntry(mem, CTX, DEVFNS[0], { did: 1, ssptptr: PML4 });
    vtdSetContextEntry(mem, CTX, DEVFNS[1], { did: 2, ssptptr: PML4, fpd: true });
  } else {
    vtdSetRootEntry(mem, ROOT, 0, CTX, "lo");
    for (const devfn of DEVFNS) {
      vtdSetScalableContextEntry(mem, CTX, devfn, { pasidDir: PASID_DIR, paside: true, pdts: 0 });
    }
    vtdSetPasidDirEntry(mem, PASID_DIR, 0, PASID_TABLE);
    vtdSetPasidEntry(mem, PASID_TABLE, 0, { pgtt: 2, did: 1, ssptptr: PML4 });
    vtdSetPasidEntry(mem, PASID_TABLE, 5, { pgtt: 2, did: 1, ssptptr: PML4, sre: true });
    vtdSetPasidEntry(mem, PASID_TABLE, 7, { pgtt: 1, did: 3, fsptptr: FS[0], sre: true });
    vtdSetPasidEntry(mem, PASID_TABLE, 9, {
      pgtt: 3,
      did: 2,
      ssptptr: PML4,
      fsptptr: 0x1000,
      nxe: true,
    });
    vtdSetPasidEntry(mem, PASID_TABLE, 12, { pgtt: 4, did: 4 });
  }
  vtdUnitEnable(unit, ROOT, scalable);
  return { m, mem, unit };
}

type World = ReturnType<typeof world>;

/** Every field of a result but the trace (and the thrown error's message, if any). */
function fields(t: VtdTranslation | string) {
  if (typeof t === "string") return t;
  return {
    sid: t.sid,
    iova: t.iova,
    write: t.write,
    pasid: t.pasid,
    fault: t.fault,
    check: t.check,
    disposition: t.disposition,
    kind: t.kind,
    did: t.did,
    pa: t.pa,
    pageSize: t.pageSize,
    allowRead: t.allowRead,
    allowWrite: t.allowWrite,
    iotlbHit: t.iotlbHit,
    configHit: t.configHit,
    reads: t.reads,
  };
}

/** What a unit holds: fault records and counters, caches, IOTLB entries. */
function state(u: VtdUnit) {
  const records = [];
  for (let i = 0; i < u.faults.nfr; i++) records.push(u.faults.decode(i));
  const entries = [...u.iotlb.entries()].map((e) =>
    [e.tag, e.did, e.pasid, e.pgtt, e.sizeIndex, e.key, e.pa, e.read, e.write].join(",")
  ).sort();
  return {
    records,
    fsts: u.faults.fsts(),
    suppressed: u.faults.suppressed,
    stats: { ...u.stats },
    caches: u.cachedConfigs,
    entries,
  };
}

/** Runs `steps` random operations on a fast unit and a traced twin; returns the first mismatch. */
function run(scalable: boolean, seed: number, steps: number): string | null {
  const rand = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[rand(a.length)];
  const size = pick([3, 6, 64]);
  const fast = world(scalable, size), ref = world(scalable, size);
  const out = new VtdTranslation();
  const both = (f: (w: World) => unknown) => [f(fast), f(ref)];
  // the pages this run's device mostly works on
  const hot = rand(3) === 0
    ? [0x20_0000, 0x20_1000, 0x20_2000] // inside the 2 MiB page that comes and goes
    : [pick(PAGES), pick(PAGES), pick(PAGES)];
  for (let step = 0; step < steps; step++) {
    const op = rand(100);
    if (op < 70) {
      // a request: mostly the same few pages, so that #repeat and #hit have work
      const sid = rand(8) === 0 ? pick(SIDS) : SIDS[0];
      const pasid = scalable ? pick([-1, -1, -1, 0, 5, 7, 9, 9, 12]) : rand(12) === 0 ? 3 : -1;
      const page = rand(3) === 0 ? pick(PAGES) : pick(hot);
      let iova: number | bigint = page + pick([0, 0x10, 0x567, 0xfff, 0x1000 - 8]);
      const r = rand(40);
      if (r === 0) iova = BigInt(iova);
      else if (r === 1) iova += 0.5;
      else if (r === 2) iova = -iova;
      const req = {
        write: rand(4) === 0,
        ...(pasid >= 0 ? { pasid } : {}),
        ...(rand(10) === 0 ? { supervisor: true } : {}),
      };
      const call = (u: VtdUnit, o: VtdTranslation) => {
        try {
          return u.translate(sid, iova, req, o);
        } catch (e) {
          return String(e);
        }
      };
      const a = fields(call(fast.unit, rand(8) === 0 ? new VtdTranslation() : out));
      const b = fields(call(ref.unit, new VtdTranslation({ trace: true })));
      try {
        assert.deepEqual(a, b);
      } catch {
        return `step ${step}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`;
      }
    } else if (op < 80) {
      // a page-table edit, without invalidation
      const e = rand(6);
      if (e === 0) {
        const p = 1 + rand(5), v = pick([0n, 1n, 3n, 2n]);
        both((w) => w.mem.write64(PT0 + 8 * p, BigInt(0x8000_0000 + p * 0x1000) | v));
      } else if (e <= 2) {
        // IOVA 2–4 MiB: a 2 MiB leaf (read-only or read-write), or the table of 4 KiB pages
        const v = pick([BigInt(PT1) | 3n, 0xc000_0000n | 0x80n | 1n, 0xc000_0000n | 0x80n | 3n]);
        both((w) => w.mem.write64(PD + 8, v));
      } else if (e === 3) {
        const p = rand(4), v = pick([0n, 1n, 3n]);
        both((w) => w.mem.write64(PT1 + 8 * p, BigInt(0x9000_0000 + p * 0x1000) | v));
      } else if (e === 4 && scalable) {
        const pasid = pick([0, 5, 7, 9, 12]);
        const f = pick([
          { pgtt: 2, did: 1, ssptptr: PML4 },
          { pgtt: 2, did: 5, ssptptr: PML4, sre: true },
          { pgtt: 1, did: 3, fsptptr: FS[0] },
          { pgtt: 3, did: 2, ssptptr: PML4, fsptptr: 0x1000, nxe: true },
          { pgtt: 4, did: 4 },
          { pgtt: 2, did: 1, present: false },
        ]);
        both((w) => vtdSetPasidEntry(w.mem, PASID_TABLE, pasid, f));
      } else if (e === 4) {
        const f = pick([{ did: 1, ssptptr: PML4 }, { did: 3, ssptptr: PML4 }, {
          did: 1,
          ssptptr: PML4,
          tt: 2,
        }, { did: 1, present: false }]);
        both((w) => vtdSetContextEntry(w.mem, CTX, DEVFNS[0], f));
      } else {
        const at = pick([0x8000_4020, FS[3] + 8]), v = pick([0x5067n, 0x5025n, 0x5000n]);
        both((w) => w.mem.write64(at, at === 0x8000_4020 ? v : 0xa000_1000n | (v & 0xffn)));
      }
    } else if (op < 95) {
      // an invalidation
      const did = 1 + rand(5), pasid = pick([0, 5, 7, 9, 12]);
      const addr = pick(PAGES), am = rand(10), sid = pick(SIDS), fm = rand(3);
      const i = rand(10);
      const inv = (u: VtdUnit) => {
        if (i === 0) return u.invalidateContextCache({ granularity: "global" });
        if (i === 1) return u.invalidateContextCache({ granularity: "domain", did });
        if (i === 2) {
          return u.invalidateContextCache({ granularity: "device", sid, fm });
        }
        if (i === 3) return u.invalidateIotlb({ granularity: "global" });
        if (i === 4) return u.invalidateIotlb({ granularity: "domain", did });
        if (i === 5) return u.invalidateIotlb({ granularity: "page", did, addr, am });
        if (i === 6) return u.invalidatePasidCache({ granularity: "global" });
        if (i === 7) return u.invalidatePasidCache({ granularity: "pasid", did, pasid });
        if (i === 8) return u.invalidatePasidIotlb({ granularity: "pasid", did, pasid });
        return u.invalidatePasidIotlb({ granularity: "page", did, pasid, addr, am });
      };
      const [a, b] = both((w) => inv(w.unit));
      if (a !== b) return `step ${step}: invalidation ${i} dropped ${a} ≠ ${b}`;
    } else {
      // GCMD: translation off, on again, or the root table pointer set again (which turns TE off)
      const g = rand(3);
      const rt = BigInt(ROOT) | (scalable ? BigInt(DMA_RTADDR_SMT) : 0n);
      both((w) => {
        if (g === 0) w.unit.writel(DMAR_GCMD_REG, 0);
        else if (g === 1) w.unit.writel(DMAR_GCMD_REG, DMA_GCMD_TE);
        else {
          w.unit.writeq(DMAR_RTADDR_REG, rt);
          w.unit.writel(DMAR_GCMD_REG, DMA_GCMD_SRTP | DMA_GCMD_TE);
        }
      });
    }
  }
  try {
    assert.deepEqual(state(fast.unit), state(ref.unit));
  } catch (e) {
    return `end state: ${(e as Error).message}`;
  }
  return null;
}

for (const scalable of [false, true]) {
  Deno.test(`#repeat and #hit ≡ the steps, ${scalable ? "scalable" : "legacy"} mode, random sequences`, () => {
    let repeats = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const bad = run(scalable, seed * 7919 + (scalable ? 1 : 0), 1500);
      assert.equal(bad, null, `seed ${seed}: ${bad}`);
      repeats++;
    }
    assert.equal(repeats, 40);
  });
}

Deno.test("#repeat: a 4 KiB entry filled inside a read-only 2 MiB entry serves the next read", () => {
  // The IOTLB's generation moves on a fill too: the lookup tries 4 KiB entries first.
  const results = [];
  for (const traced of [false, true]) {
    const w = world(false, 64);
    const t = () => new VtdTranslation({ trace: traced });
    w.mem.write64(PD + 8, 0xc000_0000n | 0x80n | 1n); // IOVA 2–4 MiB: one read-only 2 MiB page
    assert.equal(w.unit.translate(SIDS[0], 0x20_1234, { write: false }, t()).iotlbHit, false);
    const hit = w.unit.translate(SIDS[0], 0x20_1234, { write: false }, t());
    assert.deepEqual([hit.iotlbHit, hit.pageSize, hit.pa], [true, 2 ** 21, 0xc000_1234]);
    w.mem.write64(PD + 8, BigInt(PT1) | 3n); // now a table of read-write 4 KiB pages, not flushed
    const write = w.unit.translate(SIDS[0], 0x20_1234, { write: true }, t());
    assert.deepEqual([write.iotlbHit, write.pageSize, write.pa], [false, 4096, 0x9000_1234]);
    const read = w.unit.translate(SIDS[0], 0x20_1238, { write: false }, t());
    assert.deepEqual([read.iotlbHit, read.pageSize, read.pa], [true, 4096, 0x9000_1238]);
    results.push(fields(read), state(w.unit));
  }
  assert.deepEqual(results[0], results[2]);
  assert.deepEqual(results[1], results[3]);
});

Deno.test("a traced request takes neither shortcut: a reused result's trace is emptied on a hit", () => {
  const w = world(false, 64);
  const out = new VtdTranslation({ trace: true });
  w.unit.translate(SIDS[0], 0x1234, { write: false }, out);
  assert.equal(out.trace!.length, 6); // root, context, four second-stage levels
  w.unit.translate(SIDS[0], 0x1234, { write: false }); // an untraced hit notes the page for #repeat
  w.unit.translate(SIDS[0], 0x1238, { write: false }, out);
  assert.deepEqual([out.iotlbHit, out.reads, out.trace], [true, 0, []]);
});
