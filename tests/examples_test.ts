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
  // toy-iommu.ts is a module the others import, not a program.
  assert.deepEqual(files.sort(), [
    "cgroup-limit.ts",
    "guest-memory.ts",
    "hwpt-alloc.ts",
    "toy-iommu.ts",
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
});
