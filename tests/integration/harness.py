"""Integration test harness for ragws.

Starts the real binary (by default the ASan/UBSan build), talks to it over
HTTP and WebSocket, and stops every server it started by PID. Python 3 from
Debian, asyncio, the stdlib and Debian's python3-websockets (10.4) only.

Tests are `async def test_*(ctx)` functions in tests/integration/test_*.py;
tests/integration/run.py runs them. `ctx` is a TestContext: it makes servers
(`await ctx.server(...)`), WebSocket clients (`await ctx.ws(server, path)`),
a private temporary directory (`ctx.tmp`), and cleans all of them up.
"""

import asyncio
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import websockets

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = "build/asan/ragws"
BIN = os.environ.get("RAGWS_BIN", DEFAULT_BIN)  # run.py sets this from --bin

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

# Server.http without conn= takes an idle keep-alive connection of the
# server's pool (a new one when all are busy), as a browser does;
# RAGWS_TEST_KEEPALIVE=0 opens one connection per request instead.
KEEPALIVE_DEFAULT = os.environ.get("RAGWS_TEST_KEEPALIVE", "1") == "1"

# Connection string of the private PostgreSQL cluster run.py starts for the
# whole run (empty: none; servers then run without a database and readiness
# only waits for the workers).
CONNINFO = os.environ.get("RAGWS_TEST_CONNINFO", "")

DEFAULT_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1",
}


def bin_path():
    p = Path(BIN)
    return str(p if p.is_absolute() else REPO / p)


# ---------------------------------------------------------------------------
# small utilities


def timeout(seconds):
    """Decorator: per-test timeout in seconds (default 30, see run.py)."""

    def deco(fn):
        fn.timeout = seconds
        return fn

    return deco


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def eventually(pred, timeout=3.0, interval=0.05, what="condition"):
    """Poll pred() (sync or async) until it returns a truthy value; return it.
    Raises AssertionError with `what` and the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


def assert_ready(status, body, workers=2):
    """/ready says every worker is up. With the run's private PostgreSQL it
    is a 200; without a database (run.py --no-postgres or no PostgreSQL
    installed) the server rightly answers 503 "database": "down"."""
    info = json.loads(body)
    assert info.get("workers_ready") == workers, (status, info)
    assert info.get("draining") is False, (status, info)
    if CONNINFO:
        assert status == 200 and info.get("status") == "ready", (status, info)
    else:
        assert status == 200 or (status == 503 and info.get("database") == "down"), (status, info)
    return info


def compact(obj):
    """The compact JSON encoding the server (jansson JSON_COMPACT) produces."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


async def recv_json(ws, timeout=5.0):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return json.loads(raw)


async def recv_until(ws, pred, timeout=5.0, what="message"):
    """Receive JSON messages until pred(msg) holds; returns (msg, skipped)."""
    deadline = time.monotonic() + timeout
    skipped = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; got {len(skipped)} other "
                f"messages, last: {skipped[-3:]!r}")
        try:
            raw = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            continue
        msg = json.loads(raw)
        if pred(msg):
            return msg, skipped
        skipped.append(msg)


async def expect_closed(ws, timeout=5.0):
    """Wait until the server closes ws (discarding messages); return the
    close code the client saw (None when there was no close frame)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"connection still open after {timeout}s")
        try:
            await asyncio.wait_for(ws.recv(), left)
        except websockets.ConnectionClosed as e:
            code = e.rcvd.code if getattr(e, "rcvd", None) else None
            return code, (e.rcvd.reason if getattr(e, "rcvd", None) else "")
        except asyncio.TimeoutError:
            continue


# ---------------------------------------------------------------------------
# HTTP over raw asyncio streams


class Headers(dict):
    """Header map with lower-case keys (duplicates: comma joined)."""

    def get(self, k, default=None):
        return super().get(k.lower(), default)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())


def parse_head(head: bytes):
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise AssertionError(f"not an HTTP response: {lines[0]!r}")
    status = int(parts[1])
    h = Headers()
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        k = k.strip().lower()
        v = v.strip()
        if k in h:
            dict.__setitem__(h, k, h[k] + ", " + v)
        else:
            dict.__setitem__(h, k, v)
    return status, h


async def read_response(reader, timeout=5.0, head_request=False):
    """Read one HTTP response (head + Content-Length body) from a stream.
    Returns (status, headers, body bytes)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    status, h = parse_head(head[:-4])
    body = b""
    if head_request or status in (101, 204, 304) or 100 <= status < 200:
        return status, h, body
    if "content-length" in h:
        n = int(h["content-length"])
        body = await asyncio.wait_for(reader.readexactly(n), timeout) if n else b""
    else:
        body = await asyncio.wait_for(reader.read(), timeout)
    return status, h, body


def build_request(method, path, host, body=None, headers=None, close=True):
    hdrs = {"Host": host}
    if body is not None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs["Content-Length"] = str(len(body))
        hdrs["Content-Type"] = "application/json"
    if close:
        hdrs["Connection"] = "close"
    for k, v in (headers or {}).items():
        # a header given by the test replaces the default of the same name
        for d in list(hdrs):
            if d.lower() == k.lower():
                del hdrs[d]
        if v is not None:
            hdrs[k] = v
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    return req.encode("latin-1") + b"\r\n" + (body or b"")


class HTTPConn:
    """A keep-alive HTTP/1.1 client: one TCP connection that carries any
    number of requests, as browsers and http.client do. `request()` sends one
    and reads its answer; `pipeline()` writes several at once and reads the
    answers in order. The connection is opened on first use; after an answer
    with `Connection: close` (or when the server closed it), `closed` is True
    and the next request raises unless `reconnect=True` was given.
    `connections` counts the TCP connections opened (1 = all on one)."""

    def __init__(self, host, port, reconnect=False):
        self.host, self.port = host, port
        self.reconnect = reconnect
        self.reader = self.writer = None
        self.closed = False
        self.connections = 0

    async def _ensure(self, timeout):
        if self.writer is not None and not self.closed:
            return
        if self.connections and not self.reconnect:
            raise AssertionError("the server closed the keep-alive connection")
        if self.writer is not None:
            self.writer.close()  # closed by the server: release our side
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), timeout)
        self.connections += 1
        self.closed = False

    def _after(self, h):
        if (h.get("connection") or "").lower() == "close":
            self.closed = True

    async def request(self, method, path, body=None, headers=None, timeout=5.0):
        """(status, headers, body bytes) of one request on this connection."""
        await self._ensure(timeout)
        self.writer.write(build_request(method, path, f"{self.host}:{self.port}", body,
                                        headers, close=False))
        await self.writer.drain()
        try:
            status, h, data = await read_response(self.reader, timeout,
                                                  head_request=(method == "HEAD"))
        except asyncio.IncompleteReadError:
            self.closed = True
            raise
        self._after(h)
        return status, h, data

    async def pipeline(self, requests, timeout=5.0):
        """requests: [(method, path, body, headers)] written in one go; the
        answers [(status, headers, body)] in the same order."""
        await self._ensure(timeout)
        raw = b"".join(build_request(m, p, f"{self.host}:{self.port}", b, hd, close=False)
                       for m, p, b, hd in requests)
        self.writer.write(raw)
        await self.writer.drain()
        out = []
        for m, _, _, _ in requests:
            status, h, data = await read_response(self.reader, timeout,
                                                  head_request=(m == "HEAD"))
            self._after(h)
            out.append((status, h, data))
        return out

    async def eof(self, timeout=5.0):
        """True when the server closes the connection within timeout."""
        try:
            return await asyncio.wait_for(self.reader.read(), timeout) == b""
        except asyncio.TimeoutError:
            return False

    async def aclose(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 1)
            except Exception:
                pass
            self.writer = None
        self.closed = True

    def close(self):
        """For TestContext.cleanup (sync or async close)."""
        return self.aclose()


async def http_request(host, port, method, path, body=None, headers=None, timeout=5.0,
                       conn=None):
    """One request on a new connection (Connection: close), or on `conn`
    (an HTTPConn: keep-alive, the connection is reused)."""
    if conn is not None:
        return await conn.request(method, path, body, headers, timeout)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(build_request(method, path, f"{host}:{port}", body, headers))
        await writer.drain()
        return await read_response(reader, timeout, head_request=(method == "HEAD"))
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1)
        except Exception:
            pass


def parse_metrics(text):
    """Prometheus text -> {'name{labels}': float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)$", line)
        if not m:
            raise AssertionError(f"bad metrics line: {line!r}")
        out[m.group(1)] = float(m.group(2))
    return out


WORKER_LINE = re.compile(r'^ragws_worker_(connections|pid|generation)\{slot="(\d+)"\}$')


def metrics_workers(samples):
    """[{slot, pid, generation, connections}] from parsed metrics (one series
    per slot: pid and generation are values, not labels)."""
    by_slot = {}
    for k, v in samples.items():
        m = WORKER_LINE.match(k)
        if m:
            by_slot.setdefault(int(m.group(2)), {"slot": int(m.group(2))})[m.group(1)] = int(v)
    out = [w for w in by_slot.values() if {"pid", "generation", "connections"} <= w.keys()]
    return sorted(out, key=lambda w: w["slot"])


# ---------------------------------------------------------------------------
# the server under test

_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    # If the test runner dies, the master gets SIGTERM (its workers follow it).
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ServerError(AssertionError):
    pass


class Server:
    host = "127.0.0.1"

    def __init__(self, tmpdir, name="server"):
        self.tmpdir = Path(tmpdir)
        self.name = name
        self.proc = None
        self.port = None
        self.log_path = self.tmpdir / f"{name}.log"
        self.cmd = None
        self.returncode = None
        self._sanitizer_checked = False
        self._paused = set()

    # -- lifecycle

    async def start(self, overrides=None, env=None, workers=2, config="ragws.conf",
                    ready_timeout=20.0, port=None):
        self.port = port or free_port()
        cmd = [bin_path(), "-c", str(config), "-o", f"server.listen={self.host}:{self.port}"]
        if workers is not None:  # None: take server.workers from the file
            cmd += ["-o", f"server.workers={workers}"]
        cmd += ["-o", "log.level=debug"]
        if CONNINFO:
            cmd += ["-o", f"postgres.conninfo={CONNINFO}"]
        for k, v in (overrides or {}).items():
            cmd += ["-o", f"{k}={v}"]
        self.cmd = cmd
        full_env = dict(os.environ)
        for k, v in DEFAULT_ENV.items():
            full_env.setdefault(k, v)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env.update(env or {})
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=str(REPO), env=full_env, stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     preexec_fn=_child_setup)
        await self.wait_ready(ready_timeout)
        return self

    async def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.proc.returncode} before "
                                  f"it was ready\n{self.log_tail()}")
            try:
                status, _, body = await http_request(self.host, self.port, "GET", "/ready",
                                                     timeout=1.0)
                if status == 200:
                    return json.loads(body)
                last = (status, body)
                if not CONNINFO and status == 503:
                    # No database for this run: ready once the workers are.
                    info = json.loads(body)
                    if (info.get("workers_ready", 0) >= info.get("workers_expected", 1)
                            and not info.get("draining")):
                        return info
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                last = repr(e)
            if time.monotonic() >= deadline:
                raise ServerError(f"{self.name} not ready after {timeout}s (last: {last})\n"
                                  f"{self.log_tail()}")
            await asyncio.sleep(0.05)

    @property
    def master_pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if not self.running():
            raise ServerError(f"{self.name} is not running (exit {self.proc.returncode})")
        os.kill(self.proc.pid, sig)

    def pause_worker(self, pid):
        """SIGSTOP a worker; stop()/cleanup resumes it if the test did not."""
        self._paused.add(pid)
        os.kill(pid, signal.SIGSTOP)

    def resume_worker(self, pid):
        self._paused.discard(pid)
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    async def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.02)
        self.returncode = self.proc.returncode
        return self.returncode

    async def stop(self, sig=signal.SIGTERM, timeout=20.0, check=True):
        """Send sig to the master (by PID), wait for it to exit, scan the log
        for sanitizer reports. Returns the exit status (negative: signal)."""
        if self.proc is None:
            return None
        for conn in self.__dict__.pop("_idle", []):
            await conn.aclose()
        for pid in list(self._paused):
            self.resume_worker(pid)
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            rc = await self.wait_exit(timeout)
            if rc is None:
                self.kill()
                await self.wait_exit(5)
                self._close_log()
                self.check_sanitizers()
                raise ServerError(f"{self.name} did not exit within {timeout}s of signal "
                                  f"{sig}; killed\n{self.log_tail()}")
        self.returncode = self.proc.returncode
        # The master is gone; give orphaned workers (if any) a moment to flush
        # their sanitizer reports into the shared log.
        self._close_log()
        if check:
            self.check_sanitizers()
        return self.returncode

    def kill(self):
        """SIGKILL the master and every worker pid we can still see."""
        pids = []
        try:
            pids = [w["pid"] for w in metrics_workers(self._metrics_sync()) if w["pid"] > 0]
        except Exception:
            pass
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _metrics_sync(self):
        with socket.create_connection((self.host, self.port), timeout=0.5) as s:
            s.sendall(build_request("GET", "/metrics", f"{self.host}:{self.port}"))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return parse_metrics(body.decode())

    def _close_log(self):
        f = getattr(self, "_logf", None)
        if f and not f.closed:
            f.close()

    # -- logs

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()
        return "\n".join("    | " + l for l in lines[-n:])

    def sanitizer_report(self):
        text = self.log_text()
        for pat in SANITIZER_PATTERNS:
            i = text.find(pat)
            if i >= 0:
                start = text.rfind("\n", 0, max(0, i - 200)) + 1
                return text[start:start + 6000]
        return None

    def check_sanitizers(self):
        if self._sanitizer_checked:
            return
        self._sanitizer_checked = True
        rep = self.sanitizer_report()
        if rep:
            raise ServerError(f"sanitizer report in {self.log_path}:\n{rep}")

    async def wait_log(self, pattern, timeout=5.0, start=0):
        """Wait until the log (from offset `start`) matches regex `pattern`."""
        rx = re.compile(pattern)

        def check():
            return rx.search(self.log_text()[start:])

        return await eventually(check, timeout, 0.05, f"log line /{pattern}/ in {self.log_path}")

    def log_size(self):
        return len(self.log_text())

    # -- clients

    def url(self, path):
        return f"http://{self.host}:{self.port}{path}"

    def ws_url(self, path):
        return f"ws://{self.host}:{self.port}{path}"

    async def http(self, method, path, body=None, headers=None, timeout=5.0, conn=None):
        """A request on a new connection, or on the keep-alive `conn`
        (from http_conn())."""
        if conn is None and KEEPALIVE_DEFAULT and not self._paused:
            return await self._pooled(method, path, body, headers, timeout)
        return await http_request(self.host, self.port, method, path, body, headers, timeout,
                                  conn)

    async def _pooled(self, method, path, body, headers, timeout):
        """A request on an idle keep-alive connection of the server's pool (a
        new one when all are busy, as a browser does: never two requests in
        flight on one connection); once more on a new one if a reused
        connection turns out closed by the server (its idle timeout, a
        drain) before any answer came."""
        idle = self.__dict__.setdefault("_idle", [])
        for attempt in (0, 1):
            conn = idle.pop() if idle else HTTPConn(self.host, self.port, reconnect=True)
            reused = conn.connections > 0 and not conn.closed
            try:
                result = await conn.request(method, path, body, headers, timeout)
            except (asyncio.IncompleteReadError, ConnectionError) as e:
                await conn.aclose()
                if not reused or (isinstance(e, asyncio.IncompleteReadError) and e.partial):
                    raise
                continue
            except BaseException:
                await conn.aclose()  # an answer may still come: never reuse it
                raise
            if conn.closed:
                await conn.aclose()
            else:
                idle.append(conn)
            return result

    def http_conn(self, reconnect=False):
        """A keep-alive HTTPConn to this server (not tracked: see
        TestContext.http_conn for one closed with the test)."""
        return HTTPConn(self.host, self.port, reconnect)

    async def metrics(self):
        status, h, body = await self.http("GET", "/metrics")
        if status != 200:
            raise AssertionError(f"/metrics answered {status}: {body[:200]!r}")
        return parse_metrics(body.decode())

    async def metric(self, name):
        return (await self.metrics()).get(name)

    async def workers(self):
        return metrics_workers(await self.metrics())

    async def worker_pids(self):
        """{slot: pid} of every worker slot in use."""
        # pid 0 would make os.kill signal our whole process group
        return {w["slot"]: w["pid"] for w in await self.workers() if w["pid"] > 0}


# ---------------------------------------------------------------------------
# per-test context


class TestContext:
    def __init__(self, name):
        self.name = name
        self.tmp = Path(tempfile.mkdtemp(prefix="ragws-it-"))
        self.servers = []
        self.clients = []
        self.keep_tmp = False

    async def server(self, overrides=None, env=None, workers=2, config="ragws.conf",
                     name=None, **kw):
        s = Server(self.tmp, name or f"server{len(self.servers)}")
        self.servers.append(s)
        await s.start(overrides, env=env, workers=workers, config=config, **kw)
        return s

    async def ws(self, server, path="/api/v1/ws", headers=None, **kw):
        """websockets client, tracked for cleanup. Unbounded receive queue so a
        test that is busy elsewhere never turns it into a slow consumer."""
        opts = dict(max_size=2 ** 24, max_queue=None, open_timeout=5, close_timeout=2)
        opts.update(kw)
        ws = await websockets.connect(server.ws_url(path), extra_headers=headers or {}, **opts)
        self.clients.append(ws)
        return ws

    def http_conn(self, server, reconnect=False):
        """A keep-alive HTTPConn to server, closed with the test."""
        c = server.http_conn(reconnect)
        self.clients.append(c)
        return c

    async def raw(self, server, path="/api/v1/ws", headers=None, **kw):
        """rawws.RawWS client (handshake done), tracked for cleanup."""
        from rawws import RawWS
        r = await RawWS.connect(server.host, server.port, path, headers=headers, **kw)
        self.clients.append(r)
        return r

    async def ws_spread(self, server, n, path="/api/v1/ws", slots=(0, 1), max_attempts=200,
                        exact=True, **kw):
        """Open WebSocket clients until there are at least n and every slot in
        `slots` has one (X-Ragws-Worker). With exact, extras are closed so
        exactly n stay open. Returns [(ws, slot)]."""
        conns = []
        attempts = 0
        while len(conns) < n or not set(slots) <= {s for _, s in conns}:
            attempts += 1
            if attempts > max_attempts:
                raise AssertionError(
                    f"after {max_attempts} connections the workers seen were "
                    f"{sorted({s for _, s in conns})}, wanted {sorted(slots)}")
            ws = await self.ws(server, path, **kw)
            conns.append((ws, int(ws.response_headers["X-Ragws-Worker"])))
        while exact and len(conns) > n:
            counts = {}
            for _, s in conns:
                counts[s] = counts.get(s, 0) + 1
            for i, (ws, s) in enumerate(conns):
                if counts[s] > 1:
                    await ws.close()
                    del conns[i]
                    break
        return conns

    async def ws_on_slot(self, server, slot, path="/api/v1/ws", max_attempts=200, want=True,
                         **kw):
        """A client on worker `slot` (want=True) or on any other (want=False)."""
        extra = []
        try:
            for _ in range(max_attempts):
                try:
                    # A stopped (SIGSTOP) worker still completes TCP
                    # handshakes into its backlog: bound each attempt.
                    ws = await asyncio.wait_for(self.ws(server, path, **kw), 1.0)
                except asyncio.TimeoutError:
                    continue
                s = int(ws.response_headers["X-Ragws-Worker"])
                if (s == slot) == want:
                    return ws, s
                extra.append(ws)
            raise AssertionError(f"no connection landed {'on' if want else 'off'} worker "
                                 f"slot {slot} in {max_attempts} attempts")
        finally:
            for ws in extra:
                await ws.close()

    async def cleanup(self):
        errors = []
        for ws in self.clients:
            try:
                res = ws.close()
                if asyncio.iscoroutine(res):
                    await asyncio.wait_for(res, 2)
            except Exception:
                pass
        for s in self.servers:
            try:
                if s.proc is not None and (s.running() or not s._sanitizer_checked):
                    await s.stop()
            except Exception as e:  # noqa: BLE001
                errors.append(f"{s.name}: {e}")
        return errors


# ---------------------------------------------------------------------------
# command line runs of the binary (check-config, publish ...)


async def run_cli(args, timeout=20.0, env=None):
    """Run the binary with args (cwd = repo). Returns (rc, stdout, stderr)."""
    full_env = dict(os.environ)
    for k, v in DEFAULT_ENV.items():
        full_env.setdefault(k, v)
    full_env.update(env or {})
    p = await asyncio.create_subprocess_exec(bin_path(), *[str(a) for a in args], cwd=str(REPO),
                                             env=full_env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(p.communicate(), timeout)
    except asyncio.TimeoutError:
        p.kill()
        await p.wait()
        raise AssertionError(f"ragws {' '.join(map(str, args))} did not finish in {timeout}s")
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    for pat in SANITIZER_PATTERNS:
        if pat in err:
            raise AssertionError(f"sanitizer report from ragws {' '.join(map(str, args))}:\n{err}")
    return p.returncode, out, err


def write_config(path, text):
    Path(path).write_text(text)
    return Path(path)


def copy_default_config(dest, edits=None):
    """Copy ragws.conf to dest, replacing `key = value` lines per edits
    {('section','key'): 'value'}. Returns the path."""
    lines = (REPO / "ragws.conf").read_text().splitlines()
    edits = dict(edits or {})
    section = None
    out = []
    for line in lines:
        m = re.match(r"^\s*\[([^\]]+)\]", line)
        if m:
            section = m.group(1).strip()
        m = re.match(r"^(\s*)([A-Za-z0-9_]+)\s*=", line)
        if m and (section, m.group(2)) in edits:
            line = f"{m.group(1)}{m.group(2)} = {edits.pop((section, m.group(2)))}"
        out.append(line)
    if edits:
        raise AssertionError(f"keys not found in ragws.conf: {list(edits)}")
    Path(dest).write_text("\n".join(out) + "\n")
    return Path(dest)
