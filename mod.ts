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
