"""Process model (SPEC S1, S9): worker respawn, SIGHUP reload (valid and
invalid), graceful SIGTERM/SIGINT, sd_notify, and what happens when the
master itself dies."""

import asyncio
import json
import os
import signal
import socket
import time

from harness import (assert_ready, copy_default_config, eventually, expect_closed, recv_json,
                     recv_until, timeout)


async def broadcast(s, msg):
    status, _, body = await s.http("POST", "/api/broadcast", body={"channel": "global", "message": msg})
    assert status == 202, (status, body)


async def ping_pong(ws):
    await ws.send('{"type":"ping"}')
    assert await recv_json(ws) == {"type": "pong"}


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@timeout(40)
async def test_killed_worker_is_respawned(ctx):
    s = await ctx.server({"monitor.interval": "0.2"})
    conns = await ctx.ws_spread(s, 6)
    pids = await s.worker_pids()
    victim = 0
    survivors = [ws for ws, slot in conns if slot != victim]
    doomed = [ws for ws, slot in conns if slot == victim]
    mon, _ = await ctx.ws_on_slot(s, victim, "/ws/monitor", want=False)
    await recv_until(mon, lambda m: m.get("type") == "system_metrics", 5)  # monitor is live

    before = await s.metrics()
    os.kill(pids[victim], signal.SIGKILL)
    t0 = time.monotonic()

    async def respawned():
        try:
            now = await s.worker_pids()
        except (OSError, AssertionError, asyncio.TimeoutError):
            return None
        new = now.get(victim)
        return new if new and new != pids[victim] and len(now) == 2 else None

    new_pid = await eventually(respawned, 3.0, 0.05, f"a new worker in slot {victim}")
    dt = time.monotonic() - t0
    assert pid_alive(new_pid) and not pid_alive(pids[victim])
    assert dt < 1.5, f"respawn took {dt:.2f}s"

    for ws in doomed:  # their worker died: connection gone (no close frame)
        code, _ = await expect_closed(ws, 5)
        assert code in (None, 1006), code
    # clients on the other worker keep receiving broadcasts
    await broadcast(s, {"after_kill": 1})
    for ws in survivors:
        assert await recv_json(ws) == {"after_kill": 1}
    # the monitor reports the death
    alert, _ = await recv_until(
        mon, lambda m: m.get("type") == "error_alert" and m["data"].get("severity") == "critical",
        5, "critical error_alert")
    assert alert["data"]["service"] == "worker", alert
    assert str(pids[victim]) in alert["data"]["message"], alert
    # the respawned worker serves new clients
    fresh, slot = await ctx.ws_on_slot(s, victim)
    await ping_pong(fresh)
    await broadcast(s, {"after_kill": 2})
    for ws in survivors + [fresh]:
        assert await recv_json(ws) == {"after_kill": 2}
    # the connection gauge forgets the dead worker's clients
    m = await s.metrics()
    assert m["ragws_ws_connections"] == len(survivors) + 2, (m["ragws_ws_connections"], len(survivors))
    assert m["ragws_workers"] == 2
    assert "killed by signal 9" in s.log_text()
    # counters keep what the dead worker counted
    shrunk = {k: (before[k], m[k]) for k in before
              if k.endswith("_total") and k in m and m[k] < before[k]}
    assert not shrunk, f"counters went down after a worker died: {shrunk}"


def monitor_section_line(path, key):
    """1-based line number of `key =` in [monitor] of the config file."""
    section = None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        st = line.strip()
        if st.startswith("["):
            section = st.strip("[]")
        elif section == "monitor" and st.split("=")[0].strip() == key:
            return n
    raise AssertionError(f"{key} not found")


@timeout(60)
async def test_sighup_reload_valid_and_invalid(ctx):
    cfg = copy_default_config(ctx.tmp / "reload.conf", {("monitor", "interval"): "0.2"})
    s = await ctx.server(config=cfg)
    old = await s.workers()
    assert {w["generation"] for w in old} == {1}, old
    old_pids = {w["pid"] for w in old}
    keep = [ws for ws, _ in await ctx.ws_spread(s, 4)]

    # -- an invalid edit: refused, logged with file:line, old workers serve on
    text = cfg.read_text()
    line = monitor_section_line(cfg, "interval")
    cfg.write_text(text.replace("interval = 0.2", "interval = 0.2\nno_such_key = 1", 1))
    bad_line = line + 1
    mark = s.log_size()
    s.send_signal(signal.SIGHUP)
    await s.wait_log(rf"{cfg.name}:{bad_line}:.*no_such_key", 5, start=mark)
    err_line = next(l for l in s.log_text()[mark:].splitlines() if "no_such_key" in l)
    assert " error " in err_line or "error" in err_line.split("]")[0], err_line
    await broadcast(s, {"n": 1})
    for ws in keep:
        assert await recv_json(ws) == {"n": 1}
    after = await s.workers()
    assert {w["pid"] for w in after} == old_pids, (old, after)
    assert {w["generation"] for w in after} == {1}, after
    late = await ctx.ws(s)
    await ping_pong(late)

    # -- a valid edit: a new generation takes over, old clients get 1001
    assert text.count("allowed_origins = *") == 1
    cfg.write_text(text.replace("interval = 0.2", "interval = 0.6", 1)
                   .replace("allowed_origins = *", "allowed_origins = https://only.example", 1))
    s.send_signal(signal.SIGHUP)

    async def new_generation():
        try:
            ws_ = await s.workers()
        except (OSError, AssertionError, asyncio.TimeoutError):
            return None
        return ws_ if len(ws_) == 2 and all(w["generation"] == 2 for w in ws_) else None

    new = await eventually(new_generation, 10, 0.05, "2 workers of generation 2 only")
    assert not ({w["pid"] for w in new} & old_pids), (old, new)
    for ws in keep + [late]:
        code, reason = await expect_closed(ws, 15)
        assert code == 1001, (code, reason)
    for pid in old_pids:
        await eventually(lambda: not pid_alive(pid), 5, what=f"old worker {pid} gone")
    # and the server keeps serving
    conns = await ctx.ws_spread(s, 2, slots=tuple(w["slot"] for w in new))
    await broadcast(s, {"n": 2})
    for ws, _ in conns:
        assert await recv_json(ws) == {"n": 2}
    status, _, body = await s.http("GET", "/ready")
    assert_ready(status, body, 2)
    # the new values are in force: Origin allow-list and monitor interval
    from rawws import HandshakeRejected, RawWS
    r = await RawWS.connect(s.host, s.port, "/api/v1/ws", headers={"Origin": "https://only.example"})
    r.close()
    try:
        await RawWS.connect(s.host, s.port, "/api/v1/ws", headers={"Origin": "https://other.example"})
        raise AssertionError("Origin accepted although the reloaded allow-list excludes it")
    except HandshakeRejected as e:
        assert e.status == 403, e.status
    mon = await ctx.ws(s, "/ws/monitor")
    stamps = []
    await recv_until(mon, lambda m: m.get("type") == "system_metrics", 5)  # after the rearm
    while len(stamps) < 3:
        m, _ = await recv_until(mon, lambda m: m.get("type") == "system_metrics", 5)
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(0.4 <= g <= 1.0 for g in gaps), f"system_metrics every {gaps} s, want 0.6"
    assert await s.stop() == 0


@timeout(40)
async def test_sigterm_closes_clients_1001_and_exits_0(ctx):
    s = await ctx.server()
    conns = await ctx.ws_spread(s, 4)
    mon = await ctx.ws(s, "/ws/monitor")
    rc = await s.stop(signal.SIGTERM)
    assert rc == 0, rc
    for ws in [w for w, _ in conns] + [mon]:
        code, reason = await expect_closed(ws, 5)
        assert code == 1001, (code, reason)
    assert "all workers gone" in s.log_text() or "exiting" in s.log_text()


async def test_sigint_stops_gracefully(ctx):
    s = await ctx.server()
    ws = await ctx.ws(s)
    rc = await s.stop(signal.SIGINT)
    assert rc == 0, rc
    code, _ = await expect_closed(ws, 5)
    assert code == 1001, code


@timeout(30)
async def test_master_death_takes_workers_down(ctx):
    s = await ctx.server()
    pids = list((await s.worker_pids()).values())
    os.kill(s.master_pid, signal.SIGKILL)
    for pid in pids:
        await eventually(lambda: not pid_alive(pid), 5, what=f"orphaned worker {pid} exits")
    # nobody keeps the port
    with socket.socket() as probe:
        try:
            probe.connect((s.host, s.port))
            raise AssertionError("something still listens on the port after the master died")
        except ConnectionRefusedError:
            pass
    await s.wait_exit(5)


@timeout(60)
async def test_sd_notify(ctx):
    path = str(ctx.tmp / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    statuses = []

    async def next_state(timeout=10):
        """Next datagram that is not only a STATUS= line."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no sd_notify message within {timeout}s")
            data = (await asyncio.wait_for(loop.sock_recv(sock, 4096), left)).decode()
            fields = [l for l in data.split("\n") if l]
            if all(f.startswith("STATUS=") for f in fields):
                statuses.append(data)
                continue
            return fields

    try:
        cfg = copy_default_config(ctx.tmp / "notify.conf", {("monitor", "interval"): "0.2"})
        s = await ctx.server(config=cfg, env={"NOTIFY_SOCKET": path})
        assert await next_state() == ["READY=1"]
        # STATUS= lines come with every monitor tick
        deadline = time.monotonic() + 5
        while not statuses:
            assert time.monotonic() < deadline, "no STATUS= message within 5 s"
            data = (await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)).decode()
            assert data.startswith("STATUS="), data
            statuses.append(data)
        assert "connections" in statuses[0], statuses
        s.send_signal(signal.SIGHUP)
        fields = await next_state()
        assert fields[0] == "RELOADING=1", fields
        assert any(f.startswith("MONOTONIC_USEC=") and f.split("=")[1].isdigit() for f in fields), fields
        assert await next_state() == ["READY=1"]
        stop = asyncio.ensure_future(s.stop(signal.SIGTERM))
        assert await next_state() == ["STOPPING=1"]
        assert await stop == 0
    finally:
        sock.close()


@timeout(40)
async def test_repeated_worker_deaths_are_respawned(ctx):
    """A worker that keeps dying young is respawned with a backoff, not
    given up on."""
    s = await ctx.server()
    for round_ in range(3):
        pids = await s.worker_pids()
        os.kill(pids[1], signal.SIGKILL)

        async def replaced():
            try:
                now = await s.worker_pids()
            except (OSError, AssertionError, asyncio.TimeoutError):
                return None
            return len(now) == 2 and now.get(1) not in (None, pids[1]) and now

        await eventually(replaced, 3.0, 0.05, f"respawn #{round_ + 1} of slot 1")
    conns = await ctx.ws_spread(s, 2)
    await broadcast(s, {"ok": 1})
    for ws, _ in conns:
        assert await recv_json(ws) == {"ok": 1}


@timeout(60)
async def test_double_sighup(ctx):
    cfg = copy_default_config(ctx.tmp / "twice.conf")
    s = await ctx.server(config=cfg)
    old = {w["pid"] for w in await s.workers()}
    s.send_signal(signal.SIGHUP)
    s.send_signal(signal.SIGHUP)

    async def settled():
        try:
            ws_ = await s.workers()
        except (OSError, AssertionError, asyncio.TimeoutError):
            return None
        gens = {w["generation"] for w in ws_}
        return ws_ if len(ws_) == 2 and len(gens) == 1 and gens != {1} else None

    new = await eventually(settled, 10, 0.05, "exactly 2 workers, all of one new generation")
    assert not ({w["pid"] for w in new} & old)
    for pid in old:
        await eventually(lambda: not pid_alive(pid), 5, what=f"old worker {pid} gone")
    conns = await ctx.ws_spread(s, 2, slots=tuple(w["slot"] for w in new))
    await broadcast(s, {"twice": True})
    for ws, _ in conns:
        assert await recv_json(ws) == {"twice": True}
    status, _, body = await s.http("GET", "/ready")
    assert_ready(status, body, 2)


@timeout(30)
async def test_unresponsive_client_does_not_hold_shutdown(ctx):
    """With nothing in flight, clients get close 1001 at once; one that
    never answers the Close is dropped after a bounded grace, so the
    shutdown ends (here within drain_timeout + a few seconds)."""
    from rawws import RawWS
    s = await ctx.server({"server.drain_timeout": "1"})
    deaf = await RawWS.connect(s.host, s.port, "/api/v1/ws")
    t0 = time.monotonic()
    stop = asyncio.ensure_future(s.stop(signal.SIGTERM, timeout=20))
    f = await deaf.recv_frame(5)
    t_close = time.monotonic() - t0
    assert f.opcode == 0x8 and f.close_code == 1001, f
    assert t_close < 1.0, f"close 1001 came {t_close:.1f}s after SIGTERM with nothing in flight"
    rc = await stop
    dt = time.monotonic() - t0
    assert rc == 0, rc
    assert dt < 5.5, f"shutdown took {dt:.1f}s"
    await deaf.wait_eof(5)
    deaf.close()


@timeout(60)
async def test_reload_changes_worker_count(ctx):
    cfg = copy_default_config(ctx.tmp / "count.conf", {("server", "workers"): "2"})
    s = await ctx.server(config=cfg, workers=None)
    assert len(await s.workers()) == 2
    text = cfg.read_text()
    for count, gen in ((3, 2), (1, 3)):
        cfg.write_text(text.replace("workers = 2", f"workers = {count}", 1))
        s.send_signal(signal.SIGHUP)

        async def settled():
            try:
                ws_ = await s.workers()
            except (OSError, AssertionError, asyncio.TimeoutError):
                return None
            return ws_ if len(ws_) == count and all(w["generation"] == gen for w in ws_) else None

        new = await eventually(settled, 10, 0.05, f"{count} workers of generation {gen}")
        status, _, body = await s.http("GET", "/ready")
        assert_ready(status, body, count)
        conns = await ctx.ws_spread(s, count, slots=tuple(w["slot"] for w in new))
        await broadcast(s, {"count": count})
        for ws, _ in conns:
            assert await recv_json(ws) == {"count": count}


@timeout(40)
async def test_worker_killed_while_publishing_does_not_wedge_the_ring(ctx):
    """A worker SIGKILLed in the middle of a publishing burst (possibly
    holding the ring lock) must not stop the others from publishing."""
    from rawws import OP_TEXT, RawWS, encode_frame
    s = await ctx.server({"limits.rate_limit": "100000", "limits.rate_burst": "100000"})
    pids = await s.worker_pids()
    sub, sub_slot = await ctx.ws_on_slot(s, 0, want=False)
    pub = None
    for _ in range(200):
        r = await RawWS.connect(s.host, s.port, "/ws/publish")
        if r.response_headers["x-ragws-worker"] == "0":
            pub = r
            break
        r.close()
    assert pub, "no publisher on worker 0"
    burst = b"".join(encode_frame(OP_TEXT, json.dumps({"channel": "global", "message": {"b": i}}))
                     for i in range(3000))
    await pub.send_raw(burst)
    os.kill(pids[0], signal.SIGKILL)
    pub.close()
    # whatever part of the burst got through arrives in order; then a REST
    # publish (on any worker) still goes through. (A connection that was
    # queued on the dying worker's listener is reset: retry.)
    async def published():
        try:
            await broadcast(s, {"after": True})
            return True
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            return False

    await eventually(published, 5, 0.05, "a REST publish after the kill")
    last = -1
    while True:
        m = await recv_json(sub, 10)
        if m == {"after": True}:
            break
        assert m.get("b", -1) > last, (m, last)
        last = m["b"]

    async def two_workers():
        try:
            return len(await s.worker_pids()) == 2
        except (ConnectionError, AssertionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            return False

    await eventually(two_workers, 5, what="the killed worker replaced")
