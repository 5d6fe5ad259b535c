"""CPython's multiprocessing.Pool(2) on the forkpool benchmark's workloads, one per process.

    python3 scripts/bench/python_pool.py <workload> [--n N]

Prints one JSON line shaped like scripts/bench/case.js's. Workloads: tiny-apply-async,
tiny-map, tiny-imap, tiny-apply, startup, cpu, cpu-map, payload-buffer, payload-string,
payload-objects, max-tasks-1, idle-rss, imap-1m. The workers are warmed until each has
answered a task (as measure.js's warmUp does) before the clock starts (except for startup and max-tasks-1, whose clocks cover the pool's
whole life). Each figure means what case.js's does (see scripts/bench/measure.js); the
payloads are their Python counterparts (bytes, str, a list of dicts), and `burn` does the
same xorshift32 steps as tasks.js's, fewer of them, so that a task takes about 5 ms here too.
"""

import json
import os
import resource
import statistics
import sys
import time
from multiprocessing import Pool

PROCESSES = 2
DEFAULT_N = {
    "tiny-apply": 2_000,
    "startup": 9,
    "cpu": 200,
    "cpu-map": 200,
    "payload-buffer": 50,
    "payload-string": 50,
    "payload-objects": 50,
    "max-tasks-1": 200,
    "idle-rss": 1,
    "imap-1m": 1_000_000,
}
THROUGHPUT_N = 20_000
WARM_UP_CALLS = 2000
# Rounds of PROCESSES calls after which warm_up gives up on seeing every worker.
MAX_WARM_UP_ROUNDS = 100_000
# measure.js's cpuTimedPasses.
CPU_TIMED_PASSES = 3
# measure.js's minTimedPasses and minTimedMs.
MIN_TIMED_PASSES = 5
MIN_TIMED_S = 0.25
PAYLOAD_WARM_UP = 5
# Iterations of burn that take about 5 ms of CPU in CPython 3.11 on the benchmark machine
# (tasks.js's burnIterations, 3,000,000, take about that in Node.js).
BURN_ITERATIONS = 17_000
IDLE_WARM_UP_ROUNDS = 10
IDLE_SETTLE_S = 0.25
# measure.js's imapMillionChunksize.
IMAP_MILLION_CHUNKSIZE = 100
MASK = 0xFFFFFFFF
MIB = 1 << 20


def double(x):
    return x * 2


def echo(value):
    return value


def worker_id(_):
    return os.getpid()


def burn(seed):
    """tasks.js's burn: xorshift32 steps from seed; returns the final state (unsigned)."""
    x = (seed & MASK) or 1
    for _ in range(BURN_ITERATIONS):
        x ^= (x << 13) & MASK
        x ^= x >> 17
        x ^= (x << 5) & MASK
    return x


def check_doubled(values, n):
    total = sum(values)
    expected = n * (n - 1)
    in_order = len(values) == n and all(v == 2 * i for i, v in enumerate(values))
    return {"ok": in_order and total == expected, "count": len(values), "sum": total, "expectedSum": expected}


def warm_up(pool):
    """Rounds of PROCESSES calls at once until every worker has answered one (measure.js's warmUp)."""
    seen = set()
    for _ in range(MAX_WARM_UP_ROUNDS):
        seen.update(pool.map(worker_id, range(PROCESSES), chunksize=1))
        if len(seen) >= PROCESSES:
            return
    raise RuntimeError(f"warm-up: {len(seen)} of {PROCESSES} workers answered in {MAX_WARM_UP_ROUNDS} rounds")


def with_pool(body):
    pool = Pool(PROCESSES)
    try:
        warm_up(pool)
        return body(pool)
    finally:
        pool.terminate()
        pool.join()


def throughput(n, run):
    # As measure.js's throughput(): one untimed pass, then the median of the timed passes,
    # at least MIN_TIMED_PASSES of them, adding up to MIN_TIMED_S or more.
    checks = [check_doubled(run(n), n)]
    rates = []
    timed_s = 0.0
    while len(rates) < MIN_TIMED_PASSES or timed_s < MIN_TIMED_S:
        start = time.perf_counter()
        values = run(n)
        took = time.perf_counter() - start
        timed_s += took
        rates.append(n / took)
        checks.append(check_doubled(values, n))
    check = {**checks[-1], "ok": all(c["ok"] for c in checks), "passes": len(checks)}
    return {"value": statistics.median(rates), "unit": "tasks/s", "higherIsBetter": True, "check": check}


def round_trip(n, call):
    for i in range(WARM_UP_CALLS):
        call(i)
    start = time.perf_counter()
    values = [call(i) for i in range(n)]
    micros = (time.perf_counter() - start) * 1e6 / n
    return {"value": micros, "unit": "µs/call", "higherIsBetter": False, "check": check_doubled(values, n)}


def lifetime():
    pool = Pool(PROCESSES)
    try:
        return pool.apply(double, (21,))
    finally:
        pool.terminate()
        pool.join()


def startup(n):
    times, values = [], []
    for _ in range(n):
        start = time.perf_counter()
        values.append(lifetime())
        times.append((time.perf_counter() - start) * 1000)
    ok = all(v == 42 for v in values)
    return {"value": statistics.median(times), "unit": "ms", "higherIsBetter": False, "check": {"ok": ok, "count": len(values)}}


def cpu(n, chunksize=None):
    """measure.js's cpuSpeedup: a first pass, then CPU_TIMED_PASSES more, all on one pool.

    `pool.map` with `chunksize` (`cpu`: 1), or with its default (`cpu-map`: None).
    """
    seeds = list(range(1, n + 1))

    def one_pass(pool):
        start = time.perf_counter()
        serial = [burn(seed) for seed in seeds]
        serial_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        values = pool.map(burn, seeds, chunksize=chunksize)
        parallel_ms = (time.perf_counter() - start) * 1000
        return {
            "speedup": serial_ms / parallel_ms,
            "ok": values == serial,
            "count": len(values),
            "serialMs": serial_ms,
            "parallelMs": parallel_ms,
        }

    def passes(pool):
        return one_pass(pool), [one_pass(pool) for _ in range(CPU_TIMED_PASSES)]

    first, timed = with_pool(passes)
    mid = sorted(timed, key=lambda p: p["speedup"])[CPU_TIMED_PASSES // 2]
    return {
        "value": mid["speedup"],
        "unit": "× serial",
        "higherIsBetter": True,
        "check": {
            "ok": first["ok"] and all(p["ok"] for p in timed),
            "count": mid["count"],
            "serialMs": mid["serialMs"],
            "parallelMs": mid["parallelMs"],
            "firstPass": first["speedup"],
        },
    }


def make_payload(kind):
    """measure.js's makePayload: 1 MiB of bytes, a 1 MiB str, a list of 10,000 small dicts."""
    if kind == "buffer":
        return bytes((i * 31) & 0xFF for i in range(MIB))
    if kind == "string":
        return ("forkpool " * (MIB // 9 + 1))[:MIB]
    return [{"id": i, "name": f"item {i}", "tags": ["a", "b"], "ok": i % 2 == 0} for i in range(10_000)]


def payload_round_trips(kind, n):
    payload = make_payload(kind)

    def body(pool):
        for _ in range(PAYLOAD_WARM_UP):
            pool.apply(echo, (payload,))
        last = None
        start = time.perf_counter()
        for _ in range(n):
            last = pool.apply(echo, (payload,))
        ms = (time.perf_counter() - start) * 1000 / n
        intact = type(last) is type(payload) and last == payload
        return {
            "value": ms,
            "unit": "ms/round trip",
            "higherIsBetter": False,
            "check": {"ok": intact, "intact": intact, "count": n},
        }

    return with_pool(body)


def max_tasks_1(n):
    """maxtasksperchild=1: the clock covers the pool's whole life up to the last result."""
    start = time.perf_counter()
    pool = Pool(PROCESSES, maxtasksperchild=1)
    try:
        values = pool.map(double, range(n), chunksize=1)
        seconds = time.perf_counter() - start
    finally:
        pool.terminate()
        pool.join()
    return {"value": n / seconds, "unit": "tasks/s", "higherIsBetter": True, "check": check_doubled(values, n)}


def rss_mib(pid="self"):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def idle_rss(_n):
    def body(pool):
        ok = True
        for r in range(IDLE_WARM_UP_ROUNDS):
            ok = ok and pool.map(double, [r, r + 1], chunksize=1) == [2 * r, 2 * r + 2]
        time.sleep(IDLE_SETTLE_S)
        rss = [rss_mib(worker.pid) for worker in pool._pool]
        ok = ok and len(rss) == PROCESSES and all(x is not None and x > 0 for x in rss)
        return {
            "value": sum(rss) / len(rss) if ok else float("nan"),
            "unit": "MiB",
            "higherIsBetter": False,
            "check": {"ok": ok, "count": len(rss), "rssMiB": rss},
        }

    return with_pool(body)


def counting(n):
    yield from range(n)


def imap_million(n):
    """Parent peak RSS growth (ru_maxrss at the end minus the RSS before the pool) over an imap of a generator."""
    before = rss_mib()
    count, total, in_order = 0, 0, True
    start = time.perf_counter()
    pool = Pool(PROCESSES)
    try:
        for value in pool.imap(double, counting(n), chunksize=IMAP_MILLION_CHUNKSIZE):
            in_order = in_order and value == 2 * count
            total += value
            count += 1
    finally:
        pool.terminate()
        pool.join()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    expected = n * (n - 1)
    return {
        "value": peak - before,
        "unit": "MiB",
        "higherIsBetter": False,
        "check": {
            "ok": in_order and count == n and total == expected,
            "count": count,
            "sum": total,
            "expectedSum": expected,
            "rssBeforeMiB": before,
            "peakRssMiB": peak,
            "tasksPerSecond": n / seconds,
        },
    }


CASES = {
    "tiny-apply-async": lambda n: with_pool(
        lambda pool: throughput(n, lambda count: [r.get() for r in [pool.apply_async(double, (i,)) for i in range(count)]])
    ),
    "tiny-map": lambda n: with_pool(lambda pool: throughput(n, lambda count: pool.map(double, range(count)))),
    "tiny-imap": lambda n: with_pool(
        lambda pool: throughput(n, lambda count: list(pool.imap(double, range(count), chunksize=1)))
    ),
    "tiny-apply": lambda n: with_pool(lambda pool: round_trip(n, lambda i: pool.apply(double, (i,)))),
    "startup": startup,
    "cpu": lambda n: cpu(n, chunksize=1),
    "cpu-map": cpu,
    "payload-buffer": lambda n: payload_round_trips("buffer", n),
    "payload-string": lambda n: payload_round_trips("string", n),
    "payload-objects": lambda n: payload_round_trips("objects", n),
    "max-tasks-1": max_tasks_1,
    "idle-rss": idle_rss,
    "imap-1m": imap_million,
}


def main(argv):
    if len(argv) < 1 or argv[0] not in CASES:
        sys.exit(f"Expected <workload> [--n N] with workload one of {', '.join(CASES)}, got {' '.join(argv)}")
    workload = argv[0]
    n = DEFAULT_N.get(workload, THROUGHPUT_N)
    if len(argv) == 3 and argv[1] == "--n":
        n = int(argv[2])
    elif len(argv) != 1:
        sys.exit(f"Expected <workload> [--n N], got {' '.join(argv)}")
    result = CASES[workload](n)
    print(json.dumps({"library": "cpython", "workload": workload, "n": n, **result}, ensure_ascii=False))
    if not result["check"]["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
