/** AsyncResult: get/wait with timeouts, ready/successful, callbacks before settle. */
import { describe, expect, jest, test } from '@jest/globals';
import { AsyncResult, settleAsyncResult } from '../../lib/async-result.js';
import { TimeoutError } from '../../lib/index.js';

describe('AsyncResult', () => {
  test('get(timeoutMs) rejects with TimeoutError while unsettled, and resolves once settled', async () => {
    const result = new AsyncResult<number>();
    const error = await result.get(0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT', name: 'TimeoutError' });
    settleAsyncResult(result, { ok: true, value: 5 });
    await expect(result.get(0)).resolves.toBe(5);
    await expect(result.get()).resolves.toBe(5);
  });

  test('wait(timeoutMs) resolves, never rejects, ready or not', async () => {
    const result = new AsyncResult<number>();
    await expect(result.wait(0)).resolves.toBeUndefined();
    expect(result.ready()).toBe(false);
    settleAsyncResult(result, { ok: false, error: new Error('x') });
    await expect(result.wait()).resolves.toBeUndefined();
    expect(result.ready()).toBe(true);
  });

  test('successful() throws before ready, then tells the outcome', () => {
    const ok = new AsyncResult<number>();
    expect(() => ok.successful()).toThrow('not ready');
    settleAsyncResult(ok, { ok: true, value: 1 });
    expect(ok.successful()).toBe(true);
    const failed = new AsyncResult<number>();
    settleAsyncResult(failed, { ok: false, error: new Error('x') });
    expect(failed.successful()).toBe(false);
  });

  test('callback runs once, before get() resolves; errorCallback before it rejects', async () => {
    const events: string[] = [];
    const result = new AsyncResult<number>({ callback: (value) => events.push(`callback ${value}`) });
    const got = result.get().then((value) => events.push(`get ${value}`));
    settleAsyncResult(result, { ok: true, value: 3 });
    settleAsyncResult(result, { ok: true, value: 4 }); // ignored: settled once
    await got;
    expect(events).toEqual(['callback 3', 'get 3']);

    const errorCallback = jest.fn();
    const failed = new AsyncResult<number>({ errorCallback });
    const error = new Error('task failed');
    settleAsyncResult(failed, { ok: false, error });
    expect(errorCallback).toHaveBeenCalledTimes(1);
    expect(errorCallback).toHaveBeenCalledWith(error);
    await expect(failed.get()).rejects.toBe(error);
  });

  test('bad timeouts are refused with a rejection', async () => {
    const result = new AsyncResult<number>();
    await expect(result.get(-1)).rejects.toThrow(RangeError);
    await expect(result.get('1' as never)).rejects.toThrow(TypeError);
    await expect(result.wait(Number.NaN)).rejects.toThrow(TypeError);
  });

  test('an unobserved failure is not an unhandled rejection', async () => {
    const onUnhandled = jest.fn();
    process.on('unhandledRejection', onUnhandled);
    settleAsyncResult(new AsyncResult<number>(), { ok: false, error: new Error('nobody asks') });
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', onUnhandled);
    expect(onUnhandled).not.toHaveBeenCalled();
  });
});
