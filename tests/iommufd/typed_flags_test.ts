/**
 * Typed helpers take flags as __u32: bit 31 reaches the kernel (which refuses it with EOPNOTSUPP)
 * instead of becoming a negative JavaScript number (issue: `flags | fixed` is signed in JS).
 */
import assert from "node:assert/strict";
import { EOPNOTSUPP, ErrnoError, Machine } from "../../lib/internal.ts";

Deno.test("typed helpers: flag bit 31 gives the kernel's EOPNOTSUPP, not a RangeError", () => {
  const m = new Machine();
  const vmm = m.spawn();
  const fd = vmm.openIommufd();
  const ioas = fd.ioasAlloc();
  const buf = vmm.mmap(1n << 16n);
  const refused = (e: unknown) =>
    e instanceof ErrnoError && e.errno === EOPNOTSUPP && e.check === "map-flags";
  for (const iova of [undefined, 1n << 24n]) {
    assert.throws(
      () => fd.ioasMap({ ioas_id: ioas, user_va: buf, length: 4096n, iova, flags: 0x8000_0003 }),
      refused,
    );
  }
  assert.throws(
    () =>
      fd.ioasCopy({
        dst_ioas_id: ioas,
        src_ioas_id: ioas,
        src_iova: 0n,
        length: 4096n,
        dst_iova: 0n,
        flags: 0x8000_0003,
      }),
    (e: unknown) => e instanceof ErrnoError && e.errno === EOPNOTSUPP,
  );
  // Not a __u32 at all: a RangeError at the API boundary, before any system call.
  assert.throws(
    () => fd.ioasMap({ ioas_id: ioas, user_va: buf, length: 4096n, flags: 2 ** 33 }),
    RangeError,
  );
  fd.close();
});
