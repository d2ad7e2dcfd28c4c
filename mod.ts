/**
 * Temporary: re-exports the whole model while the curated API is written.
 *
 * @module
 */
export * from "./lib/internal.ts";
