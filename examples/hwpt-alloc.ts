/**
 * A VMM sets up nested translation for a device with iommufd, step by step, and then makes three
 * classic mistakes (spec/10-hw-pagetables.md).
 *
 * Every ioctl is printed the way strace decodes it, with what the step cost the VMM's cgroup:
 * memory.current (whole pages), and the exact bytes of accounted slab objects and of accounted
 * IOMMU page tables. Run: `deno run examples/hwpt-alloc.ts`
 *
 * @module
 */
import { ErrnoError, Machine, selftest, uapi } from "../mod.ts";

const m = new Machine();
const cg = m.cgroups.create("/vm1");
cg.write("memory.max", "64M");
const vmm = m.spawn({ cgroup: cg, comm: "vmm" });
const dev = m.addDevice({ iommu: "mock0" });

/** memory.current and the memory.stat items this example watches. */
function usage() {
  const stat = (key: string) =>
    Number(new RegExp(`^${key} (\\d+)$`, "m").exec(cg.read("memory.stat"))![1]);
  return {
    current: Number(cg.read("memory.current")),
    slab: stat("slab_unreclaimable") + stat("slab_reclaimable"),
    sec_pagetables: stat("sec_pagetables"),
  };
}
let before = usage();

/** Run a step, print its trace lines and what it cost the VMM's cgroup. */
function step<T>(title: string, fn: () => T): T {
  console.log(`\n# ${title}`);
  const result = fn();
  const after = usage();
  const d = (k: keyof typeof after) => {
    const n = after[k] - before[k];
    return n >= 0 ? `+${n}` : `${n}`;
  };
  console.log(
    `  memory.current ${d("current")}, accounted slab ${d("slab")} bytes, ` +
      `IOMMU page tables ${d("sec_pagetables")} bytes`,
  );
  before = after;
  return result;
}

const fd = step("open /dev/iommu", () => vmm.openIommufd());
fd.trace = (line) => console.log(`  ${line}`);

const devId = step("bind the device (VFIO cdev)", () => fd.bind(dev));
const ioas = step("allocate an IO address space", () => fd.ioasAlloc());
const parent = step(
  "allocate a nest-parent paging HWPT on it",
  () => fd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags: uapi.IOMMU_HWPT_ALLOC_NEST_PARENT }),
);
const nested = step("allocate a nested HWPT with the selftest's driver data", () =>
  fd.hwptAlloc({
    dev_id: devId,
    pt_id: parent,
    data_type: selftest.IOMMU_HWPT_DATA_SELFTEST,
    data: selftest.iommu_hwpt_selftest.encode({ iotlb: selftest.IOMMU_TEST_IOTLB_DEFAULT }),
  }));
step("attach the device to the nested HWPT", () => fd.attach(devId, nested));
step(
  "invalidate the guest's IOTLB entries",
  () =>
    fd.hwptInvalidate(nested, selftest.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, [
      selftest.iommu_hwpt_invalidate_selftest.encode({
        flags: selftest.IOMMU_TEST_INVALIDATE_FLAG_ALL,
        iotlb_id: 0,
      }),
    ]),
);

const plain = step(
  "allocate a plain paging HWPT too",
  () => fd.hwptAlloc({ dev_id: devId, pt_id: ioas }),
);

console.log("\n## Three classic mistakes");

function mistake(title: string, fn: () => unknown): void {
  console.log(`\n# ${title}`);
  try {
    fn();
    console.log("  (unexpectedly succeeded)");
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    console.log(`  => ${e.name}: ${e.reason} [${e.check}]`);
  }
}

mistake(
  "driver data of the wrong length (3 bytes instead of struct selftest.iommu_hwpt_selftest's 4)",
  () =>
    fd.hwptAlloc({
      dev_id: devId,
      pt_id: parent,
      data_type: selftest.IOMMU_HWPT_DATA_SELFTEST,
      data: new Uint8Array(3),
    }),
);
mistake(
  "a nested HWPT on a paging HWPT that was not allocated as a nest parent",
  () =>
    fd.hwptAlloc({
      dev_id: devId,
      pt_id: plain,
      data_type: selftest.IOMMU_HWPT_DATA_SELFTEST,
      data: selftest.iommu_hwpt_selftest.encode({ iotlb: 0 }),
    }),
);
mistake("destroying the nested HWPT while the device is attached to it", () => fd.destroy(nested));

console.log("\n## Tear down");
step("detach, destroy the HWPTs and the IOAS, close", () => {
  fd.detach(devId);
  fd.destroy(nested);
  fd.destroy(plain);
  fd.destroy(parent);
  fd.destroy(ioas);
  fd.close();
});
console.log(`\nmemory.current after close: ${cg.read("memory.current").trim()}`);
