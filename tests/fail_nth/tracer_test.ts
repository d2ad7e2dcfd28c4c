/**
 * The fail-nth tracer names the same sites whether it skips allocator frames by their script or
 * formats each one: a scenario on dmar0 and the mock domain, counted both ways, gives the same
 * points and charges, site by site.
 */
import assert from "node:assert/strict";
import { Machine } from "../../lib/internal.ts";
import { skipFramesByScript, traced } from "./tracer.ts";

const KiB = 1n << 10n;

function scenario(): void {
  const m = new Machine({ memory: 1 << 28 });
  m.addIommu({ kind: "vtd" });
  const vmm = m.spawn({ cgroup: m.cgroups.create("/vm"), rlimitMemlock: 1n << 30n });
  const ram = vmm.mmap(64n * KiB);
  vmm.write(ram, new Uint8Array(Number(64n * KiB)).fill(1));
  for (const iommu of ["dmar0", "mock0"]) {
    const fd = vmm.openIommufd();
    const dev = fd.bind(m.addDevice({ iommu }));
    const ioas = fd.ioasAlloc();
    fd.attach(dev, ioas);
    const iova = fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 64n * KiB });
    fd.ioasUnmap(ioas, iova, 64n * KiB);
    fd.detach(dev);
    fd.close();
  }
}

Deno.test("fail-nth tracer: skipping allocator frames by script names every site as formatting does", () => {
  skipFramesByScript(false);
  const formatted = traced({ kind: "count" }, scenario);
  skipFramesByScript(true);
  const skipped = traced({ kind: "count" }, scenario);
  assert.equal(formatted.error, null);
  const points = formatted.trace.points;
  assert.ok(points.length > 20, `${points.length} points`);
  assert.ok(new Set(points).size > 10, "many distinct sites");
  assert.ok(
    points.every((s) => !/^(<unknown>|should_fail|kzalloc|alloc_pages) /.test(s)),
    points[0],
  );
  assert.deepEqual(skipped.trace.points, points);
  assert.deepEqual(skipped.trace.charges, formatted.trace.charges);
});
