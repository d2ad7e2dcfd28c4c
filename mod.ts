/**
 * The public API of the model of IOMMU user domains: a machine, the processes that run on it and
 * their system calls, the iommufd handle a VMM holds, the errors the kernel answers with, and the
 * uAPI it speaks. Everything else — the kernel's own functions, the drivers, the page tables — is
 * reachable from `lib/internal.ts`, for tests, benchmarks and the site.
 *
 * ```ts
 * import { Machine, uapi } from "./mod.ts";
 * const m = new Machine();                         // RAM, the root cgroup, the mock IOMMU "mock0"
 * m.addIommu({ kind: "vtd" });                     // a VT-d unit "dmar0", its driver booted
 * const cg = m.cgroups.create("/vm1");             // cgroup v2: cg.write("memory.max", "64M")
 * const vmm = m.spawn({ cgroup: cg });             // a process: mmap, open, ioctl, close
 * const dev = m.addPciDevice({ iommu: "dmar0" });  // a PCI function; dev.dma(iova, { write })
 * const fd = vmm.iommufd(vmm.open("/dev/iommu"));  // typed helpers throwing ErrnoError
 * const devId = fd.bind(dev);                      // opens dev.cdevPath, VFIO_DEVICE_BIND_IOMMUFD
 * const ioas = fd.ioasAlloc();
 * fd.attach(devId, ioas);
 * vmm.ioctl(fd.fd, uapi.IOMMU_DESTROY, 0n);        // raw: the result, or the ErrnoError
 * ```
 *
 * @module
 */

// The machine and its processes.

/** The simulated machine: memory, cgroups, IOMMUs, devices, processes. */
export { Machine, type MachineOptions } from "./lib/machine.ts";
/** What `machine.spawn()` accepts: cgroup, uid, capabilities, RLIMIT_MEMLOCK, OOM score. */
export type { SpawnOptions } from "./lib/kernel/task.ts";
/** A user process: its system calls on descriptor numbers, and its memory. */
export { Process } from "./lib/user/process.ts";
/** The typed handle on an open /dev/iommu: raw and typed ioctls, strace-style trace, devices. */
export { IommufdFd } from "./lib/user/iommufd.ts";
/** A memory cgroup (cgroup v2): `read()` and `write()` its files, as `cat` and `echo` would. */
export type { mem_cgroup } from "./lib/mm/memcontrol.ts";
/** A device behind an IOMMU; `cdevPath` names its VFIO device file. */
export type { device } from "./lib/iommu/iommu.ts";
/** A PCI function behind a VT-d unit: `dma(iova, { write, pasid })` goes through the unit. */
export type { pci_dev } from "./lib/drivers/intel/iommu.ts";
/** The VT-d driver's instance for one unit (`machine.addIommu()`): its name and its trace. */
export type { intel_iommu } from "./lib/drivers/intel/iommu.ts";
/** The outcome of one DMA through a VT-d unit: the address, or the fault and its record. */
export type { VtdTranslation } from "./lib/hw/vtd/unit.ts";

// What a process passes to its system calls.

/** mmap() protections. */
export { PROT_READ, PROT_WRITE } from "./lib/mm/mm.ts";
/** madvise() advice for transparent huge pages. */
export { MADV_HUGEPAGE, MADV_NOHUGEPAGE } from "./lib/mm/mm.ts";
/** Capabilities a spawned process may hold. */
export { CAP_IPC_LOCK, CAP_SYS_RESOURCE } from "./lib/kernel/cred.ts";
/** The oom_score_adj that exempts a process from the OOM killer. */
export { OOM_SCORE_ADJ_MIN } from "./lib/mm/oom_kill.ts";

// Errors: the errno, which check of the kernel's failed, and why.

/** The kernel's answer to a failed call, with the check that failed (`check`) and why. */
export { ErrnoError, errnoName, IS_ERR } from "./lib/errno.ts";
/** The errno values the model answers with (asm-generic/errno-base.h, errno.h). */
export {
  E2BIG,
  EACCES,
  EADDRINUSE,
  EAGAIN,
  EBADE,
  EBADF,
  EBADFD,
  EBUSY,
  EDEADLK,
  EEXIST,
  EFAULT,
  EINTR,
  EINVAL,
  EIO,
  EMSGSIZE,
  ENODEV,
  ENOENT,
  ENOMEM,
  ENOSPC,
  ENOTTY,
  ENXIO,
  EOPNOTSUPP,
  EOVERFLOW,
  EPERM,
  ERANGE,
  ESRCH,
} from "./lib/errno.ts";

// The uAPI, as the headers have it.

/** include/uapi/linux/iommufd.h: every struct byte-exact, the ioctl numbers and flags. */
export * as uapi from "./lib/uapi/iommufd.ts";
/** include/uapi/linux/vfio.h: the VFIO device ioctls a VMM uses with iommufd. */
export * as vfio from "./lib/uapi/vfio.ts";
/** drivers/iommu/iommufd/iommufd_test.h: the selftest's IOMMU_TEST_CMD and mock constants. */
export * as selftest from "./lib/uapi/iommufd_test.ts";

// The VT-d page walker on its own, for reading translations step by step.

/** Sparse physical memory of 4 KiB frames. */
export { PhysMem } from "./lib/hw/physmem.ts";
/** Second- and first-stage table formats (root, levels, mode). */
export { VtdFirstStage, VtdSecondStage } from "./lib/hw/vtd/pgtable.ts";
/** Build tables: a frame allocator and the map functions a driver would use. */
export { vtdMapFirstStage, vtdMapSecondStage, VtdTableArena } from "./lib/hw/vtd/build.ts";
/** The walks: one stage, or nested, with every read traced; read and write requests. */
export {
  VTD_DMA_READ,
  VTD_DMA_WRITE,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "./lib/hw/vtd/walk.ts";

// The RISC-V IOMMU's walk, and its test vectors in the reference model's form.

/** A two-stage RISC-V IOMMU translation (first stage over G stage), with its reads in order. */
export { riscvTranslate } from "./lib/hw/riscv/translate.ts";
/** The chapter's worked RISC-V vectors (R1–R18) as a vector file. */
export { riscvWorkedVectors } from "./lib/hw/riscv/worked.ts";
/** A vector file's memory image and request, ready for `riscvTranslate`; hex formatting. */
export { riscvHex, type RiscvVectorFile, riscvVectorSetup } from "./lib/hw/riscv/vectors.ts";
/** Chapter 17's worked VT-d walks (V1–V9, F1–F6, N1) as a vector file of the documented schema. */
export { type VtdVectorFile, vtdWorkedVectors } from "./lib/hw/vtd/vectors.ts";

// The Arm SMMUv3's LPAE walk (stage 1, stage 2, nested), and its test vectors.

/** An SMMUv3 translation (stage 1, stage 2 or nested) with its reads in order, or its event. */
export { smmuTranslate } from "./lib/hw/arm/smmu.ts";
/** The chapter's worked SMMUv3 vectors (A, G, S2 and N series) as a vector file. */
export { armWorkedVectors } from "./lib/hw/arm/worked.ts";
/** An SMMUv3 vector file's memory image, stream configuration and request, for `smmuTranslate`. */
export { type ArmVectorFile, armVectorSetup } from "./lib/hw/arm/vectors.ts";

// The AMD IOMMU's v1 host page table: its walk from a DTE, and its test vectors.

/** An AMD IOMMU v1 host translation from a DTE's mode, root and IR/IW: reads in order, or the event. */
export { amdV1Translate } from "./lib/hw/amd/translate.ts";
/** Chapter 23's worked AMD v1 vectors (M1–M13) as a vector file. */
export { amdWorkedVectors } from "./lib/hw/amd/worked.ts";
/** An AMD v1 vector file's memory image, DTE and request, ready for `amdV1Translate`. */
export { type AmdVectorFile, amdVectorSetup } from "./lib/hw/amd/vectors.ts";
