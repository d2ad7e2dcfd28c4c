/**
 * A sandboxed VMM hits its memory cgroup's limit (spec/04-memory-cgroups.md#example).
 *
 * A VMM in a cgroup with memory.max = 1M keeps allocating IO address spaces through /dev/iommu:
 * each IOMMU_IOAS_ALLOC charges the IOAS's kernel structures (GFP_KERNEL_ACCOUNT) to the VMM's
 * cgroup, until the charge fails. Run: `deno run examples/cgroup-limit.ts`
 *
 * @module
 */
import { ErrnoError, Machine, type mem_cgroup, OOM_SCORE_ADJ_MIN } from "../mod.ts";

function cat(cg: mem_cgroup, name: string): void {
  console.log(`$ cat ${cg.path}/${name}\n${cg.read(name).trimEnd()}`);
}

function run(title: string, oomScoreAdj: number): void {
  console.log(`\n## ${title}\n`);
  const m = new Machine();
  const cg = m.cgroups.create("/vmm");
  cg.write("memory.max", "1M");
  const vmm = m.spawn({ cgroup: cg, comm: "vmm", oomScoreAdj });
  const fd = vmm.openIommufd();
  let calls = 0;
  for (;;) {
    try {
      fd.ioasAlloc();
    } catch (e) {
      if (!(e instanceof ErrnoError) && !vmm.task.exit_state) throw e;
      const why = e instanceof ErrnoError ? `${e.name}: ${e.message}` : "the VMM was killed";
      console.log(`IOMMU_IOAS_ALLOC #${calls + 1}: ${why}`);
      break;
    }
    calls++;
  }
  console.log(`${calls} calls succeeded; the VMM is ${vmm.task.exit_state ? "dead" : "alive"}\n`);
  cat(cg, "memory.current");
  cat(cg, "memory.events");
  cat(cg, "memory.stat");
  if (!vmm.task.exit_state) fd.close();
  console.log("\nafter the file is released:");
  cat(cg, "memory.current");
}

run("A VMM with oom_score_adj -1000: nobody can be killed, the ioctl fails", OOM_SCORE_ADJ_MIN);
run("An ordinary VMM: the OOM killer picks the VMM itself", 0);
