// Byte-level encodings of spec/PROTOCOL.md: uvarints (§1.4), length-delimited messages, and data
// frames (§6). Everything here is synchronous and allocation-light; readers are incremental, so a
// frame may arrive split over any number of chunks.

import { Code } from './codes.js';

export const FrameKind = { MESSAGE: 0x01, CREDIT: 0x02, ERROR: 0x03, END: 0x04, CLOSE: 0x05 } as const;
export const FlagReply = 0x01;
export const FlagAuth = 0x02;
export const AuthTagLen = 16;
/** Frame length allowed beyond flow.max_message_bytes: 8 header + 3 × 10 varint + 16 tag (§5.2). */
export const FrameOverhead = 54;
export const MaxReason = 1024;

export interface Frame {
  kind: number;
  flags: number;
  /** MESSAGE: its sequence number; CREDIT: consumed; ERROR: the refused message's. */
  seq: number;
  typeId: number;
  corr: number;
  credits: number;
  code: number;
  reason: string;
  tag?: Buffer;
  body?: Buffer;
}

export class WireError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

export function uvarintLen(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** putUvarint writes v (a safe integer) at off and returns the offset after it. */
export function putUvarint(buf: Buffer, off: number, v: number): number {
  while (v >= 128) {
    buf[off++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[off++] = v;
  return off;
}

export function encodeUvarint(v: number | bigint): Buffer {
  if (typeof v === 'bigint') {
    const out: number[] = [];
    while (v >= 128n) {
      out.push(Number(v & 127n) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return Buffer.from(out);
  }
  const b = Buffer.allocUnsafe(uvarintLen(v));
  putUvarint(b, 0, v);
  return b;
}

/** The result of reading a uvarint: its value and the offset after it, or -1 when truncated. */
export interface Varint {
  value: number;
  next: number;
}

const truncated: Varint = { value: 0, next: -1 };

/**
 * readUvarint reads a uvarint at off (up to end). It returns next = -1 when the bytes end inside
 * it and throws a WireError (protocol_error) when it is longer than 10 bytes or overflows 64 bits.
 * Values above 2^53 lose precision, as JavaScript numbers do.
 */
export function readUvarint(buf: Buffer, off: number, end = buf.length): Varint {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (off + i >= end) return truncated;
    const b = buf[off + i]!;
    if (i === 9 && b > 1) throw new WireError(Code.protocol_error, 'malformed frame: a varint overflows 64 bits');
    value += (b & 0x7f) * scale;
    if (b < 0x80) return { value, next: off + i + 1 };
    scale *= 128;
  }
  throw new WireError(Code.protocol_error, 'malformed frame: a varint is longer than 10 bytes');
}

/** readUvarintBig is readUvarint with an exact bigint value. */
export function readUvarintBig(buf: Buffer, off = 0): { value: bigint; next: number } {
  readUvarint(buf, off); // the same checks
  let value = 0n;
  for (let i = 0; ; i++) {
    if (off + i >= buf.length) return { value: 0n, next: -1 };
    const b = buf[off + i]!;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) return { value, next: off + i + 1 };
  }
}

/** ld returns LD(b): uvarint(len(b)) ‖ b (§1.4). */
export function ld(b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(uvarintLen(b.length) + b.length);
  const off = putUvarint(out, 0, b.length);
  out.set(b, off);
  return out;
}

function cutReason(reason: string): Buffer {
  let b = Buffer.from(reason, 'utf8');
  if (b.length > MaxReason) {
    let n = MaxReason;
    while (n > 0 && (b[n]! & 0xc0) === 0x80) n--; // at a character boundary
    b = b.subarray(0, n);
  }
  return b;
}

/** encodeFrame returns a frame's bytes (§6.1). Reasons over 1024 bytes are cut. */
export function encodeFrame(f: Partial<Frame> & { kind: number }): Buffer {
  const flags = f.kind === FrameKind.MESSAGE ? (f.flags ?? 0) : 0;
  let payload: number;
  let reason: Buffer | undefined;
  switch (f.kind) {
    case FrameKind.MESSAGE:
      payload = uvarintLen(f.seq ?? 0) + uvarintLen(f.typeId ?? 0) + uvarintLen(f.corr ?? 0) + (flags & FlagAuth ? AuthTagLen : 0) + (f.body?.length ?? 0);
      break;
    case FrameKind.CREDIT:
      payload = uvarintLen(f.credits ?? 0) + uvarintLen(f.seq ?? 0);
      break;
    case FrameKind.ERROR:
      reason = cutReason(f.reason ?? '');
      payload = uvarintLen(f.code ?? 0) + uvarintLen(f.seq ?? 0) + reason.length;
      break;
    case FrameKind.END:
      payload = uvarintLen(f.corr ?? 0);
      break;
    case FrameKind.CLOSE:
      reason = cutReason(f.reason ?? '');
      payload = uvarintLen(f.code ?? 0) + reason.length;
      break;
    default:
      throw new Error(`unknown frame kind ${f.kind}`);
  }
  const b = Buffer.allocUnsafe(8 + payload);
  b[0] = f.kind;
  b[1] = flags;
  b[2] = 0;
  b[3] = 0;
  b.writeUInt32BE(payload, 4);
  let off = 8;
  switch (f.kind) {
    case FrameKind.MESSAGE:
      off = putUvarint(b, off, f.seq ?? 0);
      off = putUvarint(b, off, f.typeId ?? 0);
      off = putUvarint(b, off, f.corr ?? 0);
      if (flags & FlagAuth) {
        if (!f.tag || f.tag.length !== AuthTagLen) throw new Error('a MESSAGE with AUTH needs a 16-byte tag');
        b.set(f.tag, off);
        off += AuthTagLen;
      }
      if (f.body) b.set(f.body, off);
      break;
    case FrameKind.CREDIT:
      off = putUvarint(b, off, f.credits ?? 0);
      putUvarint(b, off, f.seq ?? 0);
      break;
    case FrameKind.ERROR:
      off = putUvarint(b, off, f.code ?? 0);
      off = putUvarint(b, off, f.seq ?? 0);
      b.set(reason!, off);
      break;
    case FrameKind.END:
      putUvarint(b, off, f.corr ?? 0);
      break;
    case FrameKind.CLOSE:
      off = putUvarint(b, off, f.code ?? 0);
      b.set(reason!, off);
      break;
  }
  return b;
}

function field(buf: Buffer, off: number, end: number, what: string): Varint {
  const v = readUvarint(buf, off, end);
  if (v.next < 0) throw new WireError(Code.protocol_error, `malformed frame: the ${what} is cut short`);
  return v;
}

/** decodePayload decodes one frame's payload (§6.1); errors are WireErrors. */
export function decodePayload(kind: number, flags: number, p: Buffer): Frame {
  const f: Frame = { kind, flags, seq: 0, typeId: 0, corr: 0, credits: 0, code: 0, reason: '' };
  let v: Varint;
  switch (kind) {
    case FrameKind.MESSAGE: {
      v = field(p, 0, p.length, 'MESSAGE seq');
      f.seq = v.value;
      v = field(p, v.next, p.length, 'MESSAGE type_id');
      if (v.value > 2 ** 31) throw new WireError(Code.protocol_error, `malformed frame: type_id ${v.value} is above 2^31`);
      f.typeId = v.value;
      v = field(p, v.next, p.length, 'MESSAGE corr');
      f.corr = v.value;
      let off = v.next;
      if (flags & FlagAuth) {
        if (p.length - off < AuthTagLen) throw new WireError(Code.protocol_error, 'malformed frame: an AUTH MESSAGE without its 16-byte tag');
        f.tag = p.subarray(off, off + AuthTagLen);
        off += AuthTagLen;
      }
      f.body = p.subarray(off);
      return f;
    }
    case FrameKind.CREDIT:
      v = field(p, 0, p.length, 'CREDIT credits');
      f.credits = v.value;
      f.seq = field(p, v.next, p.length, 'CREDIT consumed').value;
      return f;
    case FrameKind.ERROR:
      v = field(p, 0, p.length, 'ERROR code');
      f.code = v.value;
      v = field(p, v.next, p.length, 'ERROR seq');
      f.seq = v.value;
      f.reason = p.subarray(v.next).toString('utf8');
      return f;
    case FrameKind.END:
      f.corr = field(p, 0, p.length, 'END corr').value;
      return f;
    case FrameKind.CLOSE:
      v = field(p, 0, p.length, 'CLOSE code');
      f.code = v.value;
      f.reason = p.subarray(v.next).toString('utf8');
      return f;
    default:
      throw new WireError(Code.protocol_error, `malformed frame: unknown frame kind ${kind}`);
  }
}

/**
 * Chunks collects bytes as they arrive and hands out whole items, copying only when an item spans
 * chunks.
 */
export class Chunks {
  private list: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.list.push(b);
    this.length += b.length;
  }

  /** peek returns the first n bytes (n ≤ length) without consuming them. */
  peek(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.list[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const all = Buffer.concat(this.list);
    this.list = [all];
    return all.subarray(0, n);
  }

  /** take consumes and returns the first n bytes (n ≤ length). */
  take(n: number): Buffer {
    const b = this.peek(n);
    this.skip(n);
    return b;
  }

  skip(n: number): void {
    this.length -= n;
    while (n > 0) {
      const first = this.list[0]!;
      if (first.length <= n) {
        n -= first.length;
        this.list.shift();
      } else {
        this.list[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}

/** FrameReader decodes data frames from a byte stream of chunks (§6.1). */
export class FrameReader {
  private chunks = new Chunks();
  constructor(private maxLen: number) {}

  push(b: Buffer): void {
    this.chunks.push(b);
  }

  /** Bytes received and not yet returned as a frame: non-zero at EOF means a frame was cut. */
  get pending(): number {
    return this.chunks.length;
  }

  /** next returns the next whole frame, or undefined until more bytes arrive; it throws a WireError. */
  next(): Frame | undefined {
    if (this.chunks.length < 8) return undefined;
    const h = this.chunks.peek(8);
    const len = h.readUInt32BE(4);
    if (len > this.maxLen) throw new WireError(Code.message_too_large, `frame too large: ${len} bytes, at most ${this.maxLen} allowed`);
    if (this.chunks.length < 8 + len) return undefined;
    const kind = h[0]!;
    const flags = h[1]!;
    this.chunks.skip(8);
    // Copy the payload: chunks are subarrays of the transport's buffers.
    const p = Buffer.from(this.chunks.take(len));
    return decodePayload(kind, flags, p);
  }
}

/** LDReader reads length-delimited messages (§1.4) of at most max bytes each. */
export class LDReader {
  private chunks = new Chunks();
  constructor(private max: number) {}

  push(b: Buffer): void {
    this.chunks.push(b);
  }

  get pending(): number {
    return this.chunks.length;
  }

  next(): Buffer | undefined {
    if (this.chunks.length === 0) return undefined;
    const head = this.chunks.peek(Math.min(10, this.chunks.length));
    const v = readUvarint(head, 0);
    if (v.next < 0) return undefined;
    if (v.value > this.max) throw new WireError(Code.limit_exceeded, `a message of ${v.value} bytes is over the limit of ${this.max}`);
    if (this.chunks.length < v.next + v.value) return undefined;
    this.chunks.skip(v.next);
    return Buffer.from(this.chunks.take(v.value));
  }

  /** drain returns every byte received and not yet returned. */
  drain(): Buffer {
    return this.chunks.length > 0 ? Buffer.from(this.chunks.take(this.chunks.length)) : Buffer.alloc(0);
  }
}
