/**
 * Reads Kafka's JSON message definitions (clients/src/main/resources/common/message/*.json)
 * and merges two releases into one model whose every field knows, per version, whether it is
 * present, nullable and tagged.
 *
 * Why merge: Kafka 4 dropped old versions (Produce < 3, Fetch < 4, ...) that clients still in use
 * send, and 3.9 lacks the newest ones. A version is described by the newest release that has it
 * (its "owner"); older versions fall back to the older release.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface SpecField {
  name: string;
  type: string;
  versions?: string;
  nullableVersions?: string;
  taggedVersions?: string;
  flexibleVersions?: string;
  tag?: number;
  default?: string | number | boolean;
  ignorable?: boolean;
  mapKey?: boolean;
  entityType?: string;
  about?: string;
  zeroCopy?: boolean;
  fields?: SpecField[];
}

export interface SpecStruct {
  name: string;
  versions: string;
  fields: SpecField[];
}

export interface SpecMessage {
  apiKey?: number;
  type: "request" | "response" | "header" | "data";
  name: string;
  validVersions: string;
  flexibleVersions: string;
  deprecatedVersions?: string;
  latestVersionUnstable?: boolean;
  listeners?: string[];
  fields: SpecField[];
  commonStructs?: SpecStruct[];
}

/** Kafka's files carry `//` line comments (the license header), which JSON does not allow. */
function stripComments(text: string): string {
  return text
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("//"))
    .join("\n");
}

export function loadSpecDir(dir: string): Map<string, SpecMessage> {
  const out = new Map<string, SpecMessage>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith(".json")) continue;
    const msg = JSON.parse(stripComments(readFileSync(join(dir, file), "utf8"))) as SpecMessage;
    out.set(msg.name, msg);
  }
  return out;
}

/** A version range from the spec: "0+", "3-13", "5", "none". Returns [min, max] with max = Infinity for "N+". */
export function parseRange(text: string | undefined): [number, number] | null {
  if (text === undefined || text === "none") return null;
  const t = text.trim();
  if (t.endsWith("+")) return [Number(t.slice(0, -1)), Number.POSITIVE_INFINITY];
  const dash = t.indexOf("-");
  if (dash > 0) return [Number(t.slice(0, dash)), Number(t.slice(dash + 1))];
  const v = Number(t);
  if (!Number.isInteger(v)) throw new Error(`bad version range "${text}"`);
  return [v, v];
}

export function inRange(range: [number, number] | null, v: number): boolean {
  return range !== null && v >= range[0] && v <= range[1];
}

/** One field of the merged model: the version sets are explicit lists of versions. */
export interface Field {
  name: string;
  /** Kind of value: a primitive name, "struct" or "array". */
  kind: "primitive" | "struct" | "array";
  /** Primitive type name (bool, int8 ... uuid, records), or the element type for arrays of primitives. */
  primitive?: string;
  /** Struct type name for struct fields and arrays of structs. */
  structName?: string;
  present: Set<number>;
  nullable: Set<number>;
  tagged: Set<number>;
  tag?: number;
  /** Field-level override, only used by RequestHeader.ClientId ("flexibleVersions": "none"). */
  neverFlexible: boolean;
  default?: string | number | boolean;
  ignorable: boolean;
  mapKey: boolean;
  entityType?: string;
  about: string;
  /** Inline fields of a struct type declared here (not a common struct). */
  fields?: Field[];
}

export interface Struct {
  name: string;
  fields: Field[];
}

export interface Message {
  name: string;
  type: SpecMessage["type"];
  apiKey?: number;
  minVersion: number;
  maxVersion: number;
  /** Lowest flexible version, or null if no version is flexible. */
  flexibleMin: number | null;
  deprecatedVersions: number[];
  latestVersionUnstable: boolean;
  fields: Field[];
  commonStructs: Struct[];
  /** Which release described each version, for the generated header comment. */
  sources: string[];
}

interface Source {
  label: string;
  msg: SpecMessage;
  range: [number, number];
}

function typeShape(type: string): { kind: Field["kind"]; primitive?: string; structName?: string } {
  const PRIMITIVES = new Set([
    "bool",
    "int8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "float64",
    "string",
    "bytes",
    "records",
    "uuid",
  ]);
  if (type.startsWith("[]")) {
    const el = type.slice(2);
    return PRIMITIVES.has(el) ? { kind: "array", primitive: el } : { kind: "array", structName: el };
  }
  return PRIMITIVES.has(type) ? { kind: "primitive", primitive: type } : { kind: "struct", structName: type };
}

/**
 * Merges field lists of several releases. `owner(v)` names the release describing version v;
 * each field's version sets are computed from its owner's description only.
 */
function mergeFields(
  lists: { label: string; fields: SpecField[] }[],
  versions: number[],
  owner: (v: number) => string,
  path: string,
): Field[] {
  // Order: the newest release's order, with fields only older releases have inserted after
  // their predecessor there. Common fields must keep one relative order, checked below.
  const order: string[] = [];
  for (let i = lists.length - 1; i >= 0; i--) {
    let prevIndex = -1;
    for (const f of lists[i].fields) {
      const at = order.indexOf(f.name);
      if (at >= 0) {
        if (at < prevIndex) throw new Error(`${path}.${f.name}: fields in a different order across releases`);
        prevIndex = at;
      } else {
        order.splice(prevIndex + 1, 0, f.name);
        prevIndex = prevIndex + 1;
      }
    }
  }
  const out: Field[] = [];
  for (const name of order) {
    const defs = new Map<string, SpecField>();
    for (const l of lists) {
      const f = l.fields.find((x) => x.name === name);
      if (f !== undefined) defs.set(l.label, f);
    }
    const newest = [...defs.values()].at(-1)!;
    const shape = typeShape(newest.type);
    for (const d of defs.values()) {
      const s = typeShape(d.type);
      if (s.kind !== shape.kind || s.primitive !== shape.primitive) {
        throw new Error(`${path}.${name}: type ${d.type} vs ${newest.type} across releases`);
      }
    }
    const field: Field = {
      name,
      ...shape,
      present: new Set(),
      nullable: new Set(),
      tagged: new Set(),
      neverFlexible: newest.flexibleVersions === "none",
      ignorable: newest.ignorable === true,
      mapKey: newest.mapKey === true,
      about: newest.about ?? "",
    };
    if (newest.tag !== undefined) field.tag = newest.tag;
    if (newest.default !== undefined) field.default = newest.default;
    if (newest.entityType !== undefined) field.entityType = newest.entityType;
    for (const v of versions) {
      const d = defs.get(owner(v));
      if (d === undefined || !inRange(parseRange(d.versions), v)) continue;
      field.present.add(v);
      if (inRange(parseRange(d.nullableVersions), v)) field.nullable.add(v);
      if (inRange(parseRange(d.taggedVersions), v)) {
        field.tagged.add(v);
        if (d.tag !== newest.tag) throw new Error(`${path}.${name}: tag changed across releases`);
      }
    }
    const nested = [...defs.entries()].filter(([, d]) => d.fields !== undefined);
    if (nested.length > 0) {
      field.fields = mergeFields(
        nested.map(([label, d]) => ({ label, fields: d.fields! })),
        versions,
        owner,
        `${path}.${name}`,
      );
    }
    if (field.present.size > 0) out.push(field);
  }
  return out;
}

/** Merges the same message from several releases, oldest first. */
export function mergeMessage(entries: { label: string; msg: SpecMessage }[]): Message {
  // A release may keep a file for a removed API with validVersions "none"; it describes nothing.
  const described = entries.filter(({ msg }) => parseRange(msg.validVersions) !== null);
  const sources: Source[] = described.map(({ label, msg }) => {
    const r = parseRange(msg.validVersions);
    if (r === null || !Number.isFinite(r[1])) throw new Error(`${msg.name}: bad validVersions ${msg.validVersions}`);
    return { label, msg, range: r };
  });
  const newest = sources.at(-1)!;
  const minVersion = Math.min(...sources.map((s) => s.range[0]));
  const maxVersion = Math.max(...sources.map((s) => s.range[1]));
  const versions: number[] = [];
  for (let v = minVersion; v <= maxVersion; v++) versions.push(v);
  const ownerOf = (v: number): Source => {
    for (let i = sources.length - 1; i >= 0; i--) if (inRange(sources[i].range, v)) return sources[i];
    throw new Error(`${newest.msg.name}: no release describes version ${v}`);
  };
  const owner = (v: number) => ownerOf(v).label;

  let flexibleMin: number | null = null;
  for (const v of versions) {
    const flexible = inRange(parseRange(ownerOf(v).msg.flexibleVersions), v);
    if (flexible && flexibleMin === null) flexibleMin = v;
    if (!flexible && flexibleMin !== null) throw new Error(`${newest.msg.name}: flexible versions are not "N+"`);
  }
  const deprecatedVersions = versions.filter((v) => inRange(parseRange(ownerOf(v).msg.deprecatedVersions), v));

  const fields = mergeFields(
    sources.map((s) => ({ label: s.label, fields: s.msg.fields })),
    versions,
    owner,
    newest.msg.name,
  );
  const structNames = new Set<string>();
  for (const s of sources) for (const c of s.msg.commonStructs ?? []) structNames.add(c.name);
  const commonStructs: Struct[] = [...structNames].map((name) => ({
    name,
    fields: mergeFields(
      sources.flatMap((s) => {
        const c = s.msg.commonStructs?.find((x) => x.name === name);
        return c === undefined ? [] : [{ label: s.label, fields: c.fields }];
      }),
      versions,
      owner,
      `${newest.msg.name}.${name}`,
    ),
  }));

  const message: Message = {
    name: newest.msg.name,
    type: newest.msg.type,
    minVersion,
    maxVersion,
    flexibleMin,
    deprecatedVersions,
    latestVersionUnstable: newest.msg.latestVersionUnstable === true,
    fields,
    commonStructs,
    sources: sources.map((s) => `${s.label}: versions ${s.range[0]}-${s.range[1]}`),
  };
  if (newest.msg.apiKey !== undefined) message.apiKey = newest.msg.apiKey;
  return message;
}

/** Loads every release directory under `root` (e.g. 3.9.1, 4.1.1) and merges each message across them. */
export function loadMergedSpecs(root: string, releases: string[]): Message[] {
  // An API is identified by its key, not its name: Kafka 4 renamed key 74
  // (ListClientMetricsResources -> ListConfigResources); headers and data schemas go by name.
  const identity = (m: SpecMessage) =>
    m.apiKey !== undefined && (m.type === "request" || m.type === "response") ? `${m.type}:${m.apiKey}` : m.name;
  const groups = new Map<string, { label: string; msg: SpecMessage }[]>();
  for (const label of releases) {
    for (const msg of loadSpecDir(join(root, label)).values()) {
      const id = identity(msg);
      const list = groups.get(id) ?? [];
      list.push({ label, msg });
      groups.set(id, list);
    }
  }
  const merged = [...groups.values()].map((entries) => mergeMessage(entries));
  return merged.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
