/**
 * Property-based fuzzing of the iommufd uAPI through the raw system call.
 *
 * Each run builds the selftest's fixture (a VMM in its own memory cgroup, a 16-page buffer) plus
 * some odd memory — a read-only page, an unmapped hole, a struct page made read-only after it was
 * written — then makes a random sequence of ioctls, `fd.ioctl(cmd, va)` with a struct encoded in
 * user memory, whose fields mix valid and adversarial values (see uapi_gen.ts). Every run checks:
 *
 * 1. Bad input loses nothing: a call that fails leaves the observable state exactly as it found it
 *    (memory-cgroup counters, IOMMU pages, locked/pinned memory and page pins, the object table
 *    with its reference counts, every IOAS's areas and allowed and reserved ranges, the domains'
 *    IOPTEs, device attachments, options), except for the failures the kernel documents as
 *    non-atomic (NON_ATOMIC below).
 * 2. No crash: nothing but a return value comes out of the raw ioctl path.
 * 3. The errno is one the kernel's handler for that command can return, and the failure says
 *    which check produced it.
 * 4. Teardown: closing the fd brings everything back to the fixture's starting snapshot.
 * 5. Every counter stays an integer after every call: the memory-cgroup and IOMMU-page counters,
 *    locked_vm and pinned_vm, page pin counts, and each iopt_pages' npinned and last_npinned (a
 *    batch read past its end once made them NaN; issue 14, finding H).
 *
 * FUZZ_SEED and FUZZ_RUNS (and FUZZ_OPS, the longest sequence) override the fixed defaults, e.g.
 * `FUZZ_RUNS=5000 FUZZ_SEED=7 deno test --allow-all --no-check tests/fuzz/`.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CAP_IPC_LOCK,
  CAP_SYS_RESOURCE,
  type device,
  E2BIG,
  EADDRINUSE,
  EBUSY,
  EEXIST,
  EFAULT,
  EINVAL,
  EMSGSIZE,
  ENODEV,
  ENOENT,
  ENOMEM,
  ENOSPC,
  ENOTTY,
  EOPNOTSUPP,
  EOVERFLOW,
  EPERM,
  ErrnoError,
  errnoName,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_SELFTEST,
  iommu_hwpt_selftest,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_TEST_IOTLB_DEFAULT,
  iommufd_device,
  iommufd_hw_pagetable,
  iommufd_ioas,
  type iommufd_object,
  iommufdIoctls,
  Machine,
  MOCK_APERTURE_START,
  mock_iommu_domain,
  MOCK_PFN_DIRTY_IOVA,
  PAGE_SIZE,
  PROT_READ,
  userPage,
  VM_READ,
  xa_for_each,
} from "../../lib/internal.ts";
import { snapshot } from "../conformance/fixture.ts";
import { faultIn } from "../fault_in.ts";
import {
  BUFFER_SIZE,
  HUGEPAGE_SIZE,
  ictxOf,
  type IoasFixture,
  teardownFixture,
  testDirty,
} from "../conformance/ioas_helpers.ts";
import {
  type FieldToken,
  type IdToken,
  type Op,
  type PtrToken,
  type RawOp,
  scenario,
  type SetupOp,
  type U64Token,
} from "./uapi_gen.ts";

const P = BigInt(PAGE_SIZE);
const M64 = (1n << 64n) - 1n;

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20241117);
const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 400);
const MAX_OPS = Number(Deno.env.get("FUZZ_OPS") ?? 32);

/**
 * Failures after which the kernel itself leaves state changed, by command and check id — each is
 * a numbered step of its chapter:
 * - IOAS_MAP/COPY step 8 (spec/13-mapping.md#ioas-map, #copy): writing the IOVA back faults, the
 *   mapping stays;
 * - IOAS_UNMAP: step 6 (#unmap-partial) removes the areas met before the one sticking out, step 8
 *   (writing `length` back faults) after the unmap was done;
 * - IOMMU_OPTION (spec/07-iommufd-objects.md#option): the option is set before val64 is written
 *   back.
 */
const NON_ATOMIC: Record<string, string[]> = {
  IOMMU_IOAS_MAP: ["respond-fault"],
  IOMMU_IOAS_COPY: ["respond-fault"],
  IOMMU_IOAS_UNMAP: ["unmap-partial", "respond-fault"],
  IOMMU_OPTION: ["respond-fault"],
};

/**
 * The errnos each command's handler can return in v6.12 (drivers/iommu/iommufd/*.c), beyond the
 * dispatcher's ENOTTY, EFAULT, EINVAL (size) and E2BIG (a non-zero tail).
 */
const ERRNOS: Record<string, number[]> = {
  IOMMU_DESTROY: [ENOENT, EBUSY],
  IOMMU_IOAS_ALLOC: [EOPNOTSUPP, ENOMEM, EBUSY],
  IOMMU_IOAS_ALLOW_IOVAS: [EOPNOTSUPP, ENOENT, ENOMEM, EADDRINUSE],
  IOMMU_IOAS_COPY: [EOPNOTSUPP, EOVERFLOW, ENOENT, ENOMEM, ENOSPC, EEXIST, EPERM, EBUSY],
  IOMMU_IOAS_IOVA_RANGES: [EOPNOTSUPP, ENOENT, EMSGSIZE],
  IOMMU_IOAS_MAP: [EOPNOTSUPP, EOVERFLOW, ENOENT, ENOMEM, ENOSPC, EEXIST, EPERM],
  IOMMU_IOAS_UNMAP: [ENOENT, EOVERFLOW, EBUSY],
  IOMMU_OPTION: [EOPNOTSUPP, EPERM, EBUSY, ENOENT, EADDRINUSE],
  IOMMU_VFIO_IOAS: [EOPNOTSUPP, ENODEV, ENOENT],
  IOMMU_HWPT_ALLOC: [EOPNOTSUPP, ENOENT, ENOMEM, EADDRINUSE, EEXIST, ENODEV, EBUSY],
  IOMMU_GET_HW_INFO: [EOPNOTSUPP, ENOENT, ENOMEM, ENODEV],
  IOMMU_HWPT_SET_DIRTY_TRACKING: [EOPNOTSUPP, ENOENT],
  IOMMU_HWPT_GET_DIRTY_BITMAP: [EOPNOTSUPP, ENOENT, EOVERFLOW, ENOMEM],
  IOMMU_HWPT_INVALIDATE: [EOPNOTSUPP, ENOENT],
  IOMMU_FAULT_QUEUE_ALLOC: [EOPNOTSUPP],
};
const DISPATCHER = [ENOTTY, EFAULT, EINVAL, E2BIG];

/** The fixture: the selftest's buffer, and memory to put structs and arrays in. */
interface FuzzFixture extends IoasFixture {
  /** 4 writable pages, directly below `zero`: structs go at their start. */
  arg: bigint;
  /** A read-only page never written: reads as zeros, writes fault. */
  zero: bigint;
  /** A page whose struct is written, then made read-only. */
  roArg: bigint;
  /** 2 writable pages for arrays. */
  data: bigint;
  /** An address with nothing mapped. */
  hole: bigint;
  /** Devices for VFIO binding, and the dev_id each is bound under (0: not bound). */
  devices: device[];
  bound: number[];
}

function setup(root: boolean, rlimitPages: number): FuzzFixture {
  const m = new Machine();
  const cg = m.cgroups.create("/vmm");
  const vmm = m.spawn({
    cgroup: cg,
    capabilities: root ? [CAP_SYS_RESOURCE, CAP_IPC_LOCK] : [CAP_SYS_RESOURCE],
    rlimitMemlock: BigInt(rlimitPages) * P,
    comm: "fuzz",
  });
  const buffer = vmm.mmap(HUGEPAGE_SIZE);
  vmm.munmap(buffer + BUFFER_SIZE, HUGEPAGE_SIZE - BUFFER_SIZE);
  vmm.write(buffer, new Uint8Array(Number(BUFFER_SIZE)).fill(0xa5));
  const zero = vmm.mmap(P, PROT_READ);
  const arg = vmm.mmap(4n * P);
  assert.equal(arg + 4n * P, zero, "mmap hands out adjacent ranges top-down");
  const roArg = vmm.mmap(P);
  const data = vmm.mmap(2n * P);
  // A one-page hole between two mappings: later, larger mmaps (the handle's scratch) cannot use it.
  const guard = vmm.mmap(3n * P);
  const hole = guard + P;
  vmm.munmap(hole, P);
  // Every writable page is faulted in now, so that the kernel writing to it later charges nothing.
  for (const [va, n] of [[arg, 4n], [roArg, 1n], [data, 2n], [guard, 1n], [guard + 2n * P, 1n]]) {
    faultIn(vmm, va, n * P);
  }
  const devices = [m.addDevice({ iommu: "mock0" }), m.addDevice({ iommu: "mock0" })];
  const before = snapshot(m, cg, vmm);
  const fd = vmm.openIommufd();
  // The typed helpers' scratch area, faulted in now so that it does not count as a change later.
  faultIn(vmm, fd.scratch(), 1n << 20n);
  return {
    m,
    cg,
    vmm,
    fd,
    before,
    buffer,
    arg,
    zero,
    roArg,
    data,
    hole,
    devices,
    bound: devices.map(() => 0),
  };
}

// ---- Observing the state ----

function objectsOf(f: FuzzFixture): iommufd_object[] {
  return [...xa_for_each(ictxOf(f).objects)].map(([, o]) => o);
}

function hex(v: bigint) {
  return `0x${v.toString(16)}`;
}

/** Everything a failed call must leave as it was. */
function observe(f: FuzzFixture) {
  const ictx = ictxOf(f);
  const objs = objectsOf(f);
  const hwptOf = (domain: unknown) => {
    const h = objs.find((o) => o instanceof iommufd_hw_pagetable && o.domain === domain);
    return h ? h.id : domain ? "other" : "none";
  };
  const objects = objs.map((o) => {
    const d: Record<string, unknown> = {
      id: o.id,
      type: o.type,
      users: o.users,
      shortterm_users: o.shortterm_users,
    };
    if (o instanceof iommufd_ioas) {
      const iopt = o.iopt;
      d.areas = iopt.area_itree.nodes.map((a) =>
        `${hex(a.start)}-${hex(a.last)} prot ${a.iommu_prot} off ${a.page_offset}`
      );
      d.allowed = iopt.allowed_itree.nodes.map((a) => `${hex(a.start)}-${hex(a.last)}`);
      d.reserved = iopt.reserved_itree.nodes.map((a) => `${hex(a.start)}-${hex(a.last)}`);
      d.iova_alignment = iopt.iova_alignment;
      d.disable_large_pages = iopt.disable_large_pages;
      d.domains = [...xa_for_each(iopt.domains)].map(([i, dom]) => `${i}:${hwptOf(dom)}`);
      d.hwpt_list = o.hwpt_list.map((h) => h.id);
    }
    if (o instanceof iommufd_hw_pagetable && o.domain instanceof mock_iommu_domain) {
      let n = 0, sum = 0n;
      for (const [i, v] of xa_for_each(o.domain.pfns)) {
        n++;
        sum = (sum * 31n + BigInt(i) * 7n + (v & ~MOCK_PFN_DIRTY_IOVA)) & M64;
      }
      d.iopte = `${n} entries, hash ${hex(sum)}`;
      d.domain_flags = o.domain.flags;
    }
    if (o instanceof iommufd_device) {
      d.attached = hwptOf(o.dev.iommu_group?.domain);
    }
    return d;
  });
  // Pins on the buffer's and the data area's pages.
  const pins: number[] = [];
  f.vmm.task.syscall(() => {
    for (const [va, n] of [[f.buffer, 16n], [f.data, 2n]] as const) {
      for (let k = 0n; k < n; k++) {
        const folio = userPage(f.vmm.mm!, Number(va + k * P), false);
        pins.push(typeof folio === "object" && folio ? folio._pincount ?? 0 : -1);
      }
    }
  });
  return {
    counters: snapshot(f.m, f.cg, f.vmm),
    objects,
    account_mode: ictx.account_mode,
    vfio_ioas: ictx.vfio_ioas?.id ?? 0,
    pins,
  };
}

/** Property 5: every counter of the state is an integer (never NaN, fractional or infinite). */
function assertIntegerCounters(f: FuzzFixture, where: string): void {
  const { counters, pins } = observe(f);
  for (const [name, v] of Object.entries(counters)) {
    if (typeof v === "number") assert.ok(Number.isInteger(v), `${where}: ${name} is ${v}`);
  }
  pins.forEach((v, k) => assert.ok(Number.isInteger(v), `${where}: page ${k} pin count is ${v}`));
  for (const o of objectsOf(f)) {
    if (!(o instanceof iommufd_ioas)) continue;
    for (const area of o.iopt.area_itree.nodes) {
      const pages = area.pages;
      if (!pages) continue;
      for (const name of ["npinned", "last_npinned"] as const) {
        assert.ok(
          Number.isInteger(pages[name]),
          `${where}: iopt_pages ${name} is ${pages[name]} (IOAS ${o.id})`,
        );
      }
    }
  }
}

// ---- Resolving tokens against the state ----

function resolveId(f: FuzzFixture, t: IdToken): number {
  if ("lit" in t) return t.lit;
  const objs = objectsOf(f).filter((o) => !t.type || o.type === t.type);
  if (!objs.length) return t.obj + 1;
  return objs[t.obj % objs.length].id;
}

function resolveU64(f: FuzzFixture, t: U64Token): bigint {
  if ("lit" in t) return t.lit;
  const areas = objectsOf(f).flatMap((o) =>
    o instanceof iommufd_ioas ? o.iopt.area_itree.nodes : []
  );
  if (!areas.length) return (BigInt(t.area) * P + t.delta) & M64;
  const a = areas[t.area % areas.length];
  const len = a.last - a.start + 1n;
  const base = {
    start: a.start,
    last: a.last,
    end: a.last + 1n,
    length: len,
    mid: a.start + ((len / 2n) & ~(P - 1n)),
  }[t.part];
  return (base + t.delta) & M64;
}

function resolvePtr(f: FuzzFixture, t: PtrToken): bigint {
  if ("lit" in t) return t.lit;
  const base = {
    buffer: f.buffer,
    bufend: f.buffer + BUFFER_SIZE,
    data: f.data,
    rodata: f.zero,
    unmapped: f.hole,
  }[t.mem];
  return (base + t.offset) & M64;
}

function resolveField(f: FuzzFixture, t: FieldToken): number | bigint {
  switch (t.kind) {
    case "id":
      return resolveId(f, t.id);
    case "u64":
      return resolveU64(f, t.v);
    case "ptr":
      return resolvePtr(f, t.p);
    case "u32":
      return t.v;
  }
}

/** Write the struct of `op` where its placement says, and return the ioctl's number and arg. */
function prepare(f: FuzzFixture, op: RawOp): { cmd: number; arg: bigint; name: string } {
  const data = new Uint8Array(2 * PAGE_SIZE);
  const view = new DataView(data.buffer);
  const words = op.data.map((t) => resolveU64(f, t));
  if (op.pairs) {
    for (let k = 0; k + 1 < words.length; k += 2) {
      if (words[k] > words[k + 1]) [words[k], words[k + 1]] = [words[k + 1], words[k]];
    }
  }
  words.forEach((w, k) => view.setBigUint64(k * 8, w, true));
  f.vmm.write(f.data, data);
  if (op.row < 0) {
    f.vmm.write(f.arg, new Uint8Array(64));
    return { cmd: op.cmdBits >>> 0, arg: f.arg, name: `0x${op.cmdBits.toString(16)}` };
  }
  const row = iommufdIoctls[op.row];
  const size = "lit" in op.size ? op.size.lit : {
    sizeof: row.size,
    min: row.min_size,
    "min-1": row.min_size - 1,
    plus: row.size + op.size.plus,
  }[op.size.rel];
  const values: Record<string, number | bigint> = { size };
  for (const [name, t] of Object.entries(op.fields)) values[name] = resolveField(f, t);
  const bytes = row.struct.encode(values as never);
  const room = 4 * PAGE_SIZE;
  const image = new Uint8Array(Math.min(Math.max(size, bytes.length), room));
  image.set(bytes);
  if (op.dirtyTail && size > bytes.length) image[bytes.length] = 1;
  const cmd = (row.ioctl_num | op.cmdBits) >>> 0;
  switch (op.placement) {
    case "rw":
      f.vmm.write(f.arg, new Uint8Array(room));
      f.vmm.write(f.arg, image);
      return { cmd, arg: f.arg, name: row.name };
    case "ro": {
      const vma = f.vmm.mm!.vmas.find((v) => v.vm_start === Number(f.roArg))!;
      const w = vma as { vm_flags: number };
      const flags = w.vm_flags;
      // mprotect(PROT_READ | PROT_WRITE), write, mprotect(PROT_READ): the model has no mprotect.
      w.vm_flags = flags | 2;
      f.vmm.write(f.roArg, new Uint8Array(PAGE_SIZE));
      f.vmm.write(f.roArg, image.subarray(0, PAGE_SIZE));
      w.vm_flags = VM_READ;
      return { cmd, arg: f.roArg, name: row.name };
    }
    case "straddle":
      // The first 8 bytes in the writable page, the rest in the read-only zero page.
      f.vmm.write(f.arg, new Uint8Array(room));
      f.vmm.write(f.zero - 8n, image.subarray(0, 8));
      return { cmd, arg: f.zero - 8n, name: row.name };
    case "unmapped":
      return { cmd, arg: f.hole, name: row.name };
    case "null":
      return { cmd, arg: 0n, name: row.name };
  }
}

/** Run a setup step through the typed helpers; returns the command it made and its error. */
function runSetup(f: FuzzFixture, op: SetupOp): { name: string; error: ErrnoError | null } {
  const fd = f.fd;
  const run = (name: string, body: () => unknown) => {
    try {
      body();
      return { name, error: null };
    } catch (e) {
      if (e instanceof ErrnoError) return { name, error: e };
      throw e;
    }
  };
  switch (op.op) {
    case "ioasAlloc":
      return run("IOMMU_IOAS_ALLOC", () => fd.ioasAlloc());
    case "mockDomain":
      return run(
        "IOMMU_TEST_OP_MOCK_DOMAIN",
        () => fd.testMockDomain(resolveId(f, op.pt), op.flags),
      );
    case "map": {
      const pages = BigInt(Math.min(op.pages, 16 - op.page));
      const iova = op.fixed ? resolveU64(f, op.fixed) : undefined;
      return run("IOMMU_IOAS_MAP", () =>
        fd.ioasMap({
          ioas_id: resolveId(f, op.ioas),
          user_va: op.user_va
            ? resolvePtr(f, op.user_va) & ~(P - 1n)
            : f.buffer + BigInt(op.page) * P,
          length: pages * P,
          iova,
          flags: op.prot | (iova === undefined ? 0 : IOMMU_IOAS_MAP_FIXED_IOVA),
        }));
    }
    case "hwptAlloc":
      return run("IOMMU_HWPT_ALLOC", () =>
        fd.hwptAlloc(
          op.nested
            ? {
              dev_id: resolveId(f, op.dev),
              pt_id: resolveId(f, op.pt),
              data_type: IOMMU_HWPT_DATA_SELFTEST,
              data: iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT }),
            }
            : { dev_id: resolveId(f, op.dev), pt_id: resolveId(f, op.pt), flags: op.flags },
        ));
    case "replace":
      return run(
        "IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE",
        () => fd.testMockDomainReplace(resolveId(f, op.stdev), resolveId(f, op.pt)),
      );
    case "option":
      return run(
        "IOMMU_OPTION",
        () => fd.option(op.option_id, op.op_, op.val64, resolveId(f, op.object)),
      );
    case "bind":
      return run("VFIO_DEVICE_BIND_IOMMUFD", () => {
        if (f.bound[op.dev]) return;
        f.bound[op.dev] = fd.bind(f.devices[op.dev]);
      });
    case "attach":
      return run("VFIO_DEVICE_ATTACH_IOMMUFD_PT", () => {
        if (f.bound[op.dev]) fd.attach(f.bound[op.dev], resolveId(f, op.pt));
      });
    case "detach":
      return run("VFIO_DEVICE_DETACH_IOMMUFD_PT", () => {
        if (f.bound[op.dev]) fd.detach(f.bound[op.dev]);
      });
    case "unbind":
      return run("close(vfio device)", () => {
        if (!f.bound[op.dev]) return;
        fd.unbind(f.bound[op.dev]);
        f.bound[op.dev] = 0;
      });
    case "dirty":
      return run("IOMMU_TEST_OP_DIRTY", () => {
        const id = resolveId(f, op.hwpt);
        const hwpt = objectsOf(f).find((o) => o.id === id);
        if (!(hwpt instanceof iommufd_hw_pagetable)) return;
        const length = resolveU64(f, op.length) & ((1n << 24n) - 1n);
        const bitmap = new Uint8Array(Number(length / 0x800n / 8n) + 1).fill(0x55);
        testDirty(f, id, resolveU64(f, op.iova), length, 0x800n, bitmap);
      });
    case "dirtyBitmap":
      return run("IOMMU_HWPT_GET_DIRTY_BITMAP", () =>
        fd.hwptGetDirtyBitmap({
          hwpt_id: resolveId(f, op.hwpt),
          iova: resolveU64(f, op.iova),
          length: resolveU64(f, op.length),
          page_size: op.page_size,
          flags: op.flags,
          data: op.data ? resolvePtr(f, op.data) : undefined,
        }));
  }
}

/** What counts as a crash: anything thrown out of the raw path. */
function describe(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack}` : String(e);
}

type Scenario = ReturnType<typeof scenario> extends fc.Arbitrary<infer T> ? T : never;

interface Stats {
  calls: number;
  failures: number;
  exempt: number;
  byCheck: Map<string, number>;
}

/** One generated run: every property checked after every call, teardown at the end. */
function runScenario(sc: Scenario, stats: Stats): void {
  const f = setup(sc.root, sc.rlimitPages);
  // The fixture's objects: made through the typed helpers; failures here are fine (a map that
  // does not fit RLIMIT_MEMLOCK, a domain that does not fit the mappings).
  const ioas = Array.from({ length: sc.ioases }, () => f.fd.ioasAlloc());
  const quiet = (body: () => unknown) => {
    try {
      body();
    } catch (e) {
      if (!(e instanceof ErrnoError)) throw e;
    }
  };
  // Domains and devices: before the mappings, or after them (filling the domains).
  const devices = () => {
    for (const [k, flags] of sc.domains) {
      quiet(() => f.fd.testMockDomain(ioas[k % ioas.length], flags));
    }
    sc.binds.forEach((b, k) => {
      if (!b || !ioas.length) return;
      quiet(() => {
        f.bound[k] = f.fd.bind(f.devices[k]);
        f.fd.attach(f.bound[k], ioas[0]);
      });
    });
    const dev_id = f.bound.find((d) => d) ??
      objectsOf(f).find((o) => o instanceof iommufd_device)?.id;
    if (dev_id && ioas.length && sc.nest) {
      quiet(() => {
        const pt_id = f.fd.hwptAlloc({
          dev_id,
          pt_id: ioas[0],
          flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
        });
        f.fd.hwptAlloc({
          dev_id,
          pt_id,
          data_type: IOMMU_HWPT_DATA_SELFTEST,
          data: iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT }),
        });
      });
    }
    if (dev_id && ioas.length && sc.dirty) {
      quiet(() => {
        const pt_id = ioas[ioas.length - 1];
        const hwpt = f.fd.hwptAlloc({ dev_id, pt_id, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING });
        f.fd.setDirtyTracking(hwpt, true);
      });
    }
  };
  if (!sc.mapFirst) devices();
  // Fixed IOVAs inside the mock aperture, so that a domain created later must take them in.
  let next = MOCK_APERTURE_START;
  for (const [k, ptr, pages] of ioas.length ? sc.oddMaps : []) {
    quiet(() =>
      f.fd.ioasMap({
        ioas_id: ioas[k % ioas.length],
        user_va: resolvePtr(f, ptr) & ~(P - 1n),
        length: BigInt(pages) * P,
        iova: next += 64n * P,
      })
    );
  }
  for (const [k, page, pages, prot] of sc.maps) {
    quiet(() =>
      f.fd.ioasMap({
        ioas_id: ioas[k % ioas.length],
        user_va: f.buffer + BigInt(page) * P,
        length: BigInt(Math.min(pages, 16 - page)) * P,
        iova: sc.mapFirst ? (next += 64n * P) : undefined,
        flags: prot | (sc.mapFirst ? IOMMU_IOAS_MAP_FIXED_IOVA : 0),
      })
    );
  }
  if (sc.mapFirst) devices();
  const ops: Op[] = [...sc.prelude, ...sc.ops];
  ops.forEach((op, step) => {
    const before = observe(f);
    let name: string;
    let error: ErrnoError | null;
    let where: string;
    if (op.op === "raw") {
      const p = prepare(f, op);
      name = p.name;
      where = `step ${step}: ioctl(${name}, ${hex(p.arg)})`;
      let rc: number;
      try {
        rc = f.fd.ioctl(p.cmd, p.arg);
      } catch (e) {
        // Property 2: no crash.
        throw new Error(`${where} threw ${describe(e)}`);
      }
      assert.ok(Number.isInteger(rc), `${where}: returned ${rc}`);
      error = rc < 0 ? f.fd.lastError : null;
      if (rc === 0 && name === "IOMMU_FAULT_QUEUE_ALLOC") {
        // The queue's descriptor holds the context (out_fault_fd at offset 12): close it, as a
        // VMM would, or the teardown finds the context alive.
        const out = f.vmm.read(p.arg + 12n, 4);
        f.vmm.close(new DataView(out.buffer).getUint32(0, true));
      }
      if (rc < 0) {
        // Property 3: a kernel errno of this command, with a check id.
        assert.ok(error, `${where}: -errno without lastError`);
        assert.equal(-rc, error.errno, `${where}: rc and lastError disagree`);
        assert.ok(error.check, `${where}: failure without a check id`);
        const allowed = [...DISPATCHER, ...(ERRNOS[name] ?? [])];
        assert.ok(
          allowed.includes(error.errno),
          `${where}: ${errnoName(error.errno)} is not an errno of ${name} (${error.message})`,
        );
      }
    } else {
      where = `step ${step}: ${fc.stringify(op)}`;
      try {
        ({ name, error } = runSetup(f, op));
      } catch (e) {
        throw new Error(`${where} threw ${describe(e)}`);
      }
    }
    stats.calls++;
    assertIntegerCounters(f, where);
    if (!error) return;
    stats.failures++;
    const key = `${name} ${error.name} [${error.check}]`;
    stats.byCheck.set(key, (stats.byCheck.get(key) ?? 0) + 1);
    // Property 1: a failure loses nothing, unless the kernel documents otherwise.
    const after = observe(f);
    if (NON_ATOMIC[name]?.includes(error.check)) {
      stats.exempt++;
      // Still: the same objects exist.
      assert.deepEqual(
        after.objects.map((o) => [o.id, o.type]),
        before.objects.map((o) => [o.id, o.type]),
        `${where}: ${key} changed the object table`,
      );
      return;
    }
    assert.deepEqual(after, before, `${where}: failed with ${key} but changed the state`);
  });
  // Property 4: teardown.
  teardownFixture(f);
}

function fuzz(name: string, runs: number, maxOps: number, seed: number) {
  Deno.test(`uapi fuzz: ${name} (seed ${seed}, ${runs} runs)`, () => {
    const stats: Stats = { calls: 0, failures: 0, exempt: 0, byCheck: new Map() };
    fc.assert(fc.property(scenario(maxOps), (sc) => runScenario(sc, stats)), {
      seed,
      numRuns: runs,
    });
    if (Deno.env.get("FUZZ_STATS")) {
      console.log(`${stats.calls} calls, ${stats.failures} failed, ${stats.exempt} exempt`);
      const rows = [...stats.byCheck].sort((a, b) => b[1] - a[1]);
      for (const [k, n] of rows) console.log(`${String(n).padStart(6)} ${k}`);
    }
    // The generators must reach well past the first checks.
    assert.ok(stats.byCheck.size >= 20, `only ${stats.byCheck.size} distinct failures reached`);
  });
}

fuzz("raw ioctls over mock domains, mappings and odd memory", RUNS, MAX_OPS, SEED);
