/**
 * A sandboxed VMM hits its memory cgroup's limit (spec/04-memory-cgroups.md#example).
 *
 * A VMM in a cgroup with memory.max = 1M keeps asking a driver, through an ioctl, for kernel
 * memory on its behalf — a 512-byte object and one IOMMU page-table page per call, both
 * GFP_KERNEL_ACCOUNT — until the charge fails. Run: `deno run examples/cgroup-limit.ts`
 *
 * @module
 */
import {
  ENOMEM,
  type ErrnoError,
  fail,
  file,
  GFP_KERNEL_ACCOUNT,
  iommu_alloc_page,
  iommu_free_page,
  kfree,
  kzalloc,
  Machine,
  type mem_cgroup,
  OOM_SCORE_ADJ_MIN,
  type page,
  type Process,
  type SlabObject,
} from "../mod.ts";

/** A toy driver: each ioctl allocates an object and a page-table page; release frees them. */
function openToyDriver(task: Process): number {
  const objects: SlabObject[] = [];
  const tables: page[] = [];
  const ioctl = (): number | ErrnoError => {
    const obj = kzalloc(512, GFP_KERNEL_ACCOUNT);
    if (!obj) return fail(ENOMEM, "toy-1", "kzalloc failed");
    const table = iommu_alloc_page(GFP_KERNEL_ACCOUNT);
    if (!table) {
      kfree(obj);
      return fail(ENOMEM, "toy-2", "iommu_alloc_page failed");
    }
    objects.push(obj);
    tables.push(table);
    return 0;
  };
  const release = () => {
    tables.forEach(iommu_free_page);
    objects.forEach(kfree);
  };
  return task.task.syscall(() =>
    task.task.files!.fd_install(new file({ unlocked_ioctl: ioctl, release }))
  );
}

function cat(cg: mem_cgroup, name: string): void {
  console.log(`$ cat ${cg.path}/${name}\n${cg.read(name).trimEnd()}`);
}

function run(title: string, oomScoreAdj: number): void {
  console.log(`\n## ${title}\n`);
  const m = new Machine();
  const cg = m.cgroups.create("/vmm");
  cg.write("memory.max", "1M");
  const vmm = m.spawn({ cgroup: cg, comm: "vmm", oomScoreAdj });
  const fd = openToyDriver(vmm);
  let calls = 0;
  for (;;) {
    const rc = vmm.ioctl(fd, 0, 0n);
    if (rc !== 0) {
      console.log(
        `ioctl #${calls + 1}: ${typeof rc === "number" ? rc : `${rc.name}: ${rc.message}`}`,
      );
      break;
    }
    calls++;
  }
  console.log(`${calls} calls succeeded; the VMM is ${vmm.task.exit_state ? "dead" : "alive"}\n`);
  cat(cg, "memory.current");
  cat(cg, "memory.events");
  cat(cg, "memory.stat");
  console.log(`machine: nr_iommu_pages ${m.pgdat.vm_stat.NR_IOMMU_PAGES}`);
  if (!vmm.task.exit_state) vmm.close(fd);
  console.log("\nafter the file is released:");
  cat(cg, "memory.current");
}

run("A VMM with oom_score_adj -1000: nobody can be killed, the ioctl fails", OOM_SCORE_ADJ_MIN);
run("An ordinary VMM: the OOM killer picks the VMM itself", 0);
