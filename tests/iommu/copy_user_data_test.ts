/**
 * iommu_copy_struct_from_user() and iommu_copy_struct_from_user_array()
 * (spec/05-iommu-core.md#copy-user-data) against user memory of a task: type, length, the
 * zero-extension of a shorter struct, EINVAL for a longer one, EFAULT, and array indexing.
 */
import assert from "node:assert/strict";
import {
  EFAULT,
  EINVAL,
  ErrnoError,
  iommu_copy_struct_from_user,
  iommu_copy_struct_from_user_array,
  Machine,
  type Rc,
} from "../../lib/internal.ts";

/** A driver struct of 8 bytes whose first 4 are mandatory, and its data type. */
const KSIZE = 8;
const MIN_LEN = 4;
const TYPE = 0x77;

function setup() {
  const m = new Machine({ memory: 64 * 2 ** 20 });
  const vmm = m.spawn();
  const buf = vmm.mmap(4096n);
  vmm.write(buf, Uint8Array.from({ length: 64 }, (_, k) => k + 1));
  return { vmm, buf };
}

function expectErr(rc: Rc, errno: number, check: string): void {
  assert.ok(rc instanceof ErrnoError, `expected ${check}, got success`);
  assert.equal(rc.errno, errno, rc.message);
  assert.equal(rc.check, check);
}

Deno.test("iommu_copy_struct_from_user: exact and shorter structs; longer, mistyped, unreadable", () => {
  const { vmm, buf } = setup();
  const copy = (type: number, uptr: bigint, len: number, kdst = new Uint8Array(KSIZE).fill(0xff)) =>
    vmm.task.syscall(() =>
      iommu_copy_struct_from_user(kdst, KSIZE, { type, uptr, len }, TYPE, MIN_LEN)
    );
  // Exactly the kernel's size.
  let kdst = new Uint8Array(KSIZE);
  assert.equal(copy(TYPE, buf, 8, kdst), 0);
  assert.deepEqual([...kdst], [1, 2, 3, 4, 5, 6, 7, 8]);
  // Shorter but with the mandatory fields: the tail is zero-filled.
  kdst = new Uint8Array(KSIZE).fill(0xff);
  assert.equal(copy(TYPE, buf, 5, kdst), 0);
  assert.deepEqual([...kdst], [1, 2, 3, 4, 5, 0, 0, 0]);
  // Shorter than the mandatory fields, or longer than the struct (whatever the extra bytes).
  expectErr(copy(TYPE, buf, 3), EINVAL, "copy-user-len");
  expectErr(copy(TYPE, buf, 9), EINVAL, "copy-user-len");
  expectErr(copy(TYPE, buf + 4096n - 8n, 16), EINVAL, "copy-user-len");
  // The type is checked first.
  expectErr(copy(TYPE + 1, buf, 9), EINVAL, "copy-user-type");
  // A pointer to nothing: EFAULT from copy_struct_from_user().
  expectErr(copy(TYPE, 0n, 8), EFAULT, "copy-struct-fault");
  expectErr(copy(TYPE, buf + 4096n - 4n, 8), EFAULT, "copy-struct-fault");
});

Deno.test("iommu_copy_struct_from_user_array: index, stride, entry length, type", () => {
  const { vmm, buf } = setup();
  const copy = (entry_len: number, entry_num: number, index: number, type = TYPE) => {
    const kdst = new Uint8Array(KSIZE).fill(0xff);
    const rc = vmm.task.syscall(() =>
      iommu_copy_struct_from_user_array(
        kdst,
        KSIZE,
        { type, uptr: buf, entry_len, entry_num },
        TYPE,
        index,
        MIN_LEN,
      )
    );
    return { rc, kdst: [...kdst] };
  };
  // Entry 2 of 8-byte entries starts 16 bytes in.
  assert.deepEqual(copy(8, 3, 2), { rc: 0, kdst: [17, 18, 19, 20, 21, 22, 23, 24] });
  // Shorter entries are read at their own stride and zero-extended.
  assert.deepEqual(copy(6, 3, 2), { rc: 0, kdst: [13, 14, 15, 16, 17, 18, 0, 0] });
  expectErr(copy(8, 3, 3).rc, EINVAL, "copy-array-index");
  expectErr(copy(8, 0, 0).rc, EINVAL, "copy-array-index");
  expectErr(copy(9, 3, 0).rc, EINVAL, "copy-user-len");
  expectErr(copy(2, 3, 0).rc, EINVAL, "copy-user-len");
  expectErr(copy(8, 3, 0, TYPE + 1).rc, EINVAL, "copy-user-type");
  // The index is checked before the type.
  expectErr(copy(8, 1, 1, TYPE + 1).rc, EINVAL, "copy-array-index");
});
