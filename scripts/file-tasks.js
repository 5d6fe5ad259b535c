/**
 * The task module of scripts/process-directory.js: every pool worker imports it, and the
 * script calls `summarizeFile` by name. Plain ESM JavaScript, so workers load it without
 * a loader.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** ASCII white space, which separates words: space, tab, newline, VT, FF, CR. */
const whitespace = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);
const newline = 0x0a;

/**
 * The SHA-256, size, lines and words of one file, read as a stream so that a large file
 * takes no more memory than a small one. Lines are counted as `wc -l` counts them: newline
 * characters (a last line without one is not counted). Words are runs of bytes other than
 * ASCII white space, as `wc -w` counts them in a UTF-8 locale.
 *
 * A file that cannot be read (gone, no permission) is reported in `error` rather than
 * thrown, so one bad file does not end the whole run.
 */
export async function summarizeFile(path) {
  const hash = createHash('sha256');
  let bytes = 0;
  let lines = 0;
  let words = 0;
  let inWord = false; // carried across chunks: a word may span two of them
  try {
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk);
      bytes += chunk.length;
      for (const byte of chunk) {
        if (byte === newline) {
          lines++;
        }
        if (whitespace.has(byte)) {
          inWord = false;
        } else if (!inWord) {
          inWord = true;
          words++;
        }
      }
    }
  } catch (error) {
    return { path, error: error.message };
  }
  return { path, sha256: hash.digest('hex'), bytes, lines, words };
}
