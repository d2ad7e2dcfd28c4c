/**
 * Isolation property (a), issue 11 item 1: a nested domain's output never leaves the second
 * stage's mappings, whatever the guest puts in its first-stage tables.
 *
 * A VMM gives its guest 4 MiB of RAM (GPA 0, four 1 MiB regions mapped into a nest parent on
 * dmar0); the device is attached to a nested HWPT whose root is a random GPA (inside the parent,
 * or outside it). Then a random sequence of: guest writes to table entries (pointers to other
 * tables or to themselves — cycles —, 4 KiB leaves, 2 MiB and 1 GiB leaves, garbage words, leaves
 * and pointers to GPAs outside the parent, with and without P/RW), guest invalidations or none
 * (rewrites without invalidation), the VMM unmapping a region of the parent and mapping it again
 * (at the same or another part of its RAM; read-only, which VT-d's nest parents refuse), and DMAs.
 * Every DMA that succeeds must land in a frame the parent maps now, writable if it wrote, and
 * never in the victim process's pages. Closing returns everything.
 *
 * ISOLATION_SCALE multiplies the runs; ISOLATION_SEED changes the seed.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ErrnoError,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  iommu_hwpt_vtd_s1,
  iommu_hwpt_vtd_s1_invalidate,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  to_pci_dev,
} from "../../lib/internal.ts";
import { assertProperty, checkClose, frameOf, makeWorld } from "./world.ts";

const SCALE = Number(Deno.env.get("ISOLATION_SCALE") ?? 1);
const SEED = Number(Deno.env.get("ISOLATION_SEED") ?? 20261202);
const MiB = 1n << 20n;
const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

type Entry =
  | { kind: "table"; to: number }
  | { kind: "leaf"; gpa: number; size: 0 | 1 | 2 }
  | { kind: "outside"; gpa: bigint }
  | { kind: "garbage"; v: bigint }
  | { kind: "zero" };

type NOp =
  | { op: "write"; table: number; index: number; entry: Entry; flags: number }
  | { op: "invalidate"; all: boolean; i3: number }
  | { op: "unmap"; region: number }
  | { op: "remap"; region: number; to: number; readOnly: boolean }
  | { op: "dma"; i4: number; i3: number; i2: number; i1: number; off: number; write: boolean };

/** Table pages at GPA 0x1000 · k, k = 1‥8. */
const tablePage = fc.integer({ min: 1, max: 8 });
const entry: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("table" as const), to: tablePage }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("leaf" as const),
      gpa: fc.nat(1023),
      size: fc.constantFrom(0 as const, 0 as const, 1 as const, 2 as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("outside" as const),
      gpa: fc.constantFrom(4n * MiB, 1n << 30n, (1n << 39n) - 4096n, 1n << 51n),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("garbage" as const),
      v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "zero" as const }) },
);
const nop: fc.Arbitrary<NOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("write" as const),
      table: tablePage,
      index: fc.nat(3),
      entry,
      // P RW U/S A D, mostly all set.
      flags: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0x67) },
        { weight: 1, arbitrary: fc.nat(0x7f) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("invalidate" as const),
      all: fc.boolean(),
      i3: fc.nat(3),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("unmap" as const), region: fc.nat(3) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("remap" as const),
      region: fc.nat(3),
      to: fc.nat(3),
      readOnly: fc.boolean(),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant("dma" as const),
      i4: fc.constantFrom(0, 0, 0, 1),
      i3: fc.constantFrom(2, 2, 2, 0, 1, 3),
      i2: fc.constantFrom(0, 0, 0, 1, 2, 3),
      i1: fc.nat(3),
      off: fc.constantFrom(0, 0x10, 0xff8),
      write: fc.boolean(),
    }),
  },
);

function encode(e: Entry, flags: number): bigint {
  const f = BigInt(flags);
  switch (e.kind) {
    case "table":
      return BigInt(e.to * 0x1000) | f;
    case "leaf": {
      const ps = e.size ? 0x80n : 0n;
      const align = [0x1000, 0x20_0000, 0x4000_0000][e.size];
      return (BigInt(Math.floor((e.gpa * 0x1000) / align) * align) | f | ps);
    }
    case "outside":
      return e.gpa | f;
    case "garbage":
      return e.v;
    case "zero":
      return 0n;
  }
}

function run(root: bigint, ops: NOp[], stats: { dmas: number; ok: number }): void {
  const w = makeWorld("dmar0");
  const { fd, vmm } = w;
  // Guest RAM: 4 MiB more, written (1024 pages), and the parent mapping all of it at GPA 0.
  const ram = vmm.mmap(4n * MiB);
  vmm.write(ram, new Uint8Array(Number(4n * MiB)).fill(1));
  const ioas = fd.ioasAlloc();
  const regions: ({ to: number; prot: number } | null)[] = [0, 1, 2, 3].map((k) => ({
    to: k,
    prot: RW,
  }));
  for (let k = 0; k < 4; k++) {
    fd.ioasMap({
      ioas_id: ioas,
      user_va: ram + BigInt(k) * MiB,
      length: MiB,
      iova: BigInt(k) * MiB,
    });
  }
  const devId = fd.bind(w.devices[0]);
  w.bound[0] = devId;
  const parent = fd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
  // A valid start: IOVA 0x8000_0000 → GPA 0x20_0000 through tables at 0x1000‥0x4000, a 2 MiB
  // leaf, a shared table and a cycle.
  const write64 = (gpa: number, v: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    vmm.write(ram + BigInt(gpa), b);
  };
  write64(0x1000, 0x2000n | 0x27n);
  write64(0x2000 + 16, 0x3000n | 0x27n);
  write64(0x3000, 0x4000n | 0x27n);
  for (let k = 0; k < 4; k++) write64(0x4000 + 8 * k, BigInt(0x20_0000 + k * 0x1000) | 0x67n);
  write64(0x3000 + 8, 0x20_0000n | 0xe7n); // PD[1]: a 2 MiB leaf
  write64(0x2000 + 24, 0x3000n | 0x27n); // PDPT[3]: the same PD
  write64(0x2000, 0x2000n | 0x27n); // PDPT[0]: a pointer to itself, a cycle
  const nested = fd.hwptAlloc({
    dev_id: devId,
    pt_id: parent,
    data_type: IOMMU_HWPT_DATA_VTD_S1,
    data: iommu_hwpt_vtd_s1.encode({ flags: 0n, pgtbl_addr: root, addr_width: 48, __reserved: 0 }),
  });
  fd.attach(devId, nested);
  w.attached[0] = nested;
  const dev = to_pci_dev(w.devices[0]);
  /** Frames the parent maps now, with whether writable. */
  const allowed = () => {
    const frames = new Map<number, boolean>();
    regions.forEach((r) => {
      if (!r) return;
      for (let p = 0n; p < 256n; p++) {
        frames.set(frameOf(vmm, ram + BigInt(r.to) * MiB + p * 4096n), !!(r.prot & 2));
      }
    });
    return frames;
  };
  let frames = allowed();
  ops.forEach((o, step) => {
    const where = `step ${step} ${fc.stringify(o)}`;
    switch (o.op) {
      case "write":
        write64(o.table * 0x1000 + o.index * 8, encode(o.entry, o.flags));
        return;
      case "invalidate":
        fd.hwptInvalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, [
          iommu_hwpt_vtd_s1_invalidate.encode(
            o.all
              ? { addr: 0n, npages: (1n << 64n) - 1n, flags: 0, __reserved: 0 }
              : { addr: BigInt(o.i3) << 30n, npages: 512n, flags: 0, __reserved: 0 },
          ),
        ]);
        return;
      case "unmap":
        if (!regions[o.region]) return;
        fd.ioasUnmap(ioas, BigInt(o.region) * MiB, MiB);
        regions[o.region] = null;
        frames = allowed();
        return;
      case "remap": {
        if (regions[o.region]) return;
        const prot = o.readOnly ? IOMMU_IOAS_MAP_READABLE : RW;
        try {
          fd.ioasMap({
            ioas_id: ioas,
            user_va: ram + BigInt(o.to) * MiB,
            length: MiB,
            iova: BigInt(o.region) * MiB,
            flags: prot,
          });
        } catch (e) {
          // VT-d nest parents take no read-only mapping (the erratum check): nothing changed.
          if (!(e instanceof ErrnoError) || !o.readOnly) throw e;
          return;
        }
        regions[o.region] = { to: o.to, prot };
        frames = allowed();
        return;
      }
      case "dma": {
        // Four neighbouring pages of the last level, read and written.
        for (let i1 = 0; i1 < 4; i1++) {
          const iova = (BigInt(o.i4) << 39n) | (BigInt(o.i3) << 30n) | (BigInt(o.i2) << 21n) |
            (BigInt((o.i1 + i1) % 4) << 12n) | BigInt(o.off);
          for (const write of [o.write, !o.write]) {
            const t = dev.dma(iova, { write });
            stats.dmas++;
            if (!t.ok) continue;
            stats.ok++;
            const frame = Math.floor(t.pa / 4096);
            const at = `${where} (0x${iova.toString(16)}, ${write ? "write" : "read"})`;
            assert.ok(!w.victimFrames.has(frame), `${at}: reached a victim page`);
            const writable = frames.get(frame);
            assert.ok(writable !== undefined, `${at}: reached frame ${frame}, not the parent's`);
            if (write) assert.ok(writable, `${at}: wrote a frame the parent maps read-only`);
          }
        }
        return;
      }
    }
  });
  vmm.munmap(ram, 4n * MiB);
  checkClose(w);
}

Deno.test(`isolation: a nested domain's output never leaves the second stage's mappings under random guest tables (dmar0, seed ${SEED})`, () => {
  const stats = { dmas: 0, ok: 0 };
  assertProperty(
    fc.property(
      fc.constantFrom(0x1000n, 0x1000n, 0x1000n, 0x2000n, 0x5000n, 4n * MiB, 1n << 30n),
      fc.array(nop, { minLength: 10, maxLength: 60, size: "max" }),
      (root, ops) => run(root, ops, stats),
    ),
    { seed: SEED, numRuns: Math.max(1, Math.round(25 * SCALE)) },
  );
  console.log(`${stats.dmas} DMAs, ${stats.ok} translated`);
  assert.ok(stats.ok > stats.dmas / 50, "too few DMAs get through to test anything");
});
