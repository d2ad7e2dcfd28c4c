/**
 * Span iteration over interval trees (spec chapter 13, #spans): the used and hole spans of one
 * tree, and the double span of two, including ranges that end at ULONG_MAX.
 */
import assert from "node:assert/strict";
import {
  interval_tree_for_each_double_span,
  interval_tree_for_each_span,
  interval_tree_insert,
  type interval_tree_node,
  rb_root_cached,
  ULONG_MAX,
} from "../../lib/internal.ts";

function tree(...ranges: [bigint, bigint][]): rb_root_cached {
  const root = new rb_root_cached<interval_tree_node>();
  for (const [start, last] of ranges) interval_tree_insert({ start, last }, root);
  return root;
}

const spans = (root: rb_root_cached, first: bigint, last: bigint) =>
  [...interval_tree_for_each_span(root, first, last)].map((
    s,
  ) => [s.is_hole ? "hole" : "used", s.start, s.last]);

Deno.test("spans: used spans merge overlapping and touching nodes; holes fill the rest", () => {
  const t = tree([10n, 19n], [20n, 29n], [25n, 40n], [50n, 59n]);
  assert.deepEqual(spans(t, 0n, 100n), [
    ["hole", 0n, 9n],
    ["used", 10n, 40n],
    ["hole", 41n, 49n],
    ["used", 50n, 59n],
    ["hole", 60n, 100n],
  ]);
  assert.deepEqual(spans(t, 15n, 55n), [["used", 15n, 40n], ["hole", 41n, 49n], [
    "used",
    50n,
    55n,
  ]]);
  assert.deepEqual(spans(tree(), 0n, ULONG_MAX), [["hole", 0n, ULONG_MAX]]);
  assert.deepEqual(spans(tree([0n, ULONG_MAX]), 0n, ULONG_MAX), [["used", 0n, ULONG_MAX]]);
  assert.deepEqual(spans(tree([5n, ULONG_MAX]), 0n, ULONG_MAX), [["hole", 0n, 4n], [
    "used",
    5n,
    ULONG_MAX,
  ]]);
});

Deno.test("double spans: the first tree wins, then the second, else a hole in both", () => {
  const a = tree([10n, 19n]);
  const b = tree([15n, 29n], [40n, 49n]);
  const got = [...interval_tree_for_each_double_span(a, b, 0n, 60n)].map((
    s,
  ) => [s.is_used, s.start, s.last]);
  assert.deepEqual(got, [
    [0, 0n, 9n],
    [1, 10n, 19n],
    [2, 20n, 29n],
    [0, 30n, 39n],
    [2, 40n, 49n],
    [0, 50n, 60n],
  ]);
});
