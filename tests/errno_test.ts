import assert from "node:assert/strict";
import {
  E2BIG,
  EFAULT,
  EINVAL,
  ENOIOCTLCMD,
  ENOTTY,
  EOPNOTSUPP,
  EOVERFLOW,
  ErrnoError,
  errnoName,
  fail,
  IS_ERR,
  PTR_ERR,
} from "../lib/internal.ts";

Deno.test("errno: values of include/uapi/asm-generic/errno*.h and include/linux/errno.h", () => {
  assert.deepEqual(
    [E2BIG, EFAULT, EINVAL, ENOTTY, EOVERFLOW, EOPNOTSUPP, ENOIOCTLCMD],
    [7, 14, 22, 25, 75, 95, 515],
  );
  assert.equal(errnoName(EOPNOTSUPP), "EOPNOTSUPP");
  assert.equal(errnoName(4095), "E4095");
});

Deno.test("errno: fail() builds an error value that prints its errno name, reason and check", () => {
  const err = fail(EINVAL, "x-flags", "flags has unknown bits");
  assert.ok(err instanceof ErrnoError && err instanceof Error);
  assert.equal(err.errno, EINVAL);
  assert.equal(err.name, "EINVAL");
  assert.equal(err.check, "x-flags");
  assert.equal(String(err), "EINVAL: flags has unknown bits [x-flags]");
  assert.equal(PTR_ERR(err), -22);
  assert.equal(IS_ERR(err), true);
  assert.equal(IS_ERR({ type: 1 }), false);
  assert.equal(IS_ERR(0), false);
});
