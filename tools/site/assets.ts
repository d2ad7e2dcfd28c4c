/**
 * The site's static files: everything in `site/` that is not a layout (`.tsx`/`.ts`) — the
 * stylesheet, the pages' script, the favicon — copied to the output as they are.
 *
 * @module
 */

/** Path in the output → text, for each static file of `<root>/site/`. */
export async function siteAssets(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const dir = `${root}/site`;
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && /\.(css|js|svg)$/.test(e.name)) names.push(e.name);
  }
  for (const name of names.sort()) out.set(name, await Deno.readTextFile(`${dir}/${name}`));
  return out;
}
