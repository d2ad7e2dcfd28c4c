/**
 * The uAPI console's one contact with the userspace handle API (spec/12-userspace.md): a session
 * is a machine, a VMM process in a memory cgroup, a mock device and an open /dev/iommu, driven
 * through today's handle (`vmm.openIommufd()`, `fd.ioctl`, `fd.hwptAlloc`, …). When the handle
 * API changes, this file is the one to change; the console (console.ts) sees only
 * {@link ConsoleSession}.
 *
 * @module
 */
import {
  ErrnoError,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  iommu_hwpt_invalidate_selftest,
  iommu_hwpt_selftest,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_TEST_IOTLB_DEFAULT,
  type iommufd_ctx,
  IOMMUFD_OBJ_ACCESS,
  IOMMUFD_OBJ_DEVICE,
  IOMMUFD_OBJ_FAULT,
  IOMMUFD_OBJ_HWPT_NESTED,
  IOMMUFD_OBJ_HWPT_PAGING,
  IOMMUFD_OBJ_IOAS,
  IOMMUFD_OBJ_SELFTEST,
  iommufdIoctls,
  Machine,
} from "../../lib/internal.ts";

/** What one step did: its strace lines and, when it failed, the error with its check id. */
export interface StepOutcome {
  lines: string[];
  error: { errno: string; reason: string; check: string } | null;
}

/** A row of the object table. */
export interface ObjectRow {
  id: number;
  type: string;
  users: number;
}

/** A running session. */
export interface ConsoleSession {
  /** Runs a scripted step (by index into {@link SCRIPTED_STEPS}). */
  step(k: number): StepOutcome;
  /** Makes one ioctl typed as `NAME field=value …`. */
  typed(command: string): StepOutcome;
  objects(): ObjectRow[];
  /** memory.current and the memory.stat items worth watching, of the VMM's cgroup. */
  memory(): { current: number; stat: Record<string, number> };
  /** The ioctl names the console accepts. */
  ioctlNames(): string[];
}

const TYPE_NAMES: Record<number, string> = {
  [IOMMUFD_OBJ_DEVICE]: "DEVICE",
  [IOMMUFD_OBJ_HWPT_PAGING]: "HWPT_PAGING",
  [IOMMUFD_OBJ_HWPT_NESTED]: "HWPT_NESTED",
  [IOMMUFD_OBJ_IOAS]: "IOAS",
  [IOMMUFD_OBJ_ACCESS]: "ACCESS",
  [IOMMUFD_OBJ_FAULT]: "FAULT",
  [IOMMUFD_OBJ_SELFTEST]: "SELFTEST",
};

/** The memory.stat items the console shows. */
export const STAT_KEYS = ["slab_unreclaimable", "sec_pagetables", "kernel", "file"];

type Handle = ReturnType<ReturnType<Machine["spawn"]>["openIommufd"]>;
type Device = ReturnType<Machine["addDevice"]>;

/** IDs a scripted session remembers between steps. */
interface Ids {
  dev: number;
  ioas: number;
  parent: number;
  nested: number;
  plain: number;
}

/** A scripted step: what it says, and what it does with the handle. */
export interface ScriptedStep {
  title: string;
  run(fd: Handle, dev: Device, ids: Ids): void;
}

/** The session of examples/hwpt-alloc.ts (spec/10-hw-pagetables.md), step by step. */
export const SCRIPTED_STEPS: readonly ScriptedStep[] = [
  { title: "bind the device (VFIO cdev)", run: (fd, dev, ids) => void (ids.dev = fd.bind(dev)) },
  { title: "allocate an IO address space", run: (fd, _, ids) => void (ids.ioas = fd.ioasAlloc()) },
  {
    title: "allocate a nest-parent paging HWPT on it",
    run: (fd, _, ids) =>
      void (ids.parent = fd.hwptAlloc({
        dev_id: ids.dev,
        pt_id: ids.ioas,
        flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
      })),
  },
  {
    title: "allocate a nested HWPT with the selftest's driver data",
    run: (fd, _, ids) =>
      void (ids.nested = fd.hwptAlloc({
        dev_id: ids.dev,
        pt_id: ids.parent,
        data_type: IOMMU_HWPT_DATA_SELFTEST,
        data: iommu_hwpt_selftest.encode({ iotlb: IOMMU_TEST_IOTLB_DEFAULT }),
      })),
  },
  {
    title: "attach the device to the nested HWPT",
    run: (fd, _, ids) => void fd.attach(ids.dev, ids.nested),
  },
  {
    title: "invalidate the guest's IOTLB entries",
    run: (fd, _, ids) =>
      void fd.hwptInvalidate(ids.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [
        iommu_hwpt_invalidate_selftest.encode({
          flags: IOMMU_TEST_INVALIDATE_FLAG_ALL,
          iotlb_id: 0,
        }),
      ]),
  },
  {
    title: "allocate a plain paging HWPT too",
    run: (fd, _, ids) => void (ids.plain = fd.hwptAlloc({ dev_id: ids.dev, pt_id: ids.ioas })),
  },
  {
    title: "mistake: driver data of the wrong length (3 bytes, not 4)",
    run: (fd, _, ids) =>
      void fd.hwptAlloc({
        dev_id: ids.dev,
        pt_id: ids.parent,
        data_type: IOMMU_HWPT_DATA_SELFTEST,
        data: new Uint8Array(3),
      }),
  },
  {
    title: "mistake: a nested HWPT on a paging HWPT that is not a nest parent",
    run: (fd, _, ids) =>
      void fd.hwptAlloc({
        dev_id: ids.dev,
        pt_id: ids.plain,
        data_type: IOMMU_HWPT_DATA_SELFTEST,
        data: iommu_hwpt_selftest.encode({ iotlb: 0 }),
      }),
  },
  {
    title: "mistake: destroy the nested HWPT while the device is attached to it",
    run: (fd, _, ids) => fd.destroy(ids.nested),
  },
  {
    title: "tear down: detach, destroy the HWPTs and the IOAS",
    run: (fd, _, ids) => {
      fd.detach(ids.dev);
      for (const id of [ids.nested, ids.plain, ids.parent, ids.ioas]) fd.destroy(id);
    },
  },
];

/** `123`, `0x7b` or `-1` as a number or, for a 64-bit field, a bigint. */
function parseValue(text: string, wide: boolean): number | bigint {
  const n = BigInt(text.replace(/_/g, ""));
  return wide ? n : Number(n);
}

/** Opens a session: a machine, the VMM in cgroup /vm1 (memory.max 64M), a mock device, /dev/iommu. */
export function openSession(): ConsoleSession {
  const m = new Machine();
  const cg = m.cgroups.create("/vm1");
  cg.write("memory.max", "64M");
  const vmm = m.spawn({ cgroup: cg, comm: "vmm" });
  const dev = m.addDevice({ iommu: "mock0" });
  const lines: string[] = [];
  const fd = vmm.openIommufd();
  fd.trace = (line) => lines.push(line);
  const ids: Ids = { dev: 0, ioas: 0, parent: 0, nested: 0, plain: 0 };
  const ictx = () => fd.process.task.files!.fdt.get(fd.fd)!.private_data as iommufd_ctx;
  const attempt = (fn: () => void): StepOutcome => {
    lines.length = 0;
    try {
      fn();
      return { lines: [...lines], error: null };
    } catch (e) {
      if (!(e instanceof ErrnoError)) throw e;
      return { lines: [...lines], error: { errno: e.name, reason: e.reason, check: e.check } };
    }
  };
  return {
    step: (k) => attempt(() => SCRIPTED_STEPS[k].run(fd, dev, ids)),
    typed: (command) =>
      attempt(() => {
        const [name, ...args] = command.trim().split(/\s+/);
        const op = iommufdIoctls.find((r) => r.name === name);
        if (!op) throw new Error(`unknown ioctl ${name}`);
        const values: Record<string, number | bigint> = {};
        for (const a of args) {
          const m = /^(\w+)=(-?(?:0x[0-9a-f_]+|[0-9_]+))$/i.exec(a);
          if (!m) throw new Error(`not field=value: ${a}`);
          const field = op.struct.fields.find((f) => f.name === m[1]);
          if (!field) throw new Error(`struct ${op.struct.name} has no field ${m[1]}`);
          values[m[1]] = parseValue(m[2], field.size === 8);
        }
        fd.call(op, values as never);
      }),
    objects: () =>
      [...ictx().objects.entries].flatMap(([id, obj]) =>
        typeof obj === "object" && obj !== null && "type" in obj
          ? [{ id, type: TYPE_NAMES[obj.type] ?? String(obj.type), users: obj.users }]
          : []
      ),
    memory: () => {
      const stat: Record<string, number> = {};
      for (const key of STAT_KEYS) {
        const m = new RegExp(`^${key} (\\d+)$`, "m").exec(cg.read("memory.stat"));
        if (m) stat[key] = Number(m[1]);
      }
      return { current: Number(cg.read("memory.current")), stat };
    },
    ioctlNames: () => iommufdIoctls.map((r) => r.name),
  };
}
