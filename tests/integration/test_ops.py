"""Operations (issue 7): a port in use is fatal, a second instance exits,
SIGUSR2 is ignored, --version, the drain under steady traffic converges as
soon as the answers in flight end (new questions get SHUTTING_DOWN), reloads
under a connection storm lose no handshake (the listener is inherited),
a slow consumer that reads late still gets its 1008 close, and /metrics
passes `promtool check metrics`."""

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import websockets

from harness import (REPO, bin_path, eventually, free_port, http_request, parse_metrics, run_cli,
                     timeout)
from ragkit import FakeLLM, ensure_samples, llm_overrides, unique


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


async def start_expecting_failure(port, wait=10.0):
    """Run `ragws` on 127.0.0.1:port; returns (rc, output, seconds, ever_ready)."""
    cmd = [bin_path(), "-o", f"server.listen=127.0.0.1:{port}", "-o", "server.workers=2"]
    t0 = time.monotonic()
    p = await asyncio.create_subprocess_exec(*cmd, cwd=str(REPO), stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(p.communicate(), wait)
    except asyncio.TimeoutError:
        p.kill()
        await p.wait()
        raise AssertionError(f"ragws on a taken port still running after {wait}s")
    return p.returncode, out.decode(errors="replace"), time.monotonic() - t0


@timeout(30)
async def test_port_held_by_another_program_is_fatal(ctx):
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen(16)
    port = holder.getsockname()[1]
    try:
        rc, out, dt = await start_expecting_failure(port)
    finally:
        holder.close()
    assert rc != 0, out
    assert "address already in use" in out.lower(), out
    assert dt < 5, f"took {dt:.1f}s to give up"
    assert "ready:" not in out and "worker 0 started" not in out, out


@timeout(40)
async def test_second_instance_on_the_same_port_exits(ctx):
    s = await ctx.server()
    rc, out, dt = await start_expecting_failure(s.port)
    assert rc != 0 and "address already in use" in out.lower(), (rc, out)
    # the first one still serves every connection (no split between two rings)
    for _ in range(6):
        status, _, _ = await s.http("GET", "/health")
        assert status == 200
    assert s.running()


async def test_sigusr2_is_ignored_with_a_log_line(ctx):
    s = await ctx.server()
    ws = await ctx.ws(s)
    mark = s.log_size()
    s.send_signal(signal.SIGUSR2)
    await s.wait_log("SIGUSR2 ignored", 5, start=mark)
    await asyncio.sleep(0.3)
    assert s.running()
    await ws.send('{"type":"ping"}')
    assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
    status, _, _ = await s.http("GET", "/health")
    assert status == 200


async def test_version_flags(ctx):
    for flag in ("-v", "-V", "--version", "version"):
        rc, out, err = await run_cli([flag], timeout=10)
        assert rc == 0 and out.strip() == "ragws 0.1.0", (flag, rc, out, err)
    rc, out, _ = await run_cli(["check-config", "-v"], timeout=10)  # still verbose there
    assert rc == 0 and "OK (listen" in out and "[server]" in out, out


# ---------------------------------------------------------------------------
# drain under steady traffic


async def asking_client(url, name, started, results, stop):
    """Asks questions one after another on one /ws/query connection; records
    each answer (start, end, tokens, final frame) and how it ended."""
    ws = await websockets.connect(url, max_size=2 ** 24, max_queue=None, open_timeout=5)
    rec = {"name": name, "answers": [], "shutting_down": [], "close": None}
    results.append(rec)
    n = 0
    try:
        while not stop.is_set():
            n += 1
            rid = f"{name}-{n}"
            t0 = time.monotonic()
            await ws.send(json.dumps({"type": "query", "request_id": rid,
                                      "data": {"query": unique("How does the ring work?")}}))
            tokens = []
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if m.get("request_id") != rid:
                    continue
                if m["type"] == "token":
                    tokens.append(m["data"]["content"])
                elif m["type"] in ("complete", "error"):
                    break
            if m["type"] == "error":
                assert m["data"]["code"] == "SHUTTING_DOWN", m
                assert m["data"]["recoverable"] is True, m
                rec["shutting_down"].append(time.monotonic())
                await asyncio.sleep(0.05)  # a client that retries, slowly
                continue
            rec["answers"].append((t0, time.monotonic(), tokens, m))
            started.set()
    except websockets.ConnectionClosed:
        rec["close"] = ws.close_code
    finally:
        await ws.close()


async def drain_case(ctx, sig):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    # ~2 s per answer; drain_timeout far longer than that
    s = await ctx.server(llm_overrides(fake, "ok", 100, **{"server.drain_timeout": "30s"}),
                         workers=1, name=f"drain-{sig.name}")
    old = set((await s.worker_pids()).values())
    started, stop = asyncio.Event(), asyncio.Event()
    results, tasks = [], []
    for i in range(4):  # staggered, so answers end at different times
        tasks.append(asyncio.ensure_future(asking_client(s.ws_url("/ws/query"), f"c{i}", started,
                                                         results, stop)))
        await asyncio.sleep(0.5)
    await asyncio.wait_for(started.wait(), 15)
    await asyncio.sleep(0.3)
    t_sig = time.monotonic()
    s.send_signal(sig)
    if sig == signal.SIGTERM:
        rc = await s.wait_exit(25)
        assert rc == 0, rc
    else:
        await eventually(lambda: not any(pid_alive(p) for p in old), 25, 0.05,
                         "old generation gone")
    took = time.monotonic() - t_sig
    assert took < 8, f"drain took {took:.1f}s with drain_timeout 30s"
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    stop.set()
    in_flight = [a for r in results for a in r["answers"] if a[0] < t_sig < a[1]]
    assert in_flight, results
    for t0, t1, tokens, final in in_flight:  # every answer in flight completed whole
        assert "".join(tokens) == "".join(script), tokens
        assert final["data"]["tokens_generated"] == len(script), final
    assert sum(len(r["shutting_down"]) for r in results) >= 1, results
    for r in results:
        assert r["close"] == 1001, r
        assert all(t > t_sig for t in r["shutting_down"]), r
    return s


@timeout(90)
async def test_sighup_drain_converges_under_steady_traffic(ctx):
    s = await drain_case(ctx, signal.SIGHUP)
    status, _, body = await s.http("GET", "/ready")
    assert status == 200, body  # the new generation serves


@timeout(90)
async def test_sigterm_drain_converges_under_steady_traffic(ctx):
    await drain_case(ctx, signal.SIGTERM)


# ---------------------------------------------------------------------------
# reloads under a connection storm


async def one_handshake(port):
    key = base64.b64encode(os.urandom(16)).decode()
    r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    try:
        w.write((f"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        return head.startswith(b"HTTP/1.1 101 ")
    finally:
        w.close()


@timeout(90)
async def test_repeated_reloads_under_200_connections_per_second_lose_no_handshake(ctx):
    s = await ctx.server({"server.drain_timeout": "2s"})
    failures, ok = [], 0
    done = asyncio.Event()

    async def attempt():
        nonlocal ok
        try:
            if await one_handshake(s.port):
                ok += 1
            else:
                failures.append("not 101")
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            failures.append(repr(e))

    async def storm():
        pending = set()
        t0 = time.monotonic()
        i = 0
        while not done.is_set():
            i += 1
            pending.add(asyncio.ensure_future(attempt()))
            pending = {p for p in pending if not p.done()}
            await asyncio.sleep(max(0.0, t0 + i / 200 - time.monotonic()))
        await asyncio.gather(*pending)

    task = asyncio.ensure_future(storm())
    t0 = time.monotonic()
    await asyncio.sleep(0.5)
    for gen in range(2, 10):  # 8 reloads
        s.send_signal(signal.SIGHUP)
        await s.wait_log(f"reload done: generation {gen} serving", 15)
        await asyncio.sleep(0.8)
    done.set()
    await asyncio.wait_for(task, 20)
    rate = (ok + len(failures)) / (time.monotonic() - t0)
    assert rate > 150, f"only {rate:.0f} connections/s"
    assert not failures, f"{len(failures)} failed handshakes of {ok + len(failures)}: {failures[:5]}"


# ---------------------------------------------------------------------------
# slow consumer


@timeout(60)
async def test_slow_consumer_that_reads_late_gets_1008(ctx):
    s = await ctx.server({"limits.send_buffer_limit": "64KiB"}, workers=1)
    raw = await ctx.raw(s, "/api/v1/ws", rcvbuf=4096)
    big = "x" * 30000
    for i in range(600):
        status, _, _ = await s.http("POST", "/api/broadcast",
                                    body={"channel": "global", "message": {"i": i, "pad": big}})
        assert status == 202
        if i % 20 == 19 and (await s.metric("ragws_slow_consumers_total") or 0) >= 1:
            break
    assert (await s.metric("ragws_slow_consumers_total")) >= 1
    await asyncio.sleep(4.5)  # past the 3 s close wait: the server has closed its side
    code, reason, seen = await raw.expect_close(20, answer_pings=False, reply=False)
    assert code == 1008 and reason == "slow consumer", (code, reason)
    assert seen  # the stale frames came first, whole


# ---------------------------------------------------------------------------
# /metrics


async def test_metrics_pass_promtool_and_follow_the_naming(ctx):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/deps.sh installs Debian's prometheus package"
    s = await ctx.server()
    ws = await ctx.ws(s)
    await ws.send('{"type":"ping"}')
    await asyncio.wait_for(ws.recv(), 5)
    status, _, body = await s.http("GET", "/metrics")
    assert status == 200
    p = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                       timeout=30)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), \
        (p.returncode, p.stdout, p.stderr)
    m = parse_metrics(body.decode())
    assert m["ragws_received_bytes_total"] > 0 and m["ragws_sent_bytes_total"] > 0, m
    assert m['ragws_build_info{version="0.1.0"}'] == 1
    for name in ("ragws_query_duration_seconds_count", 'ragws_query_duration_seconds_bucket{le="+Inf"}',
                 "process_cpu_seconds_total", "process_open_fds"):
        assert name in m, name
    assert m["process_resident_memory_bytes"] > 1e6
    assert abs(m["process_start_time_seconds"] - time.time()) < 120
    assert not [k for k in m if "pid=" in k or "_us" in k], [k for k in m if "pid=" in k]
    pids = await s.worker_pids()
    assert len(pids) == 2 and all(pid_alive(p) for p in pids.values()), pids
