import assert from "node:assert/strict";
import {
  __iommu_domain_alloc,
  type device,
  EBUSY,
  EINVAL,
  ENODEV,
  ENOMEM,
  EOPNOTSUPP,
  EPERM,
  fail,
  iommu_attach_group,
  iommu_detach_group,
  iommu_device_claim_dma_owner,
  iommu_device_release_dma_owner,
  type iommu_domain,
  IOMMU_DOMAIN_BLOCKED,
  iommu_domain_free,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  iommu_group,
  iommu_group_replace_domain,
  type iommu_ops,
  iommu_paging_domain_alloc,
  iommu_probe_device,
  IS_ERR,
} from "../../lib/internal.ts";

/** A toy driver: paging domains, a static blocked domain, attach refused for named devices. */
/** A toy driver; devices named in `refuse` refuse every domain, or only domains of `refuseType`. */
function toyDriver(name: string, refuse = new Set<string>(), refuseType?: number) {
  const attached = new Map<string, iommu_domain>();
  const freed: iommu_domain[] = [];
  const domain = (type: number): iommu_domain => ({
    type,
    ops: {
      attach_dev(d, dev) {
        if (refuse.has(dev.name) && (refuseType === undefined || d.type === refuseType)) {
          return fail(EINVAL, "toy-attach", "refused");
        }
        attached.set(dev.name, d);
        return 0;
      },
      free: (d) => void freed.push(d),
    },
    dirty_ops: null,
    owner: null,
    pgsize_bitmap: 0n,
    geometry: { aperture_start: 0n, aperture_end: 0xffffn, force_aperture: true },
  });
  const ops: iommu_ops = {
    owner: name,
    pgsize_bitmap: 0x1000n,
    domain_alloc_paging: () => domain(IOMMU_DOMAIN_UNMANAGED),
    blocked_domain: domain(IOMMU_DOMAIN_BLOCKED),
    identity_domain: domain(IOMMU_DOMAIN_IDENTITY),
  };
  return { ops, attached, freed, iommu: { ops, name } };
}

function dev(name: string): device {
  return { name, iommu: null, iommu_group: null };
}

Deno.test("__iommu_domain_alloc: static domains, paging op, fill-ins, EOPNOTSUPP and ENOMEM", () => {
  const t = toyDriver("toy");
  const d0 = dev("d0");
  assert.equal(iommu_probe_device(d0, t.iommu), 0);
  assert.equal(__iommu_domain_alloc(t.ops, d0, IOMMU_DOMAIN_BLOCKED), t.ops.blocked_domain);
  const paging = iommu_paging_domain_alloc(d0);
  assert.ok(!IS_ERR(paging));
  assert.equal(paging.type, IOMMU_DOMAIN_UNMANAGED);
  assert.equal(paging.owner, t.ops, "owner is filled in");
  assert.equal(paging.pgsize_bitmap, 0x1000n, "page sizes default to the ops'");
  const none = __iommu_domain_alloc(
    { owner: "none", pgsize_bitmap: 0n },
    d0,
    IOMMU_DOMAIN_UNMANAGED,
  );
  assert.ok(IS_ERR(none) && none.errno === EOPNOTSUPP && none.check === "domain-alloc-paging");
  const nul = __iommu_domain_alloc(
    { owner: "nul", pgsize_bitmap: 0n, domain_alloc: () => null },
    d0,
    IOMMU_DOMAIN_IDENTITY,
  );
  assert.ok(IS_ERR(nul) && nul.errno === ENOMEM);
  const off = iommu_paging_domain_alloc(dev("loose"));
  assert.ok(IS_ERR(off) && off.errno === ENODEV);
  iommu_domain_free(paging);
  assert.deepEqual(t.freed, [paging]);
});

Deno.test("groups: every device of a group moves together; a refusal puts them all back, the refuser too", () => {
  const t = toyDriver("toy", new Set(["b"]));
  const shared = new iommu_group();
  t.ops.device_group = () => shared;
  const [a, b] = [dev("a"), dev("b")];
  t.ops.default_domain = t.ops.blocked_domain;
  assert.equal(iommu_probe_device(a, t.iommu), 0);
  const rc = iommu_probe_device(b, t.iommu);
  assert.ok(IS_ERR(rc), "b refuses even the default domain in this toy");
  t.ops.default_domain = undefined;

  // y refuses paging domains only: v6.12's revert re-attaches the old domain to y as well, which a
  // driver refusing that too would answer with a WARN (the model throws).
  const t2 = toyDriver("toy2", new Set(["y"]), IOMMU_DOMAIN_UNMANAGED);
  const g = new iommu_group();
  t2.ops.device_group = () => g;
  t2.ops.default_domain = t2.ops.blocked_domain;
  const [x, y] = [dev("x"), dev("y")];
  iommu_probe_device(x, t2.iommu);
  g.devices.push(y); // y joins without probing, so it has no domain yet
  y.iommu = x.iommu;
  y.iommu_group = g;
  const paging = iommu_paging_domain_alloc(x) as iommu_domain;
  const err = iommu_attach_group(paging, g);
  assert.ok(IS_ERR(err) && err.errno === EINVAL && err.check === "toy-attach");
  assert.equal(g.domain, t2.ops.blocked_domain, "group still on its old domain");
  assert.equal(t2.attached.get("x"), t2.ops.blocked_domain, "x was moved back");
  assert.equal(t2.attached.get("y"), t2.ops.blocked_domain, "y, which refused, was re-attached");
});

Deno.test("iommu_attach_group: EBUSY when another domain is attached; EINVAL across drivers", () => {
  const t = toyDriver("toy");
  const other = toyDriver("other");
  const d = dev("d");
  iommu_probe_device(d, t.iommu);
  const g = d.iommu_group!;
  const mine = iommu_paging_domain_alloc(d) as iommu_domain;
  const od = dev("od");
  iommu_probe_device(od, other.iommu);
  const foreign = iommu_paging_domain_alloc(od) as iommu_domain;

  const cross = iommu_attach_group(foreign, g);
  assert.ok(IS_ERR(cross) && cross.errno === EINVAL && cross.check === "attach-group-owner");
  assert.equal(iommu_attach_group(mine, g), 0);
  assert.equal(t.attached.get("d"), mine);
  const second = iommu_paging_domain_alloc(d) as iommu_domain;
  const busy = iommu_attach_group(second, g);
  assert.ok(IS_ERR(busy) && busy.errno === EBUSY && busy.check === "attach-group-busy");
  // Replace has neither check: it swaps domains directly.
  assert.equal(iommu_group_replace_domain(g, second), 0);
  assert.equal(g.domain, second);
  const none = iommu_group_replace_domain(g, null);
  assert.ok(IS_ERR(none) && none.errno === EINVAL);
  iommu_detach_group(second, g);
  assert.equal(g.domain, g.default_domain, "unowned group returns to its default domain");
});

Deno.test("DMA ownership: blocking domain on claim, EPERM for a second owner, release restores", () => {
  const t = toyDriver("toy");
  const g = new iommu_group();
  t.ops.device_group = () => g;
  const [a, b] = [dev("a"), dev("b")];
  iommu_probe_device(a, t.iommu);
  iommu_probe_device(b, t.iommu);
  const def = g.default_domain;
  const owner = { name: "ictx" };
  assert.equal(iommu_device_claim_dma_owner(a, owner), 0);
  assert.equal(g.domain, t.ops.blocked_domain, "claimed group blocks DMA");
  const other = iommu_device_claim_dma_owner(b, { name: "someone else" });
  assert.ok(IS_ERR(other) && other.errno === EPERM);
  assert.equal(iommu_device_claim_dma_owner(b, owner), 0);
  assert.equal(g.owner_cnt, 2);
  const paging = iommu_paging_domain_alloc(a) as iommu_domain;
  assert.equal(iommu_attach_group(paging, g), 0);
  iommu_detach_group(paging, g);
  assert.equal(g.domain, t.ops.blocked_domain, "an owned group detaches to the blocking domain");
  iommu_device_release_dma_owner(b);
  assert.equal(g.owner, owner);
  iommu_device_release_dma_owner(a);
  assert.equal(g.owner, null);
  assert.equal(g.domain, def, "last release returns to the default domain");

  const c = dev("c");
  const t2 = toyDriver("toy2");
  iommu_probe_device(c, t2.iommu);
  assert.equal(iommu_attach_group(iommu_paging_domain_alloc(c) as iommu_domain, c.iommu_group!), 0);
  const busy = iommu_device_claim_dma_owner(c, owner);
  assert.ok(IS_ERR(busy) && busy.errno === EBUSY, "a kernel user's domain is in the way");
});
