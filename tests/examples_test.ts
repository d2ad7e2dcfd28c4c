/**
 * Every example runs as the README says (`deno run examples/x.ts`), exits 0, and prints what it
 * promises: the lines asserted here are the ones a reader is told to look for.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

async function run(example: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `examples/${example}`],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `${example} failed:\n${new TextDecoder().decode(out.stderr)}`);
  return stdout;
}

Deno.test("examples: every file in examples/ is covered here", async () => {
  const files = [];
  for await (const e of Deno.readDir(`${root}/examples`)) files.push(e.name);
  assert.deepEqual(files.sort(), [
    "cgroup-limit.ts",
    "guest-memory.ts",
    "hwpt-alloc.ts",
    "page-walk.ts",
    "vtd-nested.ts",
    "walk.ts",
  ]);
});

Deno.test("examples/cgroup-limit.ts: the VMM hits memory.max, is OOM-killed, and leaks nothing", async () => {
  const out = await run("cgroup-limit.ts");
  assert.match(out, /^max [1-9]\d*$/m);
  assert.match(out, /^oom_kill 1$/m);
  assert.match(out, /after the file is released:\n\$ cat \/vmm\/memory.current\n0\n/);
});

Deno.test("examples/hwpt-alloc.ts: strace-style trace, three explained mistakes, nothing left", async () => {
  const out = await run("hwpt-alloc.ts");
  assert.match(out, /ioctl\(3, IOMMU_HWPT_ALLOC, \{size=48, flags=IOMMU_HWPT_ALLOC_NEST_PARENT/);
  assert.match(out, /=> EINVAL: .*\[nested-alloc-parent\]/);
  assert.match(out, /=> EBUSY: .*\[destroy-busy\]/);
  assert.equal((out.match(/^ {2}=> E[A-Z0-9]+: /gm) ?? []).length, 3);
  assert.match(out, /memory.current after close: 0\n$/);
});

Deno.test("examples/guest-memory.ts: pins follow the domains and all counters return to zero", async () => {
  const out = await run("guest-memory.ts");
  const lines = out.split("\n");
  const after = (step: string) => lines[lines.findIndex((l) => l.startsWith(step)) + 1];
  assert.match(after("2."), /^ {2}locked_vm 0 pages/);
  assert.match(after("3."), /^ {2}locked_vm 1048576 pages .*sec_pagetables [1-9]/);
  assert.match(after("5."), /^ {2}locked_vm 786432 pages/);
  assert.match(after("6."), /^ {2}locked_vm 0 pages .*sec_pagetables 0 KiB/);
  assert.match(
    after("7."),
    /^ {2}locked_vm 0 pages \(0 KiB\), pinned_vm 0; memory.current 0 KiB: anon 0 KiB, kernel 0 KiB/,
  );
  assert.match(out, /IOVA ranges: \[0x0, 0xfedfffff\] \[0xfef00000, 0xffffffffffff\]/);
  assert.match(
    out,
    /^ {2}device 1 reads guest physical 0x123456789: sid 0x8 read of 0x123456789 → PA 0x[0-9a-f]+789 \(ss, 7 reads\)$/m,
  );
});

Deno.test("examples/page-walk.ts: the nested walk's 24 reads, then three explained faults", async () => {
  const out = await run("page-walk.ts");
  assert.match(out, /^DMA read of IOVA 0x8080604567: PA 0x80005567 \(4 KiB page, rw, 24 reads\)$/m);
  assert.equal((out.match(/^ +\d+\. 0x/gm) ?? []).length, 24);
  assert.match(out, /^ {2}24\. 0x103028 +second stage, level 1, for the final GPA 0x5567$/m);
  assert.match(out, /fault 0x76 VTD_FR_NESTED_FS_SS_READ .*\[vtd-nested-check-read\]/);
  assert.match(out, /fault 0x85 VTD_FR_SM_WRITE .*\[vtd-ss-check-perm\]/);
  assert.match(out, /fault 0x72 VTD_FR_FS_PAGING_ENTRY_RSVD .*\[vtd-fs-check-rsvd\]/);
});

Deno.test("examples/vtd-nested.ts: a two-stage DMA, a stale IOTLB entry, the guest's invalidation, nothing left", async () => {
  const out = await run("vtd-nested.ts");
  assert.match(
    out,
    /^4\. DMA sid 0x8 write of 0x80000000 → PA (0x[0-9a-f]+) \(nested, 28 reads\)\n {3}host PA \1 = .*"page A"$/m,
  );
  assert.match(out, /^5\. .*\(nested, IOTLB hit\): still "page A"$/m);
  assert.match(out, /^ {3}the driver → dmar0: piotlb psi did=2 pasid=0 addr=0x80000000 am=0$/m);
  assert.match(out, /^6\. HWPT_INVALIDATE handled 1 entry; .*\(nested, 24 reads\): "page B"$/m);
  assert.match(out, /^7\. \/vm1 sec_pagetables 16384 bytes/m);
  assert.match(out, /^8\. after close and munmap: sec_pagetables 0, memory.current 0$/m);
});

Deno.test("examples/walk.ts: the two-stage RISC-V walk, entry by entry, 15 reads", async () => {
  const out = await run("walk.ts");
  assert.match(out, /^R15 \(two\): Sv39\+Sv39x4, read of 0x40403567 by user$/m);
  assert.equal((out.match(/^ +\d+\. 0x/gm) ?? []).length, 15);
  assert.match(
    out,
    /^ {2}12\. 0x80003018 +first stage 0x40403567, level 0: 0x14d7 leaf 4 KiB at 0x5000$/m,
  );
  assert.match(out, /^→ PA 0x80005567 \(4 KiB translation, GPA 0x5567, 15 reads\)$/m);
});
