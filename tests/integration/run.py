#!/usr/bin/python3
"""Run the ragws integration tests.

    /usr/bin/python3 tests/integration/run.py [--bin PATH] [-k SUBSTRING] [--timeout S]

Discovers tests/integration/test_*.py, runs every `async def test_*(ctx)`
one after the other (each in a fresh event loop, with a timeout: 30 s unless
the test sets its own with @harness.timeout(S)), prints `ok - module.test` or
`not ok - module.test` with the traceback indented, and ends with exactly
one line `N passed, N failed`. Exit status 1 if any test failed.
"""

import argparse
import asyncio
import importlib
import inspect
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_TIMEOUT = 30.0


def discover(pattern):
    tests = []
    for path in sorted(HERE.glob("test_*.py")):
        mod = importlib.import_module(path.stem)
        for name, fn in inspect.getmembers(mod, inspect.iscoroutinefunction):
            if not name.startswith("test_") or fn.__module__ != mod.__name__:
                continue
            full = f"{path.stem}.{name}"
            if pattern and pattern not in full:
                continue
            tests.append((full, fn, fn.__code__.co_firstlineno))
    # file order, then definition order inside the file
    tests.sort(key=lambda t: (t[0].split(".")[0], t[2]))
    return [(full, fn) for full, fn, _ in tests]


def indent(text):
    return "\n".join("    " + line for line in text.rstrip().splitlines())


async def run_one(harness, full, fn, default_timeout):
    """Returns None on success, else the failure text."""
    ctx = harness.TestContext(full)
    limit = getattr(fn, "timeout", default_timeout)
    failure = None
    try:
        await asyncio.wait_for(fn(ctx), limit)
    except asyncio.TimeoutError:
        failure = f"test timed out after {limit}s\n" + traceback.format_exc()
    except Exception:  # noqa: BLE001
        failure = traceback.format_exc()
    try:
        errors = await asyncio.wait_for(ctx.cleanup(), 60)
    except Exception:  # noqa: BLE001
        errors = ["cleanup failed:\n" + traceback.format_exc()]
    if errors:
        failure = (failure or "") + "\n".join(errors)
    if failure:
        for s in ctx.servers:
            failure += f"\n-- {s.name} log ({s.log_path}), last lines:\n{s.log_tail(25)}"
    else:
        import shutil
        if not os.environ.get("RAGWS_KEEP_TMP"):
            shutil.rmtree(ctx.tmp, ignore_errors=True)
    return failure


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/asan/ragws", help="server binary (repo relative)")
    ap.add_argument("-k", dest="pattern", default="", help="run tests whose name contains this")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="default per-test timeout")
    ap.add_argument("--no-postgres", action="store_true",
                    help="do not start a private PostgreSQL (servers run without a database)")
    args = ap.parse_args()

    os.chdir(REPO)
    # SIGTERM/SIGHUP (a CI timeout, a closed terminal) unwind like Ctrl-C, so
    # servers are stopped and the private PostgreSQL cluster is removed.
    import signal

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    os.environ["RAGWS_BIN"] = args.bin
    sys.path.insert(0, str(HERE))
    import harness  # noqa: E402  (after RAGWS_BIN is set)

    harness.BIN = args.bin
    if not Path(harness.bin_path()).is_file():
        print(f"not ok - setup: binary {harness.bin_path()} not found (make {args.bin})")
        print("0 passed, 1 failed")
        return 1

    tests = discover(args.pattern)
    pg_dir = None
    if not args.no_postgres and not os.environ.get("RAGWS_TEST_CONNINFO") and tests:
        pg_dir, conninfo, why = start_postgres()
        if conninfo:
            harness.CONNINFO = conninfo
            print(f"# private PostgreSQL: {conninfo}", flush=True)
            rc, out, err = asyncio.run(harness.run_cli(
                ["migrate", "-c", "ragws.conf", "-o", f"postgres.conninfo={conninfo}"], timeout=120))
            if rc != 0:
                print(f"# ragws migrate failed (exit {rc}): {(err or out).strip()[-300:]}", flush=True)
        else:
            print(f"# no private PostgreSQL ({why}); servers run without a database", flush=True)
    try:
        return run_tests(harness, tests, args)
    finally:
        if pg_dir:
            stop_postgres(pg_dir)


PG_PREFIX = "ragws-it-pg-"
PG_OWNER = "ragws-test-runner.pid"


def reap_stale_clusters():
    """Stop and remove clusters left behind by runs of this script that were
    killed before they could clean up (their runner pid is gone)."""
    import glob
    import tempfile
    for d in glob.glob(os.path.join(tempfile.gettempdir(), PG_PREFIX + "*")):
        try:
            pid = int(Path(d, PG_OWNER).read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            continue  # that run is still going
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        print(f"# removing the PostgreSQL cluster of a dead test run: {d}", flush=True)
        stop_postgres(d)


def start_postgres():
    """scripts/pg-local.sh start in a temporary directory. Returns (dir,
    conninfo or None, reason)."""
    import subprocess
    import tempfile
    reap_stale_clusters()
    d = tempfile.mkdtemp(prefix=PG_PREFIX)
    Path(d, PG_OWNER).write_text(f"{os.getpid()}\n")
    try:
        p = subprocess.run(["scripts/pg-local.sh", "start", d], capture_output=True, text=True,
                           timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return d, None, str(e)
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        return d, None, (p.stderr.strip().splitlines() or ["pg-local.sh failed"])[-1]
    return d, lines[-1], ""


def stop_postgres(d):
    import shutil
    import subprocess
    try:
        subprocess.run(["scripts/pg-local.sh", "stop", d], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        pass
    shutil.rmtree(d, ignore_errors=True)


def run_tests(harness, tests, args):
    passed = failed = 0
    durations = []
    t0 = time.monotonic()
    for full, fn in tests:
        t = time.monotonic()
        failure = asyncio.run(run_one(harness, full, fn, args.timeout))
        durations.append((time.monotonic() - t, full))
        if failure is None:
            passed += 1
            print(f"ok - {full}", flush=True)
        else:
            failed += 1
            print(f"not ok - {full}", flush=True)
            print(indent(failure), flush=True)
    slowest = ", ".join(f"{n} {d:.1f}s" for d, n in sorted(durations, reverse=True)[:5])
    print(f"# {len(tests)} tests in {time.monotonic() - t0:.1f}s; slowest: {slowest}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
