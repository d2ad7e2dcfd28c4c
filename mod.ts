/**
 * The public surface of the model: everything examples, tests and outside users drive.
 * Each module it re-exports is tangled from a chapter of `spec/`.
 *
 * @module
 */
export * from "./lib/errno.ts";
export * from "./lib/iommu/iommu.ts";
export * from "./lib/iommufd/uapi.ts";
export * from "./lib/iommufd/iommufd_test.ts";
export * from "./lib/hw/physmem.ts";
export * from "./lib/hw/vtd/pgtable.ts";
export * from "./lib/hw/vtd/fault.ts";
export * from "./lib/hw/vtd/walk.ts";
export * from "./lib/hw/vtd/build.ts";
export * from "./lib/hw/vtd/cost.ts";
export * from "./lib/hw/vtd/regs.ts";
export * from "./lib/hw/vtd/context.ts";
export * from "./lib/hw/vtd/fault_record.ts";
export * from "./lib/hw/vtd/iotlb.ts";
export * from "./lib/hw/vtd/unit.ts";
export * from "./lib/hw/vtd/build_context.ts";
export * from "./lib/mm/gfp.ts";
export * from "./lib/mm/page_alloc.ts";
export * from "./lib/mm/slab.ts";
export * from "./lib/mm/current.ts";
export * from "./lib/mm/cred.ts";
export * from "./lib/mm/mm.ts";
export * from "./lib/mm/uaccess.ts";
export * from "./lib/mm/gup.ts";
export * from "./lib/mm/locked_vm.ts";
export * from "./lib/fs/file.ts";
export * from "./lib/mm/task.ts";
export * from "./lib/mm/fault-inject.ts";
export * from "./lib/mm/memcontrol.ts";
export * from "./lib/mm/oom_kill.ts";
export * from "./lib/iommu/iommu-pages.ts";
export * from "./lib/machine.ts";
export * from "./lib/lib/xarray.ts";
export * from "./lib/lib/interval_tree.ts";
export * from "./lib/iommufd/main.ts";
export * from "./lib/iommufd/io_pagetable.ts";
export * from "./lib/iommufd/pages.ts";
export * from "./lib/iommufd/iova_bitmap.ts";
export * from "./lib/iommufd/ioas.ts";
export * from "./lib/iommufd/device.ts";
export * from "./lib/iommufd/access.ts";
export * from "./lib/iommufd/hw_pagetable.ts";
export * from "./lib/iommufd/selftest.ts";
export * from "./lib/iommufd/user.ts";
export * from "./lib/vfio/device_cdev.ts";
export * from "./lib/iommufd/iommufd.ts";
export * from "./lib/iommufd/vfio_compat.ts";
export * from "./lib/drivers/intel/iommu.ts";
export * from "./lib/drivers/intel/pasid.ts";
export * from "./lib/drivers/intel/cache.ts";
export * from "./lib/drivers/intel/nested.ts";
