/**
 * Issue 10 item 2: the xarray (spec/07-iommufd-objects.md#xarray-class) keeps its entries in
 * arrays of XA_CHUNK_SIZE slots and counts, per node, the slots in use — the kernel's
 * `xa_node.count` — with a fast path when the bottom node of a stored index exists. The nodes it
 * makes and frees must be those the model made before, when a node counted every entry beneath it
 * and every store looked its whole path up. This test runs random stores, reservations and erases
 * — clustered at node boundaries and spread up to 2^31 — against that earlier algorithm, written
 * out below as the reference, and compares after every operation: the set of nodes, the height,
 * the node allocations (in order) and frees, the entries and what each call returned; also with
 * fail-nth failing a store's first node allocation, which the fallback allocation retries. Seeded.
 */
import assert from "node:assert/strict";
import {
  ErrnoError,
  GFP_KERNEL,
  Machine,
  xa_empty,
  xa_erase,
  xa_for_each,
  xa_load,
  xa_store,
  XA_ZERO_ENTRY,
  xarray,
} from "../../lib/internal.ts";
import { rng } from "../rng.ts";

const SPAN = Array.from({ length: 20 }, (_, level) => 64 ** level);
const key = (level: number, index: number) => Math.floor(index / SPAN[level]) * 16 + level;
const heightFor = (index: number) => {
  let h = 0;
  while (index >= SPAN[h] && index > 0) h++;
  return h;
};

/** The model's earlier xarray bookkeeping: each node counts the entries beneath it. */
class Reference {
  entries = new Map<number, unknown>();
  height = 0;
  nodes = new Map<number, number>();
  /** Keys allocated, and freed, by the last operation, in order. */
  allocated: number[] = [];
  freed: number[] = [];

  /** The nodes a store of `index` needs, in the order the model allocates them. */
  needed(index: number): number[] {
    const height = Math.max(this.height, heightFor(index));
    const needed: number[] = [];
    for (let level = 1; level <= height; level++) {
      const k = key(level, index);
      if (!this.nodes.has(k) && !needed.includes(k)) needed.push(k);
      if (level > this.height && this.entries.size > 0) {
        const root = key(level, 0);
        if (!this.nodes.has(root) && !needed.includes(root)) needed.push(root);
      }
    }
    return needed;
  }

  store(index: number, entry: unknown): unknown {
    this.allocated = [];
    this.freed = [];
    const old = this.entries.get(index);
    if (old === undefined) {
      const needed = this.needed(index);
      const height = Math.max(this.height, heightFor(index));
      for (const k of needed) this.nodes.set(k, 0);
      this.allocated = needed;
      for (let level = this.height + 1; level <= height; level++) {
        const root = this.nodes.get(key(level, 0));
        if (root !== undefined) this.nodes.set(key(level, 0), root + this.entries.size);
      }
      this.height = height;
      for (let level = 1; level <= height; level++) {
        this.nodes.set(key(level, index), this.nodes.get(key(level, index))! + 1);
      }
    }
    this.entries.set(index, entry);
    return old === undefined || old === XA_ZERO_ENTRY ? null : old;
  }

  erase(index: number): unknown {
    this.allocated = [];
    this.freed = [];
    const old = this.entries.get(index);
    if (old === undefined) return null;
    this.entries.delete(index);
    for (let level = 1; level <= this.height; level++) {
      const k = key(level, index);
      const n = this.nodes.get(k)! - 1;
      this.nodes.set(k, n);
      if (n === 0) {
        this.nodes.delete(k);
        this.freed.push(k);
      }
    }
    while (this.height > 0) {
      const root = this.nodes.get(key(this.height, 0));
      const below = this.height === 1
        ? (this.entries.size === 1 && this.entries.has(0) ? 1 : 0)
        : this.nodes.get(key(this.height - 1, 0)) ?? 0;
      if (root !== undefined && below !== this.entries.size) break;
      if (root !== undefined) {
        this.nodes.delete(key(this.height, 0));
        this.freed.push(key(this.height, 0));
      }
      this.height--;
    }
    return old === XA_ZERO_ENTRY ? null : old;
  }
}

function randomIndex(rand: (n: number) => number): number {
  switch (rand(4)) {
    case 0: // around a node boundary of some level
      return Math.max(0, SPAN[1 + rand(4)] * (1 + rand(3)) + rand(5) - 2);
    case 1: // small indexes, dense
      return rand(200);
    case 2: // a cluster far up
      return 5 * SPAN[3] + rand(300);
    default:
      return rand(2 ** 31);
  }
}

for (const inject of [false, true]) {
  Deno.test(
    `xarray nodes with slot counts ≡ the earlier entries-beneath counts${
      inject ? ", with fail-nth on node allocations" : ""
    }`,
    () => {
      for (let seed = 1; seed <= 20; seed++) {
        const rand = rng(Math.imul(seed, 0x9e3779b1) + (inject ? 7 : 0));
        const m = new Machine();
        const t = m.spawn({ comm: "xa" });
        t.task.syscall(() => {
          const xa = new xarray<number>();
          const ref = new Reference();
          const live: number[] = [];
          for (let op = 0; op < 400; op++) {
            const before = new Set(xa.nodes.keys());
            let got: unknown, want: unknown;
            if (live.length && rand(3) === 0) {
              const index = rand(4) === 0 ? randomIndex(rand) : live[rand(live.length)];
              got = xa_erase(xa, index);
              want = ref.erase(index);
              const at = live.indexOf(index);
              if (at >= 0) live.splice(at, 1);
            } else {
              const index = randomIndex(rand);
              const entry = rand(8) === 0 ? XA_ZERO_ENTRY : op;
              // fail-nth 1: the store's first node allocation fails, and __xas_nomem()'s
              // fallback allocates it again: the same nodes, in the same order.
              if (inject && rand(2) === 0) t.task.fail_nth = 1;
              got = xa_store(xa, index, entry, GFP_KERNEL);
              t.task.fail_nth = 0;
              want = ref.store(index, entry);
              if (!live.includes(index)) live.push(index);
            }
            if (got instanceof ErrnoError) got = "ENOMEM";
            assert.deepEqual(got, want, `seed ${seed} op ${op}: result`);
            const after = new Set(xa.nodes.keys());
            assert.deepEqual(
              [...after].filter((k) => !before.has(k)),
              ref.allocated,
              `seed ${seed} op ${op}: nodes allocated, in order`,
            );
            assert.deepEqual(
              new Set([...before].filter((k) => !after.has(k))),
              new Set(ref.freed),
              `seed ${seed} op ${op}: nodes freed`,
            );
            assert.deepEqual([...after].sort(), [...ref.nodes.keys()].sort());
            assert.equal(xa.height, ref.height, `seed ${seed} op ${op}: height`);
            assert.equal(xa.entries.size, ref.entries.size);
            assert.equal(xa_empty(xa), ref.entries.size === 0);
          }
          const want = [...ref.entries].filter(([, e]) => e !== XA_ZERO_ENTRY)
            .sort((a, b) => a[0] - b[0]);
          assert.deepEqual([...xa_for_each(xa)], want);
          for (const [index, e] of ref.entries) {
            assert.equal(xa_load(xa, index), e === XA_ZERO_ENTRY ? null : e);
          }
          // Everything erased: no node stays.
          for (const index of [...ref.entries.keys()]) xa_erase(xa, index);
          assert.equal(xa.nodes.size, 0);
          assert.equal(xa.height, 0);
        });
      }
    },
  );
}
