/**
 * Issue 10 item 2: the mm's two maps by number that replaced a `Map` on the hot path of pinning —
 * `PteMap` (an address space's PTEs, by virtual page number, spec/03) and `memmap` (the heads of
 * allocated blocks, by PFN, spec/02) — behave as the `Map` they replaced: after random sets,
 * overwrites and deletes, clustered and spread, the same lookups, sizes and (for `PteMap`, whose
 * iteration do_munmap() uses to put pages) the same iteration order, also with deletes during the
 * iteration. Seeded.
 */
import assert from "node:assert/strict";
import { Machine, memmap, page, PteMap } from "../../lib/internal.ts";
import { rng } from "../rng.ts";

const pgdat = new Machine().pgdat;

Deno.test("PteMap ≡ Map<vpn, page>: lookups, size, iteration in the order entries were made", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rand = rng(Math.imul(seed, 0x9e3779b1));
    const ptes = new PteMap();
    const ref = new Map<number, page>();
    const base = 0x7f00_0000_0000 / 4096;
    const vpn = () =>
      rand(3) === 0 ? base + rand(4096) : rand(2) ? rand(5000) : base - 2 ** 20 + rand(2 ** 21);
    for (let op = 0; op < 600; op++) {
      const v = rand(4) === 0 && ref.size ? [...ref.keys()][rand(ref.size)] : vpn();
      if (rand(3) === 0) {
        assert.equal(ptes.delete(v), ref.delete(v));
      } else {
        const p = new page(pgdat, rand(1 << 20), 0);
        ptes.set(v, p);
        ref.set(v, p);
      }
      assert.equal(ptes.size, ref.size);
      assert.equal(ptes.get(v), ref.get(v));
      assert.equal(ptes.has(v), ref.has(v));
      const probe = vpn();
      assert.equal(ptes.get(probe), ref.get(probe));
    }
    for (const v of ref.keys()) assert.equal(ptes.get(v), ref.get(v));
    assert.deepEqual([...ptes], [...ref], `seed ${seed}: iteration order`);
    assert.deepEqual([...ptes.keys()], [...ref.keys()]);
    assert.deepEqual([...ptes.values()], [...ref.values()]);
    // do_munmap() deletes each entry as it goes; delete some later ones too, as a Map allows.
    const seen: number[] = [], want: number[] = [];
    const doomed = new Set([...ref.keys()].filter(() => rand(5) === 0));
    for (const [v] of ref) {
      want.push(v);
      ref.delete(v);
      for (const d of doomed) if (d !== v) ref.delete(d);
    }
    for (const [v] of ptes) {
      seen.push(v);
      ptes.delete(v);
      for (const d of doomed) if (d !== v) ptes.delete(d);
    }
    assert.deepEqual(seen, want, `seed ${seed}: iteration with deletes`);
    assert.equal(ptes.size, 0);
  }
});

Deno.test("memmap ≡ Map<pfn, page>: small and huge heads, lookups, size, deletes", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rand = rng(Math.imul(seed, 0x85ebca6b) + 1);
    const mm = new memmap();
    const ref = new Map<number, page>();
    for (let op = 0; op < 600; op++) {
      if (rand(3) === 0 && ref.size) {
        const pfn = [...ref.keys()][rand(ref.size)];
        assert.equal(mm.delete(pfn), ref.delete(pfn));
      } else {
        // heads of blocks of order 0–10, aligned to their order, sometimes in one 2 MiB chunk
        const order = [0, 0, 1, 3, 9, 10][rand(6)];
        const pfn = (rand(2) ? rand(4096) : rand(2 ** 24)) >>> order << order;
        if (
          [...ref.values()].some((h) => pfn < h.pfn + (1 << h.order) && h.pfn < pfn + (1 << order))
        ) {
          assert.equal(mm.has(pfn), ref.has(pfn));
          continue;
        }
        const p = new page(pgdat, pfn, order);
        mm.set(pfn, p);
        ref.set(pfn, p);
      }
      assert.equal(mm.size, ref.size);
      const probe = rand(2) ? [...ref.keys()][rand(ref.size)] ?? 0 : rand(2 ** 24);
      assert.equal(mm.get(probe), ref.get(probe), `seed ${seed} op ${op}: pfn ${probe}`);
      assert.equal(mm.get(probe + 1), ref.get(probe + 1));
      assert.equal(mm.has(probe), ref.has(probe));
    }
    for (const [pfn, p] of ref) assert.equal(mm.get(pfn), p);
    for (const pfn of [...ref.keys()]) assert.ok(mm.delete(pfn));
    assert.equal(mm.size, 0);
    assert.equal(mm.delete(0), false);
  }
});
