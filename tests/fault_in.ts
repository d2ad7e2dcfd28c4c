/**
 * Faulting user memory in for writing, cheaply.
 *
 * Fixtures fault in fresh mappings (so that a later kernel write to them charges nothing) by
 * writing zeros over them. The model's physical memory scans every byte written for a non-zero one
 * (an all-zero page stays unbacked), so a megabyte of zeros costs a million comparisons; one zero
 * byte per page takes the same write fault on every page and leaves memory as it was.
 */
import type { Process } from "../lib/internal.ts";

/** Write-faults every page of [va, va + length) of fresh (all-zero) memory, one byte each. */
export function faultIn(vmm: Process, va: bigint, length: bigint): void {
  const zero = new Uint8Array(1);
  for (let at = va; at < va + length; at += 4096n) vmm.write(at, zero);
}
