import assert from "node:assert/strict";
import {
  account_locked_vm,
  CAP_IPC_LOCK,
  do_update_pinned,
  ENOMEM,
  IOPT_PAGES_ACCOUNT_MM,
  IOPT_PAGES_ACCOUNT_NONE,
  IOPT_PAGES_ACCOUNT_USER,
  ioptPagesAccountInit,
  IS_ERR,
  Machine,
} from "../../lib/internal.ts";

const limit = 64n * 4096n; // 64 pages

Deno.test("locked_vm USER mode: one budget per user, the leader's RLIMIT_MEMLOCK, full restore", () => {
  const m = new Machine();
  const a = m.spawn({ uid: 1000, rlimitMemlock: limit });
  const b = m.spawn({ uid: 1000, rlimitMemlock: limit });
  const acctA = a.task.syscall(ioptPagesAccountInit);
  const acctB = b.task.syscall(ioptPagesAccountInit);
  assert.equal(acctA.account_mode, IOPT_PAGES_ACCOUNT_USER);
  a.task.syscall(() => assert.equal(do_update_pinned(acctA, 40, true), 0));
  b.task.syscall(() => {
    const rc = do_update_pinned(acctB, 25, true);
    assert.ok(IS_ERR(rc) && rc.errno === ENOMEM, "the two processes share the uid's budget");
    assert.equal(do_update_pinned(acctB, 24, true), 0, "equality is allowed");
  });
  assert.equal(acctA.source_user.locked_vm, 64);
  assert.equal(a.mm!.pinned_vm, 40);
  assert.equal(b.mm!.pinned_vm, 24);
  assert.equal(a.mm!.locked_vm, 0, "USER mode leaves mm->locked_vm alone");
  a.task.syscall(() => do_update_pinned(acctA, 40, false));
  b.task.syscall(() => do_update_pinned(acctB, 24, false));
  assert.equal(acctA.source_user.locked_vm, 0);
  assert.equal(a.mm!.pinned_vm + b.mm!.pinned_vm, 0);
  const other = m.spawn({ uid: 1001, rlimitMemlock: limit });
  const acctO = other.task.syscall(ioptPagesAccountInit);
  other.task.syscall(() =>
    assert.equal(do_update_pinned(acctO, 64, true), 0, "another uid, own budget")
  );
});

Deno.test("locked_vm MM mode: per process, mm->locked_vm, ENOMEM leaves everything as it was", () => {
  const m = new Machine();
  const a = m.spawn({ rlimitMemlock: limit });
  const b = m.spawn({ rlimitMemlock: limit });
  const acctA = { ...a.task.syscall(ioptPagesAccountInit), account_mode: IOPT_PAGES_ACCOUNT_MM };
  const acctB = { ...b.task.syscall(ioptPagesAccountInit), account_mode: IOPT_PAGES_ACCOUNT_MM };
  a.task.syscall(() => assert.equal(do_update_pinned(acctA, 64, true), 0));
  b.task.syscall(() =>
    assert.equal(do_update_pinned(acctB, 64, true), 0, "a second process, its own")
  );
  a.task.syscall(() => {
    const rc = do_update_pinned(acctA, 1, true);
    assert.ok(IS_ERR(rc) && rc.errno === ENOMEM);
  });
  assert.deepEqual([a.mm!.locked_vm, a.mm!.pinned_vm, acctA.source_user.locked_vm], [64, 64, 0]);
  b.task.syscall(() => do_update_pinned(acctA, 64, false)); // from another task: a remote mm
  assert.deepEqual([a.mm!.locked_vm, a.mm!.pinned_vm], [0, 0]);
});

Deno.test("locked_vm NONE mode: CAP_IPC_LOCK pins without limit, pinned_vm still counts", () => {
  const m = new Machine();
  const t = m.spawn({ capabilities: [CAP_IPC_LOCK], rlimitMemlock: 0n });
  const acct = t.task.syscall(ioptPagesAccountInit);
  assert.equal(acct.account_mode, IOPT_PAGES_ACCOUNT_NONE);
  t.task.syscall(() => assert.equal(do_update_pinned(acct, 100_000, true), 0));
  assert.deepEqual([acct.source_user.locked_vm, t.mm!.locked_vm, t.mm!.pinned_vm], [0, 0, 100_000]);
});

Deno.test("account_locked_vm: RLIMIT_MEMLOCK unless CAP_IPC_LOCK", () => {
  const m = new Machine();
  const t = m.spawn({ rlimitMemlock: limit });
  t.task.syscall(() => {
    assert.equal(account_locked_vm(t.mm, 64, true), 0);
    assert.ok(IS_ERR(account_locked_vm(t.mm, 1, true)));
    assert.equal(account_locked_vm(t.mm, 64, false), 0);
    assert.equal(account_locked_vm(null, 5, true), 0);
  });
  const root = m.spawn({ capabilities: [CAP_IPC_LOCK], rlimitMemlock: 0n });
  root.task.syscall(() => assert.equal(account_locked_vm(root.mm, 10, true), 0));
});
