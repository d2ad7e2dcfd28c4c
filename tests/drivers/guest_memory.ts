/** Helpers for tests in which a guest's tables live in the VMM's memory. */
import type { Process } from "../../lib/internal.ts";

/** Writes a 64-bit little-endian value into the guest's RAM (at `ram` in `vmm`) at GPA `gpa`. */
export function guestWrite64(vmm: Process, ram: bigint, gpa: number, value: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  vmm.write(ram + BigInt(gpa), b);
}

/** The host physical address behind `va` of `vmm` (its page must be present): /proc/self/pagemap. */
export function hpa(vmm: Process, va: bigint): number {
  const pa = vmm.pagemap(va);
  if (pa === null) throw new Error(`no page at 0x${va.toString(16)}`);
  return Number(pa);
}
