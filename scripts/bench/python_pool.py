"""CPython's multiprocessing.Pool(2) on the forkpool benchmark's workloads, one per process.

    python3 scripts/bench/python_pool.py <workload> [--n N]

Prints one JSON line shaped like scripts/bench/case.js's. Workloads: tiny-apply-async,
tiny-map, tiny-imap, tiny-apply, startup. The workers are warmed with one task each before
the clock starts (except for startup, whose clock covers the pool's whole life).
"""

import json
import statistics
import sys
import time
from multiprocessing import Pool

PROCESSES = 2
DEFAULT_N = {"tiny-apply": 2_000, "startup": 5}
THROUGHPUT_N = 20_000
WARM_UP_CALLS = 200


def double(x):
    return x * 2


def check_doubled(values, n):
    total = sum(values)
    expected = n * (n - 1)
    in_order = len(values) == n and all(v == 2 * i for i, v in enumerate(values))
    return {"ok": in_order and total == expected, "count": len(values), "sum": total, "expectedSum": expected}


def with_pool(body):
    pool = Pool(PROCESSES)
    try:
        pool.map(double, [0, 1], chunksize=1)
        return body(pool)
    finally:
        pool.terminate()
        pool.join()


def throughput(n, run):
    start = time.perf_counter()
    values = run(n)
    seconds = time.perf_counter() - start
    return {"value": n / seconds, "unit": "tasks/s", "higherIsBetter": True, "check": check_doubled(values, n)}


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
