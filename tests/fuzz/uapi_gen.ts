/**
 * Generators for the uAPI fuzzer (uapi_fuzz_test.ts): command sequences whose arguments are
 * symbolic "tokens" — "an existing IOAS", "the start of a mapped area", "a pointer into read-only
 * memory", "2^64 − 1" — resolved against the model's state when the command runs, so that a
 * sequence stays meaningful (and shrinks well) whatever the earlier commands did.
 */
import fc from "fast-check";
import {
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
  IOMMUFD_OBJ_DEVICE,
  IOMMUFD_OBJ_HWPT_NESTED,
  IOMMUFD_OBJ_HWPT_PAGING,
  IOMMUFD_OBJ_IOAS,
  IOMMUFD_OBJ_SELFTEST,
  iommufdIoctls,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  PAGE_SIZE,
} from "../../lib/internal.ts";

const P = BigInt(PAGE_SIZE);
const U64_MAX = (1n << 64n) - 1n;

/** An object ID: one of the objects that exist now (optionally of one type), or a literal. */
export type IdToken = { obj: number; type: number } | { lit: number };

/** A 64-bit value: a literal, or derived from a mapped area of some IOAS. */
export type U64Token =
  | { lit: bigint }
  | { area: number; part: "start" | "last" | "end" | "length" | "mid"; delta: bigint };

/** A user pointer: somewhere meaningful in the task's memory, or a literal. */
export type PtrToken =
  | { mem: "buffer" | "data" | "rodata" | "unmapped" | "bufend"; offset: bigint }
  | { lit: bigint };

/** Where the struct itself goes. */
export type Placement = "rw" | "ro" | "straddle" | "unmapped" | "null";

/** A value for one struct field, by what the field is. */
export type FieldToken =
  | { kind: "id"; id: IdToken }
  | { kind: "u64"; v: U64Token }
  | { kind: "ptr"; p: PtrToken }
  | { kind: "u32"; v: number };

/** One raw ioctl: the command, the size field, every other field, where the struct lives. */
export interface RawOp {
  op: "raw";
  /** Index into iommufdIoctls, or -1 for a bogus number. */
  row: number;
  /** For row -1: the number. For a row: extra bits or-ed into the number (0 mostly). */
  cmdBits: number;
  size: { rel: "sizeof" | "min" | "min-1" | "plus"; plus: number } | { lit: number };
  /** A non-zero byte in the part of a longer struct beyond sizeof. */
  dirtyTail: boolean;
  fields: Record<string, FieldToken>;
  placement: Placement;
  /** The data area's contents: u64s. */
  data: U64Token[];
  /** Sort each pair of u64s in the data area (so that they read as [start, last] ranges). */
  pairs: boolean;
}

/** Valid-ish setup steps, made through the typed helpers, that build interesting state. */
export type SetupOp =
  | { op: "ioasAlloc" }
  | { op: "mockDomain"; pt: IdToken; flags: number }
  | {
    op: "map";
    ioas: IdToken;
    page: number;
    pages: number;
    fixed: U64Token | null;
    prot: number;
    /** Map this instead of the buffer (read-only, unmapped or beyond memory). */
    user_va: PtrToken | null;
  }
  | { op: "hwptAlloc"; dev: IdToken; pt: IdToken; flags: number; nested: boolean }
  | { op: "replace"; stdev: IdToken; pt: IdToken }
  | { op: "option"; option_id: number; op_: number; val64: bigint; object: IdToken }
  | { op: "bind"; dev: number }
  | { op: "attach"; dev: number; pt: IdToken }
  | { op: "detach"; dev: number }
  | { op: "unbind"; dev: number }
  | { op: "dirty"; hwpt: IdToken; iova: U64Token; length: U64Token }
  | {
    op: "dirtyBitmap";
    hwpt: IdToken;
    iova: U64Token;
    length: U64Token;
    page_size: bigint;
    flags: number;
    data: PtrToken | null;
  };

export type Op = RawOp | SetupOp;

const OBJ_TYPES = [
  0, // any
  IOMMUFD_OBJ_IOAS,
  IOMMUFD_OBJ_IOAS,
  IOMMUFD_OBJ_HWPT_PAGING,
  IOMMUFD_OBJ_HWPT_NESTED,
  IOMMUFD_OBJ_DEVICE,
  IOMMUFD_OBJ_SELFTEST,
];

/** The object types a field of this name means. */
function preferredTypes(name: string): number[] {
  if (/ioas_id$/.test(name)) return [IOMMUFD_OBJ_IOAS];
  if (name === "hwpt_id") return [IOMMUFD_OBJ_HWPT_PAGING, IOMMUFD_OBJ_HWPT_NESTED];
  if (name === "dev_id") return [IOMMUFD_OBJ_DEVICE];
  if (name === "pt_id") return [IOMMUFD_OBJ_IOAS, IOMMUFD_OBJ_HWPT_PAGING, IOMMUFD_OBJ_HWPT_NESTED];
  if (name === "object_id") return [IOMMUFD_OBJ_IOAS, 0, -1, -1];
  if (name === "stdev_id") return [IOMMUFD_OBJ_SELFTEST];
  return OBJ_TYPES;
}

/** An ID for a field called `name`: mostly an object of the type the field means. */
export function idFor(name: string): fc.Arbitrary<IdToken> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(...preferredTypes(name)).chain((type): fc.Arbitrary<IdToken> =>
        type < 0 ? fc.constant({ lit: 0 }) : fc.record({ obj: fc.nat(7), type: fc.constant(type) })
      ),
    },
    { weight: 3, arbitrary: idToken },
  );
}

export const idToken: fc.Arbitrary<IdToken> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ obj: fc.nat(7), type: fc.constantFrom(...OBJ_TYPES) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      lit: fc.oneof(
        fc.constantFrom(0, 1, 2, 3, 4, 5, 8, 63, 64, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff),
        fc.integer({ min: 0, max: 0xffff_ffff }),
      ),
    }),
  },
);

const interesting64 = [
  0n,
  1n,
  0x800n, // the mock's IO page
  P - 1n,
  P,
  P + 1n,
  2n * P,
  4n * P,
  16n * P,
  2n << 20n,
  MOCK_APERTURE_START,
  MOCK_APERTURE_START - P,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_LAST + 1n,
  1n << 32n,
  (1n << 32n) - 1n,
  (1n << 32n) - P,
  (1n << 48n) - P,
  1n << 62n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 63n) + P,
  U64_MAX,
  U64_MAX - 1n,
  U64_MAX - P + 1n,
  U64_MAX - P,
  U64_MAX / 2n,
];

export const u64Token: fc.Arbitrary<U64Token> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ lit: fc.constantFrom(...interesting64) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      lit: fc.tuple(fc.nat(40), fc.constantFrom(0n, 0n, 0n, 1n, 0x800n, P - 1n)).map(
        ([k, off]) => BigInt(k) * P + off,
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      area: fc.nat(5),
      part: fc.constantFrom("start", "last", "end", "length", "mid") as fc.Arbitrary<
        "start" | "last" | "end" | "length" | "mid"
      >,
      delta: fc.constantFrom(0n, 0n, 0n, P, -P, 1n, -1n, 0x800n),
    }),
  },
  { weight: 2, arbitrary: fc.record({ lit: fc.bigInt({ min: 0n, max: U64_MAX }) }) },
);

export const ptrToken: fc.Arbitrary<PtrToken> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      mem: fc.constantFrom(
        "buffer",
        "buffer",
        "data",
        "rodata",
        "unmapped",
        "bufend",
      ) as fc.Arbitrary<
        "buffer" | "data" | "rodata" | "unmapped" | "bufend"
      >,
      offset: fc.oneof(
        fc.constantFrom(0n, 0n, 0n, 8n, 1n, 0x800n, P, 2n * P, 8n * P, 15n * P),
        fc.nat(64).map((n) => BigInt(n)),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      lit: fc.oneof(
        fc.constantFrom(
          0n,
          1n,
          P,
          U64_MAX,
          U64_MAX - 7n,
          1n << 47n,
          (1n << 47n) - 8n,
          0xffff_8000_0000_0000n,
        ),
        fc.bigInt({ min: 0n, max: U64_MAX }),
      ),
    }),
  },
);

const flags32 = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 6, arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7) },
  { weight: 2, arbitrary: fc.nat(31).map((b) => (1 << b) >>> 0) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

const count32 = fc.oneof(
  { weight: 6, arbitrary: fc.nat(4) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(8, 16, 24, 4, 12, 64, 0x1000, 0x7fff_ffff, 0xffff_ffff, 0x1_0000),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

const enum32 = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 1, 2, 3) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      IOMMU_HWPT_DATA_SELFTEST,
      IOMMU_HWPT_DATA_VTD_S1,
      IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
      IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

const reserved32 = fc.oneof(
  { weight: 9, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xffff_ffff }) },
);

const ID_FIELDS = /(^|_)id$/;
const PTR_FIELDS = new Set(["user_va", "data_uptr", "allowed_iovas", "data"]);
const COUNT_FIELDS = new Set(["num_iovas", "entry_num", "entry_len", "data_len"]);
const ENUM_FIELDS = new Set(["data_type", "option_id", "op"]);

/** The token for field `name` of C type `type`. */
function fieldToken(name: string, type: string): fc.Arbitrary<FieldToken> {
  const u32 = (a: fc.Arbitrary<number>, max = 0xffff_ffff) =>
    a.map((v) => ({ kind: "u32" as const, v: v > max ? v & max : v }));
  if (type === "__u64" || type === "__aligned_u64") {
    if (PTR_FIELDS.has(name)) return ptrToken.map((p) => ({ kind: "ptr" as const, p }));
    return u64Token.map((v) => ({ kind: "u64" as const, v }));
  }
  const max = type === "__u16" ? 0xffff : 0xffff_ffff;
  if (name.startsWith("__reserved")) return u32(reserved32, max);
  if (name.startsWith("out_")) return u32(fc.constantFrom(0, 0, 0xffff_ffff), max);
  if (ID_FIELDS.test(name)) return idFor(name).map((id) => ({ kind: "id" as const, id }));
  if (name === "flags") return u32(flags32, max);
  if (COUNT_FIELDS.has(name)) return u32(count32, max);
  if (ENUM_FIELDS.has(name)) return u32(enum32, max);
  return u32(fc.integer({ min: 0, max }), max);
}

/** Field tokens for every field of row `row` but `size`. */
function fieldsOf(row: number): fc.Arbitrary<Record<string, FieldToken>> {
  const model: Record<string, fc.Arbitrary<FieldToken>> = {};
  for (const f of iommufdIoctls[row].struct.fields) {
    if (f.name !== "size") model[f.name] = fieldToken(f.name, f.type);
  }
  return fc.record(model);
}

const sizeToken = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      rel: fc.constant("sizeof" as const),
      plus: fc.constant(0),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      rel: fc.constantFrom("min", "min-1", "plus") as fc.Arbitrary<"min" | "min-1" | "plus">,
      plus: fc.constantFrom(1, 4, 8, 64, 4096, 8192),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      lit: fc.oneof(
        fc.constantFrom(0, 1, 3, 4, 8, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0xffff_fff8),
        fc.integer({ min: 0, max: 0xffff_ffff }),
      ),
    }),
  },
);

const placement: fc.Arbitrary<Placement> = fc.oneof(
  { weight: 20, arbitrary: fc.constant("rw" as const) },
  { weight: 2, arbitrary: fc.constant("ro" as const) },
  { weight: 1, arbitrary: fc.constant("straddle" as const) },
  { weight: 1, arbitrary: fc.constantFrom("unmapped", "null") as fc.Arbitrary<Placement> },
);

/** Numbers that are not iommufd commands: out of range, or with type/direction bits. */
const bogusCmd = fc.constantFrom(
  0x3b7f,
  0x3b8f,
  0x3ba0, // IOMMU_TEST_CMD: not in the table
  0x3bff,
  0x3b00,
  0x3c80, // wrong type byte
  0xc0303b85, // _IOWR-style bits on IOAS_MAP
  0x3b64, // VFIO_GET_API_VERSION's number
);

export const rawOp: fc.Arbitrary<RawOp> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc.nat(iommufdIoctls.length - 1).chain((row) =>
      fc.record({
        op: fc.constant("raw" as const),
        row: fc.constant(row),
        cmdBits: fc.oneof(
          { weight: 20, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.constantFrom(0x4000_0000, 0x8000_0000, 0x0018_0000) },
        ),
        size: sizeToken,
        dirtyTail: fc.boolean().chain((b) => b ? fc.boolean() : fc.constant(false)).chain((b) =>
          b ? fc.boolean() : fc.constant(false)
        ),
        fields: fieldsOf(row),
        placement,
        data: fc.array(u64Token, { minLength: 0, maxLength: 8 }),
        pairs: fc.boolean(),
      })
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("raw" as const),
      row: fc.constant(-1),
      cmdBits: bogusCmd,
      size: sizeToken,
      dirtyTail: fc.constant(false),
      fields: fc.constant({}),
      placement: fc.constant("rw" as const),
      data: fc.constant([] as U64Token[]),
      pairs: fc.constant(false),
    }),
  },
);

export const setupOp: fc.Arbitrary<SetupOp> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ op: "ioasAlloc" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("mockDomain" as const),
      pt: idFor("pt_id"),
      flags: fc.constantFrom(0, 0, 1, 2, 3, 4),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("map" as const),
      ioas: idFor("ioas_id"),
      page: fc.nat(15),
      pages: fc.integer({ min: 1, max: 16 }),
      fixed: fc.option(u64Token, { freq: 3 }),
      prot: fc.constantFrom(2, 4, 6, 6),
      user_va: fc.option(ptrToken, { freq: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("hwptAlloc" as const),
      dev: idFor("dev_id"),
      pt: idFor("pt_id"),
      flags: fc.constantFrom(0, 1, 2, 2, 3, 4),
      nested: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("option" as const),
      option_id: fc.constantFrom(0, 1, 1),
      op_: fc.constantFrom(0, 0, 1),
      val64: fc.constantFrom(0n, 0n, 1n, 2n),
      object: idFor("object_id"),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("replace" as const),
      stdev: idFor("stdev_id"),
      pt: idFor("pt_id"),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.record({
        op: fc.constantFrom("bind", "detach", "unbind") as fc.Arbitrary<
          "bind" | "detach" | "unbind"
        >,
        dev: fc.nat(1),
      }),
      fc.record({ op: fc.constant("attach" as const), dev: fc.nat(1), pt: idFor("pt_id") }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("dirty" as const),
      hwpt: idFor("hwpt_id"),
      iova: u64Token,
      length: u64Token,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("dirtyBitmap" as const),
      hwpt: idFor("hwpt_id"),
      iova: u64Token,
      length: u64Token,
      page_size: fc.constantFrom(0x800n, P, P, 2n * P, 0n, 3n),
      flags: fc.constantFrom(0, 0, 1),
      data: fc.option(ptrToken),
    }),
  },
);

/** A run: a few setup steps first, then a mix of raw ioctls and more setup. */
export function scenario(maxOps: number) {
  return fc.record({
    root: fc.boolean(),
    rlimitPages: fc.constantFrom(4, 64, 1024),
    ioases: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, {
      weight: 12,
      arbitrary: fc.integer({ min: 1, max: 2 }),
    }),
    /** Mock domains on the IOASes: [which IOAS, device flags]. */
    domains: fc.array(fc.tuple(fc.nat(1), fc.constantFrom(0, 0, 1, 2)), {
      minLength: 0,
      maxLength: 3,
    }),
    /** Mappings of the buffer: [which IOAS, first page, pages, prot]. */
    maps: fc.array(
      fc.tuple(fc.nat(1), fc.nat(15), fc.integer({ min: 1, max: 16 }), fc.constantFrom(2, 4, 6)),
      { maxLength: 3 },
    ),
    /** Map before the domains are created, so that creating them fills them. */
    mapFirst: fc.boolean(),
    /** Mappings of odd memory: [which IOAS, pointer, pages] (pinned when a domain is filled). */
    oddMaps: fc.array(fc.tuple(fc.nat(1), ptrToken, fc.integer({ min: 1, max: 8 })), {
      maxLength: 2,
    }),
    /** Bind the two VFIO devices, and attach them to the first IOAS. */
    binds: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
    /** On the first device: a nest parent with a nested HWPT, a dirty-tracking HWPT. */
    nest: fc.boolean(),
    dirty: fc.boolean(),
    prelude: fc.array(setupOp, { minLength: 0, maxLength: 3 }),
    ops: fc.array(
      fc.oneof({ weight: 4, arbitrary: rawOp }, { weight: 1, arbitrary: setupOp }),
      { minLength: 1, maxLength: maxOps },
    ),
  });
}
