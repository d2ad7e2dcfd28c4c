/**
 * The one place the benchmarks import the model from: every file in `bench/` imports model code
 * through here, so a move of the model's modules changes this file only.
 *
 * @module
 */
export * from "../lib/internal.ts";
