/**
 * Values a build derives from the model's files — `lib/` and `site/panels/` — kept while they stay
 * the same: `deno task serve` knows when they change (it writes `lib/` itself, and watches
 * `site/`), so a prose edit reads neither again for the figures' and panels' keys.
 *
 * @module
 */

/** Promises by name, forgotten all at once when the model changes. */
export class ModelMemo {
  #values = new Map<string, Promise<unknown>>();

  /** The value named `name`, made once until {@link invalidate} (a failure is not kept). */
  get<T>(name: string, make: () => Promise<T>): Promise<T> {
    let value = this.#values.get(name) as Promise<T> | undefined;
    if (!value) {
      value = make();
      this.#values.set(name, value);
      value.catch(() => {
        if (this.#values.get(name) === value) this.#values.delete(name);
      });
    }
    return value;
  }

  /** The model's files changed: every value is made afresh. */
  invalidate(): void {
    this.#values.clear();
  }
}
