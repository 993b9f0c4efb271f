// protobuf's JSON mapping (protojson) over protobufjs's reflection, for the proto codec: a value
// written the way a manifest's examples and the json codec write it (lowerCamelCase names,
// int64 as strings, bytes as base64, Timestamp as RFC 3339, Duration as "1.5s", Struct as any
// JSON object) becomes a protobufjs message, and back.

import protobuf from 'protobufjs';

export function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A repeated field of a map-entry message: a map whose descriptor protobufjs kept as entries. */
function isMapEntries(f: protobuf.Field): boolean {
  return f.repeated && f.resolvedType instanceof protobuf.Type && !!f.resolvedType.options?.['map_entry'];
}

function fieldByName(t: protobuf.Type, key: string): protobuf.Field | undefined {
  return t.fields[key] ?? t.fieldsArray.find((f) => jsonName(f.name) === key);
}

const wellKnown = new Set(['google.protobuf.Timestamp', 'google.protobuf.Duration', 'google.protobuf.Struct', 'google.protobuf.Value', 'google.protobuf.ListValue']);

function fullName(t: protobuf.Type): string {
  return t.fullName.replace(/^\./, '');
}

function timestampFrom(v: unknown): object {
  if (typeof v !== 'string') throw new Error('a Timestamp is an RFC 3339 string');
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i.exec(v);
  if (!m) throw new Error(`${JSON.stringify(v)} is not an RFC 3339 timestamp`);
  const ms = Date.parse(m[1]! + (m[3]!.toUpperCase() === 'Z' ? 'Z' : m[3]));
  if (Number.isNaN(ms)) throw new Error(`${JSON.stringify(v)} is not an RFC 3339 timestamp`);
  const nanos = m[2] ? Number((m[2].slice(1) + '000000000').slice(0, 9)) : 0;
  return { seconds: Math.floor(ms / 1000), nanos };
}

function timestampTo(o: any): string {
  const seconds = Number(o.seconds ?? 0);
  const nanos = Number(o.nanos ?? 0);
  const base = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  if (nanos === 0) return base + 'Z';
  let frac = String(nanos).padStart(9, '0');
  frac = frac.endsWith('000000') ? frac.slice(0, 3) : frac.endsWith('000') ? frac.slice(0, 6) : frac;
  return `${base}.${frac}Z`;
}

function durationFrom(v: unknown): object {
  if (typeof v !== 'string') throw new Error('a Duration is a string such as "1.5s"');
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(v);
  if (!m) throw new Error(`${JSON.stringify(v)} is not a Duration ("1.5s")`);
  const sign = m[1] ? -1 : 1;
  return { seconds: sign * Number(m[2]), nanos: sign * Number(((m[3] ?? '') + '000000000').slice(0, 9)) };
}

function durationTo(o: any): string {
  const s = Number(o.seconds ?? 0);
  const n = Number(o.nanos ?? 0);
  if (n === 0) return `${s}s`;
  const neg = s < 0 || n < 0;
  let frac = String(Math.abs(n)).padStart(9, '0');
  frac = frac.endsWith('000000') ? frac.slice(0, 3) : frac.endsWith('000') ? frac.slice(0, 6) : frac;
  return `${neg ? '-' : ''}${Math.abs(s)}.${frac}s`;
}

function valueFrom(v: unknown): object {
  if (v === null) return { null_value: 0 };
  switch (typeof v) {
    case 'number':
      return { number_value: v };
    case 'string':
      return { string_value: v };
    case 'boolean':
      return { bool_value: v };
    case 'object':
      if (Array.isArray(v)) return { list_value: { values: v.map(valueFrom) } };
      return { struct_value: structFrom(v) };
  }
  throw new Error(`${typeof v} is not a JSON value`);
}

// Struct.fields is map<string, Value>; from a descriptor set protobufjs keeps it as entries.
function structFrom(v: unknown): object {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('a Struct is a JSON object');
  return { fields: Object.entries(v).map(([key, x]) => ({ key, value: valueFrom(x) })) };
}

function valueTo(o: any): unknown {
  if (o.struct_value !== undefined) return structTo(o.struct_value);
  if (o.list_value !== undefined) return (o.list_value.values ?? []).map(valueTo);
  if (o.number_value !== undefined) return o.number_value;
  if (o.string_value !== undefined) return o.string_value;
  if (o.bool_value !== undefined) return o.bool_value;
  return null;
}

function structTo(o: any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = o.fields ?? [];
  if (Array.isArray(fields)) for (const e of fields) out[e.key] = valueTo(e.value ?? {});
  else for (const [k, x] of Object.entries(fields)) out[k] = valueTo(x);
  return out;
}

function wkFrom(name: string, v: unknown): object {
  switch (name) {
    case 'google.protobuf.Timestamp':
      return timestampFrom(v);
    case 'google.protobuf.Duration':
      return durationFrom(v);
    case 'google.protobuf.Struct':
      return structFrom(v);
    case 'google.protobuf.ListValue':
      if (!Array.isArray(v)) throw new Error('a ListValue is a JSON array');
      return { values: v.map(valueFrom) };
    default:
      return valueFrom(v);
  }
}

function wkTo(name: string, o: any): unknown {
  switch (name) {
    case 'google.protobuf.Timestamp':
      return timestampTo(o);
    case 'google.protobuf.Duration':
      return durationTo(o);
    case 'google.protobuf.Struct':
      return structTo(o);
    case 'google.protobuf.ListValue':
      return (o.values ?? []).map(valueTo);
    default:
      return valueTo(o);
  }
}

/** fromJSON turns a protojson-shaped value into the plain object protobufjs's fromObject takes. */
export function fromJSON(t: protobuf.Type, v: unknown, path = ''): Record<string, unknown> {
  const name = fullName(t);
  if (wellKnown.has(name)) return wkFrom(name, v) as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${path || t.name}: a ${t.name} is a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const f = fieldByName(t, k);
    if (!f) throw new Error(`${path}${k}: ${t.name} has no field ${JSON.stringify(k)}`);
    if (x === null) continue;
    f.resolve();
    const conv = (y: unknown, p: string): unknown => (f.resolvedType instanceof protobuf.Type ? fromJSON(f.resolvedType, y, p + '.') : y);
    if (f.map) {
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(x as object)) m[mk] = conv(mv, `${path}${k}.${mk}`);
      out[f.name] = m;
    } else if (isMapEntries(f)) {
      if (typeof x !== 'object' || Array.isArray(x)) throw new Error(`${path}${k}: a map is a JSON object`);
      const entry = f.resolvedType as protobuf.Type;
      const vf = entry.fields['value']!;
      vf.resolve();
      out[f.name] = Object.entries(x as object).map(([mk, mv]) => ({ key: mk, value: vf.resolvedType instanceof protobuf.Type ? fromJSON(vf.resolvedType, mv, `${path}${k}.${mk}.`) : mv }));
    } else if (f.repeated) {
      if (!Array.isArray(x)) throw new Error(`${path}${k}: a repeated field is a JSON array`);
      out[f.name] = x.map((y, i) => conv(y, `${path}${k}[${i}]`));
    } else {
      out[f.name] = conv(x, `${path}${k}`);
    }
  }
  return out;
}

/** toJSON turns a decoded protobufjs message into its protojson value (zero values left out). */
export function toJSON(t: protobuf.Type, msg: protobuf.Message | Record<string, unknown>): unknown {
  const o = msg instanceof protobuf.Message ? t.toObject(msg, { longs: String, enums: String, bytes: String }) : msg;
  return convertOut(t, o);
}

function convertOut(t: protobuf.Type, o: any): unknown {
  const name = fullName(t);
  if (wellKnown.has(name)) return wkTo(name, o);
  const out: Record<string, unknown> = {};
  for (const f of t.fieldsArray) {
    const x = o[f.name];
    if (x === undefined || x === null) continue;
    f.resolve();
    const conv = (y: unknown): unknown => (f.resolvedType instanceof protobuf.Type ? convertOut(f.resolvedType, y) : y);
    if (f.map) {
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(x)) m[mk] = conv(mv);
      out[jsonName(f.name)] = m;
    } else if (isMapEntries(f)) {
      const entry = f.resolvedType as protobuf.Type;
      const vf = entry.fields['value']!;
      vf.resolve();
      const m: Record<string, unknown> = {};
      for (const e of x as { key: string; value: unknown }[]) m[e.key] = vf.resolvedType instanceof protobuf.Type ? convertOut(vf.resolvedType, e.value ?? {}) : e.value;
      out[jsonName(f.name)] = m;
    } else if (f.repeated) {
      out[jsonName(f.name)] = (x as unknown[]).map(conv);
    } else {
      out[jsonName(f.name)] = conv(x);
    }
  }
  return out;
}
