// @ifkit/client: an ifkit client for Node.js (spec/PROTOCOL.md).

export { Client, RefusedError, preface, authMAC, sessionKey, messageKey, type DialOptions } from './client.js';
export { Connection, Message, ReplyStream, tag, type ConnectOptions, type Handler, type SendOptions, type LocalStats, type Counters } from './conn.js';
export { Control, type InterfaceInfo, type ManifestResult, type ConnStats, type Notification } from './control.js';
export { Manifest, sha256Hash, type MessageType, type Flow, type Direction, type OnExhausted } from './manifest.js';
export { codecs, CodecError, type Codec, type CodecName } from './codec.js';
export { Code, codeName, parseCode, IfkitError, CloseError, RemoteError, NoCreditError, DroppedError, NotIfkitError, type CodeName } from './codes.js';
export { parseAddr, parseAddrList, type Addr } from './addr.js';
export * as wire from './wire.js';
export { Session as YamuxSession, Stream as YamuxStream } from './yamux.js';

import { Client, type DialOptions } from './client.js';

/** dial connects to an ifkit server: `await dial('unix:///run/kv.sock')`. */
export function dial(address: string, options?: DialOptions): Promise<Client> {
  return Client.dial(address, options);
}
