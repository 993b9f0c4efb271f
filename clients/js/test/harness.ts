// The conformance suite's server (cmd/ifkit-conformance, built from this commit by `npm run
// build:server`), started once per test file: its listeners' addresses, and the verdicts its
// scripted scenarios report.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const jsRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const repoRoot = path.resolve(jsRoot, '../..');
export const transports = ['unix', 'tcp'] as const;
export type Transport = (typeof transports)[number];

export interface Verdict {
  scenario: string;
  transport: string;
  pass: boolean;
  detail?: string;
}

export class Suite {
  secret = '';
  caFile = '';
  listeners: Record<string, Record<string, string>> = {};
  private queues = new Map<string, Verdict[]>();
  private waiters = new Map<string, (v: Verdict) => void>();

  private constructor(private proc: ChildProcess) {}

  static start(): Promise<Suite> {
    const bin = process.env.IFKIT_CONFORMANCE_BIN ?? path.join(jsRoot, '.bin', 'ifkit-conformance');
    const proc = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    const s = new Suite(proc);
    return new Promise((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code) => reject(new Error(`${bin} exited with ${code} before it was ready`)));
      const lines = createInterface({ input: proc.stdout! });
      let first = true;
      lines.on('line', (line) => {
        const v = JSON.parse(line);
        if (first) {
          first = false;
          s.secret = v.secret;
          s.caFile = v.ca_file;
          s.listeners = v.listeners;
          resolve(s);
          return;
        }
        s.push(v as Verdict);
      });
    });
  }

  addr(transport: Transport, listener: string): string {
    const a = this.listeners[transport]?.[listener];
    if (!a) throw new Error(`the suite has no listener ${listener} on ${transport}`);
    return a;
  }

  private push(v: Verdict): void {
    const k = `${v.transport} ${v.scenario}`;
    const w = this.waiters.get(k);
    if (w) {
      this.waiters.delete(k);
      w(v);
      return;
    }
    const q = this.queues.get(k) ?? [];
    q.push(v);
    this.queues.set(k, q);
  }

  /** verdict resolves with the next verdict of a scenario on a transport. */
  verdict(scenario: string, transport: Transport, timeoutMs = 10_000): Promise<Verdict> {
    const k = `${transport} ${scenario}`;
    const q = this.queues.get(k);
    if (q && q.length > 0) return Promise.resolve(q.shift()!);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(k);
        reject(new Error(`no verdict for ${k} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(k, (v) => {
        clearTimeout(t);
        resolve(v);
      });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    await exited;
  }
}

/** settle resolves with a promise's value or its error, so a test can assert on either. */
export async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: any }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}
