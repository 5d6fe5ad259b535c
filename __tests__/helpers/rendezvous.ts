/**
 * A Unix socket where a test meets the workers it watches. A fixture task connects and
 * sends one JSON line saying who it is (`report()` in fixtures/lifecycle-tasks.js); the
 * test awaits those reports instead of sleeping, learns that a worker process is gone
 * when its connection closes, and can tell a worker to act by writing to it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pDefer, { type DeferredPromise } from 'p-defer';

/** One worker's report. */
export interface Report {
  tag: string;
  name: string;
  pid: number;
  /** The worker's end of the connection. */
  socket: Socket;
  /** Resolves when the connection closes: the worker closed it or its process is gone. */
  closed: Promise<void>;
}

export class Rendezvous {
  readonly path: string;
  readonly #dir: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #arrived: Report[] = [];
  readonly #waiters: DeferredPromise<Report>[] = [];

  private constructor(dir: string, server: Server) {
    this.#dir = dir;
    this.path = join(dir, 'rendezvous.sock');
    this.#server = server;
    server.on('connection', (socket) => this.#accept(socket));
  }

  static async open(): Promise<Rendezvous> {
    const dir = mkdtempSync(join(tmpdir(), 'forkpool-'));
    const rendezvous = new Rendezvous(dir, createServer());
    await new Promise<void>((resolve, reject) => {
      rendezvous.#server.once('error', reject);
      rendezvous.#server.listen(rendezvous.path, resolve);
    });
    return rendezvous;
  }

  /** The next report, in arrival order. */
  next(): Promise<Report> {
    const report = this.#arrived.shift();
    if (report !== undefined) {
      return Promise.resolve(report);
    }
    const waiter = pDefer<Report>();
    this.#waiters.push(waiter);
    return waiter.promise;
  }

  /** The next `count` reports. */
  async take(count: number): Promise<Report[]> {
    const reports: Report[] = [];
    while (reports.length < count) {
      reports.push(await this.next());
    }
    return reports;
  }

  /** Reports that arrived and were not taken. */
  get unread(): readonly Report[] {
    return [...this.#arrived];
  }

  async close(): Promise<void> {
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new Error('Rendezvous closed before the report arrived'));
    }
    for (const socket of this.#sockets) {
      socket.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    const closed = pDefer<void>();
    socket.on('close', () => {
      this.#sockets.delete(socket);
      closed.resolve();
    });
    socket.on('error', () => {}); // a killed worker resets the connection; 'close' follows
    let buffered = '';
    const onData = (data: Buffer) => {
      buffered += data.toString('utf8');
      const end = buffered.indexOf('\n');
      if (end === -1) {
        return;
      }
      socket.off('data', onData);
      const { tag, name, pid } = JSON.parse(buffered.slice(0, end)) as { tag: string; name: string; pid: number };
      const report: Report = { tag, name, pid, socket, closed: closed.promise };
      const waiter = this.#waiters.shift();
      if (waiter === undefined) {
        this.#arrived.push(report);
      } else {
        waiter.resolve(report);
      }
    };
    socket.on('data', onData);
  }
}

/** `PoolWorker-N` → N. */
export function workerNumber(name: string): number {
  const match = /^PoolWorker-(\d+)$/.exec(name);
  if (match === null) {
    throw new Error(`Not a worker name: ${name}`);
  }
  return Number(match[1]);
}
