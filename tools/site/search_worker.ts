/**
 * Writes a site's search index in a process of its own (tools/site/search.ts runs it at low CPU
 * priority for `deno task serve`). Usage: `search_worker.ts <outDir> <outputPath>`, with the
 * definitions as JSON on standard input.
 *
 * @module
 */
import { writeSearchIndex } from "./search.ts";
import type { Definition } from "./xref.ts";

const [outDir, outputPath] = Deno.args;
const definitions = JSON.parse(await new Response(Deno.stdin.readable).text()) as Definition[];
await writeSearchIndex(outDir, definitions, outputPath);
