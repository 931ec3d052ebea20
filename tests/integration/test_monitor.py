"""/ws/monitor (SPEC S4.8): system_metrics, service_status and error_alert,
computed once by the master and broadcast to every dashboard."""

import asyncio
import json
import re
import time

from harness import recv_until, timeout

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")
MON = {"monitor.interval": "0.2"}


def is_type(t):
    return lambda m: m.get("type") == t


def check_envelope(m):
    assert set(m) >= {"type", "timestamp", "data"}, m
    assert isinstance(m["timestamp"], str) and TS.match(m["timestamp"]), m["timestamp"]
    assert isinstance(m["data"], dict), m


async def metrics_with(mon, pred, timeout=5.0, what="system_metrics"):
    msg, _ = await recv_until(mon, lambda m: m.get("type") == "system_metrics" and pred(m["data"]),
                              timeout, what)
    check_envelope(msg)
    return msg["data"]


@timeout(45)
async def test_system_metrics_counts_connections(ctx):
    s = await ctx.server(MON)
    conns = await ctx.ws_spread(s, 6)
    k = len(conns)
    mon = await ctx.ws(s, "/ws/monitor")
    seen = []

    def want(n):
        def pred(d):
            seen.append(d.get("active_connections"))
            return d.get("active_connections") == n
        return pred

    data = await metrics_with(mon, want(k + 1), what=f"active_connections == {k + 1} (seen {seen})")
    for field in ("cpu_usage", "memory_usage", "active_connections", "queries_per_minute",
                  "average_response_time", "workers"):
        assert field in data, (field, data)
        assert isinstance(data[field], (int, float)) and not isinstance(data[field], bool), (field, data)
    assert data["workers"] == 2, data
    assert 0 <= data["cpu_usage"] <= 100 and 0 <= data["memory_usage"] <= 100, data

    for ws, _ in conns[:3]:
        await ws.close()
    seen.clear()
    data = await metrics_with(mon, want(k - 2), what=f"active_connections == {k - 2} (seen {seen})")
    assert data["workers"] == 2


@timeout(30)
async def test_service_status_per_worker(ctx):
    s = await ctx.server(MON)
    mon = await ctx.ws(s, "/ws/monitor")
    pids = await s.worker_pids()
    status = {}
    deadline = time.monotonic() + 5
    while set(status) < {"worker-0", "worker-1"}:
        assert time.monotonic() < deadline, f"service_status seen for {sorted(status)}"
        m, _ = await recv_until(mon, is_type("service_status"), 5, "service_status")
        check_envelope(m)
        d = m["data"]
        for field in ("service", "status", "response_time", "last_check"):
            assert field in d, (field, d)
        assert d["status"] in ("healthy", "degraded", "down"), d
        status[d["service"]] = d
    for slot in (0, 1):
        d = status[f"worker-{slot}"]
        assert d["status"] == "healthy", d
        if "pid" in d:
            assert d["pid"] == pids[slot], (d, pids)


@timeout(30)
async def test_error_alert_when_errors_cross_threshold(ctx):
    s = await ctx.server({**MON, "monitor.error_alert_count": "1"})
    mon = await ctx.ws(s, "/ws/monitor")
    # a quiet interval first: no alert without errors
    await recv_until(mon, is_type("system_metrics"), 5)
    client = await ctx.ws(s)
    await client.send("{this is not json")
    err = json.loads(await asyncio.wait_for(client.recv(), 5))
    assert err["content"]["code"] == "INVALID_JSON"
    m, _ = await recv_until(
        mon, lambda m: m.get("type") == "error_alert" and m["data"].get("service") != "system",
        5, "error_alert for the error count")
    check_envelope(m)
    d = m["data"]
    for field in ("severity", "service", "message", "details"):
        assert field in d, (field, d)
    assert isinstance(d["details"], dict), d
    assert d["severity"] in ("info", "warning", "error", "critical"), d


@timeout(30)
async def test_every_dashboard_sees_the_same_numbers(ctx):
    s = await ctx.server(MON)
    mons = [ws for ws, _ in await ctx.ws_spread(s, 2, "/ws/monitor")]
    by_ts = [{}, {}]
    deadline = time.monotonic() + 8
    while True:
        for i, mon in enumerate(mons):
            raw = await asyncio.wait_for(mon.recv(), 5)
            m = json.loads(raw)
            if m.get("type") == "system_metrics":
                by_ts[i][m["timestamp"]] = raw
        common = set(by_ts[0]) & set(by_ts[1])
        if common:
            break
        assert time.monotonic() < deadline, "the two dashboards never saw the same tick"
    for ts in common:
        assert by_ts[0][ts] == by_ts[1][ts], (by_ts[0][ts], by_ts[1][ts])


def worker_status(name, pred):
    return lambda m: (m.get("type") == "service_status" and m["data"].get("service") == name
                      and pred(m["data"]))


@timeout(30)
async def test_stopped_worker_reported_down(ctx):
    s = await ctx.server(MON)
    pids = await s.worker_pids()
    mon, slot = await ctx.ws_on_slot(s, 1, "/ws/monitor", want=False)
    # let worker-1 run its loop for a while (heartbeats) before it hangs
    for _ in range(3):
        await recv_until(mon, worker_status("worker-1", lambda d: d["status"] == "healthy"), 5)
    s.pause_worker(pids[1])
    try:
        m, _ = await recv_until(
            mon, lambda m: m.get("type") == "service_status" and m["data"]["service"] == "worker-1"
            and m["data"]["status"] != "healthy", 8, "worker-1 reported not healthy")
        assert m["data"]["status"] == "down", m
    finally:
        s.resume_worker(pids[1])
    await recv_until(
        mon, lambda m: m.get("type") == "service_status" and m["data"]["service"] == "worker-1"
        and m["data"]["status"] == "healthy", 5, "worker-1 healthy again")


@timeout(30)
async def test_cpu_and_memory_alerts(ctx):
    s = await ctx.server({**MON, "monitor.cpu_alert_percent": "0",
                          "monitor.memory_alert_percent": "0"})
    mon = await ctx.ws(s, "/ws/monitor")
    seen = {}
    deadline = time.monotonic() + 5
    while set(seen) < {"cpu_usage", "memory_usage"}:
        assert time.monotonic() < deadline, f"alerts seen: {list(seen)}"
        m, _ = await recv_until(mon, is_type("error_alert"), 5, "error_alert")
        check_envelope(m)
        d = m["data"]
        for key in ("cpu_usage", "memory_usage"):
            if key in d.get("details", {}):
                seen[key] = d
    for d in seen.values():
        assert d["service"] == "system" and d["severity"] in ("warning", "error", "critical"), d
        assert d["details"]["threshold"] == 0, d


@timeout(30)
async def test_worker_hung_right_after_start_reported_down(ctx):
    """A worker that stops responding right after it started (before its
    loop's first heartbeat) is not healthy either."""
    s = await ctx.server(MON)
    pids = await s.worker_pids()  # within a few ms of readiness
    s.pause_worker(pids[1])
    try:
        mon, _ = await ctx.ws_on_slot(s, 1, "/ws/monitor", want=False)
        m, _ = await recv_until(mon, worker_status("worker-1", lambda d: d["status"] != "healthy"),
                                5, "worker-1 (stopped since its start) reported not healthy")
        assert m["data"]["status"] == "down", m
    finally:
        s.resume_worker(pids[1])
