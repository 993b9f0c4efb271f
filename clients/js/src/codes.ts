// The closed set of wire codes (spec/PROTOCOL.md §9) and the errors that carry them.

export const Code = {
  ok: 0,
  normal_close: 1,
  protocol_error: 2,
  credit_violation: 3,
  invalid_message: 4,
  message_too_large: 5,
  wrong_direction: 6,
  unknown_interface: 7,
  unknown_type: 8,
  unsupported_codec: 9,
  unsupported_version: 10,
  manifest_mismatch: 11,
  not_found: 12,
  auth_failed: 13,
  keepalive_timeout: 14,
  transport_error: 15,
  draining: 16,
  limit_exceeded: 17,
  unimplemented: 18,
  canceled: 19,
  internal: 20,
  invalid_filter: 21,
  slow_subscriber: 22,
} as const;

export type CodeName = keyof typeof Code;

const names: string[] = [];
for (const [name, n] of Object.entries(Code)) names[n] = name;

/** codeName returns a code's name, or `code(N)` for a number this client does not know (§9). */
export function codeName(code: number): string {
  return names[code] ?? `code(${code})`;
}

/** parseCode returns the number of a code's name. */
export function parseCode(name: string): number {
  const n = (Code as Record<string, number>)[name];
  if (n === undefined) throw new Error(`unknown ifkit code ${JSON.stringify(name)}`);
  return n;
}

/** IfkitError is every error of this package that carries a wire code. */
export class IfkitError extends Error {
  readonly code: number;
  constructor(code: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'IfkitError';
  }
  get codeName(): string {
    return codeName(this.code);
  }
}

/**
 * CloseError says why a connection (or a session) ended: its code, the reason text, and whether
 * the peer decided it (remote) or this side did (§11.3).
 */
export class CloseError extends IfkitError {
  readonly reason: string;
  readonly remote: boolean;
  constructor(code: number, reason: string, remote: boolean, options?: { cause?: unknown }) {
    super(code, `${remote ? 'closed by the peer' : 'closed'}: ${codeName(code)}${reason ? `: ${reason}` : ''}`, options);
    this.reason = reason;
    this.remote = remote;
    this.name = 'CloseError';
  }
}

/**
 * RemoteError is the peer's refusal of one message, call or control request, or of a stream
 * (an OpenResult with a non-zero code): nothing else ended.
 */
export class RemoteError extends IfkitError {
  readonly reason: string;
  /** The refused message's sequence number, for an ERROR frame. */
  readonly seq?: number;
  constructor(code: number, reason: string, seq?: number) {
    super(code, `${codeName(code)}${reason ? `: ${reason}` : ''}`);
    this.reason = reason;
    this.seq = seq;
    this.name = 'RemoteError';
  }
}

/** Local errors of the flow policies (§7.5): nothing crossed the wire. */
export class NoCreditError extends Error {
  constructor() {
    super('ifkit: no credit: the receiver has not granted room for another message (flow policy: error)');
    this.name = 'NoCreditError';
  }
}
export class DroppedError extends Error {
  constructor() {
    super('ifkit: message dropped: no credit (flow policy: drop_newest)');
    this.name = 'DroppedError';
  }
}

/** The peer is not an ifkit peer (§3.4): do not retry other addresses. */
export class NotIfkitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotIfkitError';
  }
}
