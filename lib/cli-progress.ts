/**
 * The progress line of `forkpool-map` on a terminal's stderr: lines done, failed, rate.
 * Redrawn a few times a second, not per line, so that it costs nothing at 100k lines/s.
 */

const redrawEveryMs = 200;

export class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #started = Date.now();
  readonly #timer: NodeJS.Timeout;
  #done = 0;
  #failed = 0;
  #shown = false;

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
    // unref: the progress line never keeps the CLI alive.
    this.#timer = setInterval(() => this.#draw(), redrawEveryMs).unref();
  }

  /** Counts lines written: `failed` of them were errors. */
  add(done: number, failed: number): void {
    this.#done += done;
    this.#failed += failed;
  }

  /** Erases the line, so that a message can be written to stderr in its place. */
  clear(): void {
    if (this.#shown) {
      this.#stream.write('\r\x1b[K');
      this.#shown = false;
    }
  }

  /** Draws the final count and leaves it on its own line. */
  finish(): void {
    clearInterval(this.#timer);
    this.#draw();
    this.#stream.write('\n');
    this.#shown = false;
  }

  /** Stops drawing and erases the line (the run was cut short). */
  stop(): void {
    clearInterval(this.#timer);
    this.clear();
  }

  #draw(): void {
    const seconds = Math.max((Date.now() - this.#started) / 1000, 0.001);
    const rate = this.#done / seconds;
    this.#stream.write(
      `\r\x1b[K${this.#done} done, ${this.#failed} failed, ${rate >= 100 ? Math.round(rate) : rate.toFixed(1)} lines/s, ${seconds.toFixed(1)} s`,
    );
    this.#shown = true;
  }
}
