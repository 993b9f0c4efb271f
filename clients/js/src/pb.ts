// The session and control messages, parsed at load from the .proto text with protobufjs.
// Field names are the .proto's (snake_case), as spec/conformance's vectors show them.

import protobuf from 'protobufjs';
import { controlProto, sessionProto } from './protos.js';

const root = new protobuf.Root();
protobuf.parse(sessionProto, root, { keepCase: true });
protobuf.parse(controlProto, root, { keepCase: true });
root.resolveAll();

export const OpenStream = root.lookupType('ifkit.session.v1.OpenStream');
export const OpenResult = root.lookupType('ifkit.session.v1.OpenResult');
export const ControlFrame = root.lookupType('ifkit.control.v1.ControlFrame');
export const StreamKind = { DATA: 1, CONTROL: 2 } as const;

/** The conversion used for every decoded protocol message: 64-bit integers as numbers. */
export const toObjectOptions: protobuf.IConversionOptions = { longs: Number, enums: Number, bytes: Buffer as unknown as typeof String, defaults: false, oneofs: true };

export function encode(t: protobuf.Type, v: Record<string, unknown>): Buffer {
  const err = t.verify(v);
  if (err) throw new Error(`${t.name}: ${err}`);
  return Buffer.from(t.encode(t.fromObject(v)).finish());
}

export function decode<T = Record<string, any>>(t: protobuf.Type, b: Uint8Array): T {
  return t.toObject(t.decode(b), toObjectOptions) as T;
}

export interface OpenResultMsg {
  code?: number;
  reason?: string;
  connection_id?: number;
  codec?: string;
  manifest_hash?: string;
  manifest?: Buffer;
  credits?: number;
}
