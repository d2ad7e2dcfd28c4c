/**
 * A world for isolation properties and the deep fuzzer: a VMM with guest RAM, an iommufd, two
 * devices on one driver (mock0 or dmar0), and a victim process whose pages nobody maps; a typed
 * operation language over it; and an independent mirror of what each IOAS maps, kept from the
 * calls' results alone (never read back from the model), against which device reach is checked.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type device,
  ErrnoError,
  folioPfnAt,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  iommu_iova_to_phys,
  type iommufd_ctx,
  type iommufd_object,
  type IommufdFd,
  Machine,
  mappedFolio,
  type mem_cgroup,
  MOCK_APERTURE_START,
  OOM_SCORE_ADJ_MIN,
  PAGE_SIZE,
  type Process,
  to_pci_dev,
  xa_for_each,
} from "../../lib/internal.ts";
import { faultIn } from "../fault_in.ts";

export const P = BigInt(PAGE_SIZE);
export const RAM_PAGES = 64;
export type Driver = "mock0" | "dmar0";
const R = IOMMU_IOAS_MAP_READABLE, W = IOMMU_IOAS_MAP_WRITEABLE;

/** The operations; numbers pick among what exists, modulo its count. */
export type WOp =
  | { op: "ioasAlloc" }
  | { op: "map"; ioas: number; page: number; pages: number; iova: number | null; prot: number }
  | { op: "unmapArea"; ioas: number; area: number }
  | { op: "unmapAll"; ioas: number }
  | { op: "copy"; src: number; area: number; dst: number; iova: number | null; prot: number }
  | { op: "hwptAlloc"; dev: number; ioas: number; parent: boolean }
  | { op: "attach"; dev: number; pt: number; hwpt: boolean }
  | { op: "detach"; dev: number }
  | { op: "bind"; dev: number }
  | { op: "unbind"; dev: number }
  | { op: "destroy"; kind: "ioas" | "hwpt"; k: number }
  | { op: "memoryMax"; extraPages: number | null };

export const wop: fc.Arbitrary<WOp> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ op: "ioasAlloc" as const }) },
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant("map" as const),
      ioas: fc.nat(3),
      page: fc.nat(RAM_PAGES - 1),
      pages: fc.integer({ min: 1, max: 16 }),
      iova: fc.option(fc.nat(255), { freq: 2 }),
      prot: fc.constantFrom(R | W, R | W, R, W),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("unmapArea" as const),
      ioas: fc.nat(3),
      area: fc.nat(7),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("unmapAll" as const), ioas: fc.nat(3) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("copy" as const),
      src: fc.nat(3),
      area: fc.nat(7),
      dst: fc.nat(3),
      iova: fc.option(fc.nat(255), { freq: 2 }),
      prot: fc.constantFrom(R | W, R, W),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("hwptAlloc" as const),
      dev: fc.nat(1),
      ioas: fc.nat(3),
      parent: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("attach" as const),
      dev: fc.nat(1),
      pt: fc.nat(3),
      hwpt: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constantFrom("detach" as const, "bind" as const, "unbind" as const),
      dev: fc.nat(1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("destroy" as const),
      kind: fc.constantFrom("ioas" as const, "hwpt" as const),
      k: fc.nat(3),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("memoryMax" as const),
      extraPages: fc.option(fc.nat(40), { freq: 3 }),
    }),
  },
);

/** A mapping in the mirror: `pages` pages at `iova`, of guest RAM page `page`, with `prot`. */
interface MirrorArea {
  iova: bigint;
  page: number;
  pages: number;
  prot: number;
}

export interface World {
  driver: Driver;
  m: Machine;
  cg: mem_cgroup;
  vmm: Process;
  victim: Process;
  victimFrames: Set<number>;
  fd: IommufdFd;
  ram: bigint;
  rlimitPages: number;
  devices: device[];
  /** dev_id of each device (0: not bound); what it is attached to (an IOAS id or a hwpt id). */
  bound: number[];
  attached: (number | null)[];
  ioases: number[];
  hwpts: { id: number; ioas: number }[];
  mirror: Map<number, MirrorArea[]>;
  /** The counters at the start (before open), for the close check. */
  before: Record<string, unknown>;
}

/** The IOVA window: page k of it. */
export function iovaOf(w: World, k: number): bigint {
  return (w.driver === "mock0" ? MOCK_APERTURE_START : 1n << 30n) + BigInt(k) * P;
}

/** The host frame of the VMM's RAM page `k` (pinned pages do not move). */
export function frameOf(task: Process, va: bigint): number {
  const folio = mappedFolio(task.mm!, Number(va))!;
  return folioPfnAt(folio, Number(va));
}

export function counters(w: World): Record<string, unknown> {
  const stat = Object.fromEntries(
    w.cg.read("memory.stat").trim().split("\n").map((l) => l.split(" ")).map((
      [k, v],
    ) => [k, Number(v)]),
  );
  return {
    "memory.current": Number(w.cg.read("memory.current")),
    kernel: stat.kernel,
    sec_pagetables: stat.sec_pagetables,
    nr_iommu_pages: w.m.pgdat.vm_stat.NR_IOMMU_PAGES,
    "user->locked_vm": w.vmm.task.cred.user.locked_vm,
    "mm->locked_vm": w.vmm.mm!.locked_vm,
    "mm->pinned_vm": w.vmm.mm!.pinned_vm,
  };
}

export function makeWorld(driver: Driver, rlimitPages = 1024): World {
  const m = new Machine({ memory: 1 << 30 });
  if (driver === "dmar0") m.addIommu({ kind: "vtd" });
  const victimCg = m.cgroups.create("/victim");
  const victim = m.spawn({ cgroup: victimCg, comm: "victim" });
  const vbuf = victim.mmap(16n * P);
  victim.write(vbuf, new Uint8Array(16 * PAGE_SIZE).fill(0x5a));
  const victimFrames = new Set<number>();
  for (let k = 0n; k < 16n; k++) victimFrames.add(frameOf(victim, vbuf + k * P));
  const cg = m.cgroups.create("/vmm");
  // Nobody to OOM-kill: a charge over memory.max fails (the property is about the counters).
  const vmm = m.spawn({
    cgroup: cg,
    comm: "vmm",
    rlimitMemlock: BigInt(rlimitPages) * P,
    oomScoreAdj: OOM_SCORE_ADJ_MIN,
  });
  const ram = vmm.mmap(BigInt(RAM_PAGES) * P);
  vmm.write(ram, new Uint8Array(RAM_PAGES * PAGE_SIZE).fill(0xa5));
  const devices = [m.addDevice({ iommu: driver }), m.addDevice({ iommu: driver })];
  const w: World = {
    driver,
    m,
    cg,
    vmm,
    victim,
    victimFrames,
    fd: null as unknown as IommufdFd,
    ram,
    rlimitPages,
    devices,
    bound: [0, 0],
    attached: [null, null],
    ioases: [],
    hwpts: [],
    mirror: new Map(),
    before: {},
  };
  w.before = counters(w);
  w.fd = vmm.openIommufd();
  faultIn(vmm, w.fd.scratch(), 1n << 20n);
  return w;
}

const pick = <T>(xs: T[], k: number): T | undefined => xs.length ? xs[k % xs.length] : undefined;

/** Run one operation through the typed API; returns the ErrnoError it failed with, or null. */
export function apply(w: World, o: WOp): { name: string; error: ErrnoError | null } {
  const fd = w.fd;
  const run = (name: string, body: () => void) => {
    try {
      body();
      return { name, error: null };
    } catch (e) {
      if (e instanceof ErrnoError) return { name, error: e };
      throw e;
    }
  };
  const areasOf = (id: number) => w.mirror.get(id) ?? [];
  switch (o.op) {
    case "ioasAlloc":
      return run("IOMMU_IOAS_ALLOC", () => {
        const id = fd.ioasAlloc();
        w.ioases.push(id);
        w.mirror.set(id, []);
      });
    case "map": {
      const ioas = pick(w.ioases, o.ioas) ?? 999;
      const pages = Math.min(o.pages, RAM_PAGES - o.page);
      return run("IOMMU_IOAS_MAP", () => {
        const iova = fd.ioasMap({
          ioas_id: ioas,
          user_va: w.ram + BigInt(o.page) * P,
          length: BigInt(pages) * P,
          iova: o.iova === null ? undefined : iovaOf(w, o.iova),
          flags: o.prot,
        });
        areasOf(ioas).push({ iova, page: o.page, pages, prot: o.prot });
      });
    }
    case "unmapArea": {
      const ioas = pick(w.ioases, o.ioas) ?? 999;
      const a = pick(areasOf(ioas), o.area);
      const iova = a?.iova ?? iovaOf(w, o.area), len = BigInt(a?.pages ?? 1) * P;
      return run("IOMMU_IOAS_UNMAP", () => {
        fd.ioasUnmap(ioas, iova, len);
        w.mirror.set(ioas, areasOf(ioas).filter((x) => x !== a));
      });
    }
    case "unmapAll": {
      const ioas = pick(w.ioases, o.ioas) ?? 999;
      return run("IOMMU_IOAS_UNMAP", () => {
        fd.ioasUnmap(ioas, 0n, (1n << 64n) - 1n);
        w.mirror.set(ioas, []);
      });
    }
    case "copy": {
      const src = pick(w.ioases, o.src) ?? 999, dst = pick(w.ioases, o.dst) ?? 999;
      const a = pick(areasOf(src), o.area);
      const src_iova = a?.iova ?? iovaOf(w, 0), pages = a?.pages ?? 1;
      return run("IOMMU_IOAS_COPY", () => {
        const iova = fd.ioasCopy({
          dst_ioas_id: dst,
          src_ioas_id: src,
          src_iova,
          length: BigInt(pages) * P,
          dst_iova: o.iova === null ? undefined : iovaOf(w, o.iova),
          flags: o.prot,
        });
        areasOf(dst).push({ iova, page: a!.page, pages, prot: o.prot });
      });
    }
    case "hwptAlloc": {
      const ioas = pick(w.ioases, o.ioas) ?? 999;
      return run("IOMMU_HWPT_ALLOC", () => {
        const id = fd.hwptAlloc({
          dev_id: w.bound[o.dev] || 999,
          pt_id: ioas,
          flags: o.parent ? IOMMU_HWPT_ALLOC_NEST_PARENT : 0,
        });
        w.hwpts.push({ id, ioas });
      });
    }
    case "attach": {
      const pt = o.hwpt ? pick(w.hwpts, o.pt)?.id ?? 999 : pick(w.ioases, o.pt) ?? 999;
      return run("VFIO_DEVICE_ATTACH_IOMMUFD_PT", () => {
        if (!w.bound[o.dev]) return;
        fd.attach(w.bound[o.dev], pt);
        w.attached[o.dev] = pt;
      });
    }
    case "detach":
      return run("VFIO_DEVICE_DETACH_IOMMUFD_PT", () => {
        if (!w.bound[o.dev]) return;
        fd.detach(w.bound[o.dev]);
        w.attached[o.dev] = null;
      });
    case "bind":
      return run("VFIO_DEVICE_BIND_IOMMUFD", () => {
        if (w.bound[o.dev]) return;
        w.bound[o.dev] = fd.bind(w.devices[o.dev]);
        w.attached[o.dev] = null;
      });
    case "unbind":
      return run("close(vfio device)", () => {
        if (!w.bound[o.dev]) return;
        fd.unbind(w.bound[o.dev]);
        w.bound[o.dev] = 0;
        w.attached[o.dev] = null;
      });
    case "destroy": {
      if (o.kind === "ioas") {
        const id = pick(w.ioases, o.k) ?? 999;
        return run("IOMMU_DESTROY", () => {
          fd.destroy(id);
          w.ioases = w.ioases.filter((x) => x !== id);
          w.mirror.delete(id);
        });
      }
      const h = pick(w.hwpts, o.k);
      return run("IOMMU_DESTROY", () => {
        fd.destroy(h?.id ?? 999);
        w.hwpts = w.hwpts.filter((x) => x !== h);
      });
    }
    case "memoryMax":
      return run("memory.max", () => {
        const cur = Number(w.cg.read("memory.current"));
        w.cg.write(
          "memory.max",
          o.extraPages === null ? "max" : `${cur + o.extraPages * PAGE_SIZE}`,
        );
      });
  }
}

/** The IOAS a device's DMA goes through now, or null (blocked). */
function ioasOfDevice(w: World, k: number): number | null {
  const pt = w.attached[k];
  if (pt === null) return null;
  if (w.mirror.has(pt)) return pt;
  return w.hwpts.find((h) => h.id === pt)?.ioas ?? null;
}

/** One DMA by device `k` to `iova`: the host frame reached, or null. */
function dma(w: World, k: number, iova: bigint, write: boolean): number | null {
  const dev = w.devices[k];
  if (w.driver === "dmar0") {
    const t = to_pci_dev(dev).dma(iova, { write });
    return t.ok ? Math.floor(t.pa / PAGE_SIZE) : null;
  }
  // mock0 has no DMA engine: the domain's translation is what the device would use.
  const domain = dev.iommu_group!.domain;
  if (!domain) return null;
  const pa = w.m.kernel(() => iommu_iova_to_phys(domain, iova));
  return pa ? Math.floor(pa / PAGE_SIZE) : null;
}

/**
 * Property (b): each bound device reaches exactly what its IOAS maps — every mapped page at its
 * own frame with its permissions, a sample of unmapped IOVAs not at all — and never a victim page.
 */
export function checkReach(w: World, where: string, samples: number[]): number {
  let probes = 0;
  for (let k = 0; k < w.devices.length; k++) {
    if (!w.bound[k]) continue;
    const ioas = ioasOfDevice(w, k);
    const areas = ioas === null ? [] : w.mirror.get(ioas) ?? [];
    const expect = new Map<bigint, { frame: number; prot: number }>();
    for (const a of areas) {
      for (let p = 0; p < a.pages; p++) {
        expect.set(a.iova + BigInt(p) * P, {
          frame: frameOf(w.vmm, w.ram + BigInt(a.page + p) * P),
          prot: a.prot,
        });
      }
    }
    const iovas = [...expect.keys()].filter((_, i) => samples.includes(i % 16));
    for (const s of samples) iovas.push(iovaOf(w, s * 16 + 3), BigInt(s) * P);
    for (const iova of iovas) {
      const e = expect.get(iova);
      for (const write of [false, true]) {
        // An offset into the page on VT-d; the mock translates whole IO pages only.
        const got = dma(w, k, iova + (w.driver === "dmar0" ? 0x10n : 0n), write);
        probes++;
        const at = `${where}: device ${k} ${write ? "write" : "read"} of 0x${iova.toString(16)}`;
        if (got !== null) assert.ok(!w.victimFrames.has(got), `${at} reached a victim page`);
        if (!e) {
          assert.equal(got, null, `${at}: nothing maps it, but it reached frame ${got}`);
          continue;
        }
        // The mock domain's translation has no permissions: only the frame is compared there.
        const allowed = w.driver === "mock0" ||
          (write ? e.prot & IOMMU_IOAS_MAP_WRITEABLE : e.prot & IOMMU_IOAS_MAP_READABLE);
        if (allowed) assert.equal(got, e.frame, `${at}: expected frame ${e.frame}`);
        else assert.equal(got, null, `${at}: not permitted, but reached frame ${got}`);
      }
    }
  }
  return probes;
}

/** Property (c): memory.current ≤ memory.max and locked_vm ≤ RLIMIT_MEMLOCK. */
export function checkLimits(w: World, where: string): void {
  const max = w.cg.read("memory.max").trim();
  const cur = Number(w.cg.read("memory.current"));
  if (max !== "max") assert.ok(cur <= Number(max), `${where}: memory.current ${cur} > ${max}`);
  const lim = w.rlimitPages;
  assert.ok(w.vmm.task.cred.user.locked_vm <= lim, `${where}: user locked_vm over RLIMIT_MEMLOCK`);
  assert.ok(w.vmm.mm!.locked_vm <= lim, `${where}: mm locked_vm over RLIMIT_MEMLOCK`);
}

/** Close the iommufd: every counter back where it was before open (max lifted first). */
export function checkClose(w: World): void {
  w.fd.close();
  w.cg.write("memory.max", "max");
  assert.deepEqual(counters(w), w.before, "after close, the counters are not back to the start");
  for (const d of w.devices) {
    const g = d.iommu_group!;
    assert.ok(g.owner === null && g.domain === g.default_domain, `${d.name} not released`);
  }
}

/** A runnable snippet that replays `ops` (printed for a failing, shrunk case). */
export function snippet(driver: Driver, rlimitPages: number, ops: WOp[]): string {
  return [
    `// deno run --allow-all this.ts  (from tests/isolation/)`,
    `import { apply, checkClose, makeWorld } from "./world.ts";`,
    `const w = makeWorld(${JSON.stringify(driver)}, ${rlimitPages});`,
    ...ops.map((o) => `console.log(apply(w, ${JSON.stringify(o)}).error?.message ?? "ok");`),
    `checkClose(w);`,
  ].join("\n");
}

/**
 * fc.assert, but a failure prints only the shrunk counterexample, as a runnable snippet made by
 * `show`, and rethrows its error.
 */
export function assertProperty<T>(
  prop: fc.IProperty<T>,
  params: fc.Parameters<T>,
  show?: (value: T) => string,
): void {
  const out = fc.check(prop, params);
  if (!out.failed) return;
  const value = out.counterexample! as T;
  const text = show ? show(value) : fc.stringify(value);
  console.error(
    `seed ${out.seed}, path ${out.counterexample ? out.counterexamplePath : ""}, ` +
      `after ${out.numRuns} runs and ${out.numShrinks} shrinks:\n${text}`,
  );
  throw out.errorInstance;
}

export function objectsOf(w: World): string[] {
  const ictx = w.vmm.task.files!.fdt.get(w.fd.fd)!.private_data as iommufd_ctx;
  return [...xa_for_each(ictx.objects)].map(([, o]: [number, iommufd_object]) =>
    `${o.id}:${o.type}:${o.users}`
  );
}

/** What a failed call may change: the kernel's real guarantee (issue 14, item I). */
export function checkFailure(
  w: World,
  name: string,
  before: Record<string, unknown>,
  objects: string[],
  where: string,
): void {
  const after = counters(w);
  assert.deepEqual(objectsOf(w), objects, `${where}: failed ${name} changed the object table`);
  const tables = ["sec_pagetables", "nr_iommu_pages", "memory.current", "kernel"];
  const strip = (c: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(c).filter(([k]) => !tables.includes(k)));
  assert.deepEqual(strip(after), strip(before), `${where}: failed ${name} changed counters`);
  const d = (k: string) => (after[k] as number) - (before[k] as number);
  if (w.driver === "dmar0" && (name === "IOMMU_IOAS_MAP" || name === "IOMMU_IOAS_COPY")) {
    // Table pages may stay: each is an IOMMU page, in sec_pagetables, charged.
    assert.ok(d("nr_iommu_pages") >= 0, `${where}: ${name} freed IOMMU pages`);
    assert.equal(d("sec_pagetables"), d("nr_iommu_pages") * 4096, `${where}: only table pages`);
    assert.equal(d("memory.current"), d("sec_pagetables"), `${where}: charged beyond tables`);
    return;
  }
  for (const k of tables) assert.equal(d(k), 0, `${where}: failed ${name} changed ${k}`);
}
