"""The watching endpoints of the ingestion pipeline (SPEC S4.2, S4.7, S4.9;
seeds 000 and 004): /ws/upload and /ws/collections with their filters,
/ws/dashboard and /ws/metrics (figures computed once by the master),
/ws/active-tasks and /ws/task/{task_id}. Events are published through the
ring (admin /ws/publish) so a client on either worker sees them; the task
states come from the real tasks table."""

import asyncio
import json
import re
import time

from harness import expect_closed, recv_json, recv_until, timeout
from ragkit import apsql, sql_literal

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ$")
FAST = {"dashboard.metrics_interval": "200ms"}
FIGURES = ("active_tasks", "queued_tasks", "completed_tasks", "failed_tasks", "cancelled_tasks",
           "tasks_per_minute", "average_task_seconds", "pages_processed", "errors",
           "queue_length", "workers_busy", "max_parallel")
TASK_FIELDS = ("id", "task_id", "upload_id", "filename", "collection", "status", "progress",
               "document_id", "content_type", "size_bytes", "pages", "pages_done", "chunks",
               "attempts", "error", "created_at", "started_at", "finished_at")
FNAME = "Rapport d’été 2024 — élèves 🚀.pdf"


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_figures(m, kind):
    assert m["type"] == kind, m
    assert set(m) == {"type", "timestamp", "data"}, m
    assert TS.match(m["timestamp"]), m
    for f in FIGURES:
        assert f in m["data"] and is_num(m["data"][f]) and m["data"][f] >= 0, (f, m)
    assert m["data"]["queue_length"] == m["data"]["queued_tasks"], m


async def spread(ctx, s, path):
    """One client on worker 0 and one on worker 1."""
    conns = await ctx.ws_spread(s, 2, path)
    return [ws for ws, _ in sorted(conns, key=lambda c: c[1])]


# ---- /ws/dashboard and /ws/metrics ------------------------------------------


@timeout(40)
async def test_dashboard_snapshot_then_updates_same_numbers_on_both_workers(ctx):
    s = await ctx.server({**FAST, "ingest.max_parallel": "3"})
    dash = await spread(ctx, s, "/ws/dashboard")
    for ws in dash:  # the snapshot comes first, before any tick
        first = await recv_json(ws, 2)
        check_figures(first, "dashboard_update")
        assert first["data"]["max_parallel"] == 3, first
    by_ts = [{}, {}]
    stamps = []
    deadline = time.monotonic() + 10
    while len(set(by_ts[0]) & set(by_ts[1])) < 3:
        assert time.monotonic() < deadline, "the two dashboards never saw the same ticks"
        for i, ws in enumerate(dash):
            raw = await asyncio.wait_for(ws.recv(), 3)
            m = json.loads(raw)
            if m["type"] != "dashboard_update":
                continue
            check_figures(m, "dashboard_update")
            by_ts[i][m["timestamp"]] = raw
            if i == 0:
                stamps.append(time.monotonic())
    for t in set(by_ts[0]) & set(by_ts[1]):
        assert by_ts[0][t] == by_ts[1][t], (by_ts[0][t], by_ts[1][t])  # the same bytes
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert gaps and 0.1 < sum(gaps) / len(gaps) < 0.6, gaps  # every 200 ms


@timeout(30)
async def test_metrics_on_connect_then_every_interval(ctx):
    s = await ctx.server(FAST)
    ws = await ctx.ws(s, "/ws/metrics")
    t0 = time.monotonic()
    first = await recv_json(ws, 2)
    check_figures(first, "metrics")
    seen = [first["timestamp"]]
    while len(seen) < 4:
        m = await recv_json(ws, 2)
        check_figures(m, "metrics")
        seen.append(m["timestamp"])
    assert len(set(seen)) == 4, seen
    assert time.monotonic() - t0 < 2.5


@timeout(60)
async def test_threshold_exceeded_once_per_crossing(ctx):
    """Queued tasks counted by the workers' pollers (the real tasks table):
    over dashboard.queue_threshold raises one notification, not one per
    interval. max_parallel 1 and a long poll keep the queue up."""
    s = await ctx.server({**FAST, "dashboard.queue_threshold": "2", "ingest.max_parallel": "1",
                          "ingest.poll_interval": "1s"})
    dash = await ctx.ws(s, "/ws/dashboard")
    tag = f"seuil-{time.time_ns()}"
    await apsql("INSERT INTO tasks (status, filename, lease_owner, lease_until) SELECT 'queued', "
                f"{sql_literal(tag)} || ' ' || g || ' é.txt', 'another-node', "
                "now() + interval '1 hour' FROM generate_series(1, 6) g")
    try:
        note, _ = await recv_until(
            dash, lambda m: m["type"] == "notification"
            and m["data"].get("event") == "threshold_exceeded", 20, "threshold_exceeded")
        d = note["data"]
        assert set(d) >= {"level", "event", "message", "task_id"}, note
        assert TS.match(note["timestamp"]) and d["task_id"] is None, note
        assert "queue length" in d["message"], note
        # still over for the next intervals: no second notification
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            m = await recv_json(dash, 2)
            assert not (m["type"] == "notification" and "queue length" in m["data"]["message"]
                        ), m
    finally:
        await apsql(f"DELETE FROM tasks WHERE filename LIKE {sql_literal(tag + '%')}")


# ---- /ws/upload and /ws/collections ------------------------------------------


def upload_event(kind, upload_id, **data):
    return {"type": kind, "data": {"upload_id": upload_id, "filename": FNAME, **data}}


async def publish(pub, channel, message):
    await pub.send(json.dumps({"channel": channel, "message": message}, ensure_ascii=False))


async def drain(ws, quiet=0.6):
    """Every message until the connection is quiet for `quiet` seconds."""
    got = []
    while True:
        try:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
        except asyncio.TimeoutError:
            return got


@timeout(40)
async def test_upload_filter_across_workers(ctx):
    s = await ctx.server()
    mine, other = "upload_0123456789abcdef", "upload_fedcba9876543210"
    everyone = await spread(ctx, s, "/ws/upload")
    only_mine = await spread(ctx, s, f"/ws/upload?upload_id={mine}")
    only_other = await spread(ctx, s, f"/ws/upload?upload_id={other}")
    pub = await ctx.ws(s, "/ws/publish")
    sent = {mine: [], other: []}
    # what the task service does: the general channel and the filtered one
    for uid in (mine, other):
        for ev in (upload_event("upload_started", uid, file_size=2048576, estimated_time=15),
                   upload_event("upload_progress", uid, bytes_uploaded=1024, total_bytes=2048,
                                progress=0.5, speed_mbps=1.2),
                   upload_event("upload_complete", uid, document_id=7, total_time=1.5,
                                chunks_created=3, status="success")):
            sent[uid].append(ev)
            await publish(pub, "upload", ev)
            await publish(pub, f"upload:{uid}", ev)
    for ws in everyone:
        assert await drain(ws) == sent[mine] + sent[other]  # one publisher: its order
    for ws in only_mine:
        assert await drain(ws) == sent[mine]
    for ws in only_other:
        assert await drain(ws) == sent[other]


@timeout(40)
async def test_collections_filter_across_workers(ctx):
    s = await ctx.server()
    everyone = await spread(ctx, s, "/ws/collections")
    recherche = await spread(ctx, s, "/ws/collections?collection=recherche")
    pub = await ctx.ws(s, "/ws/publish")
    added = {"type": "document_added", "collection": "recherche",
             "data": {"document_id": 9, "filename": FNAME, "chunks_added": 18,
                      "timestamp": "2024-08-15T10:30:00.000Z"}}
    stats = {"type": "collection_stats", "collection": "autre",
             "data": {"total_documents": 51, "total_chunks": 768, "storage_size_mb": 127.3,
                      "last_updated": "2024-08-15T10:30:00.000Z"}}
    for ev in (added, stats):
        await publish(pub, "collections", ev)
        await publish(pub, f"collections:{ev['collection']}", ev)
    for ws in everyone:
        assert await drain(ws) == [added, stats]
    for ws in recherche:
        assert await drain(ws) == [added]


@timeout(30)
async def test_bad_filter_value_is_refused_then_1008(ctx):
    s = await ctx.server()
    for path in ("/ws/upload?upload_id=%FF%FE", "/ws/upload?upload_id=",
                 "/ws/collections?collection=" + "x" * 200, "/ws/collections?collection=a%00b",
                 "/ws/collections?collection=%zz"):
        r = await ctx.raw(s, path)
        code, reason, seen = await r.expect_close(5)
        assert code == 1008 and reason == "invalid query parameter", (path, code, reason)
        assert len(seen) == 1, (path, seen)
        err = json.loads(seen[0][1])
        assert err["type"] == "error" and err["data"]["code"] == "VALIDATION_ERROR", err
        assert "?" in err["data"]["message"], err
    # a percent-encoded UTF-8 name is a fine filter
    ws = await ctx.ws(s, "/ws/collections?collection=%C3%A9t%C3%A9%20%F0%9F%9A%80")
    await ws.send('{"type":"ping"}')
    assert await recv_json(ws) == {"type": "pong"}


# ---- /ws/active-tasks and /ws/task/{id} --------------------------------------


async def insert_task(tag, status="extracting", progress=0.25):
    """A task another node holds (lease far ahead): nobody here claims it."""
    rows = await apsql(
        "INSERT INTO tasks (status, filename, upload_id, progress, lease_owner, lease_until, "
        "started_at, attempts, content_type, size_bytes, pages, pages_done) VALUES ("
        f"{sql_literal(status)}, {sql_literal(tag + ' ' + FNAME)}, "
        f"'upload_' || substr(md5({sql_literal(tag)}), 1, 16), {progress}, 'another-node', "
        "now() + interval '1 hour', now(), 1, 'application/pdf', 2048576, 5, 2) RETURNING id")
    return int(rows[0][0])


def check_task(t):
    for f in TASK_FIELDS:
        assert f in t, (f, t)
    assert t["id"] == t["task_id"], t
    assert 0 <= t["progress"] <= 1, t
    assert TS.match(t["created_at"]), t


@timeout(40)
async def test_active_tasks_snapshot_then_updates(ctx):
    s = await ctx.server()
    tag = f"actives-{time.time_ns()}"
    tid = await insert_task(tag)
    try:
        clients = await spread(ctx, s, "/ws/active-tasks")
        for ws in clients:
            first = await recv_json(ws, 5)
            assert first["type"] == "active_tasks" and set(first) == {"type", "tasks"}, first
            mine = [t for t in first["tasks"] if t["id"] == tid]
            assert len(mine) == 1, first
            check_task(mine[0])
            assert mine[0]["filename"] == tag + " " + FNAME, mine
            assert mine[0]["status"] == "extracting" and mine[0]["progress"] == 0.25, mine
            assert mine[0]["pages"] == 5 and mine[0]["pages_done"] == 2, mine
        pub = await ctx.ws(s, "/ws/publish")
        upd = {"type": "task_update", "task": {**mine[0], "status": "chunking", "progress": 0.5}}
        await publish(pub, "tasks", upd)
        for ws in clients:
            m, _ = await recv_until(ws, lambda m: m["type"] == "task_update", 5)
            assert m == upd, m
    finally:
        await apsql(f"DELETE FROM tasks WHERE id = {tid}")


@timeout(40)
async def test_task_state_and_log_then_its_channel(ctx):
    s = await ctx.server()
    tag = f"tache-{time.time_ns()}"
    tid = await insert_task(tag, "indexing", 0.75)
    lines = ["réclamée par un autre nœud", "pdftotext : 5 pages 📄"]
    for i, line in enumerate(lines):
        await apsql("INSERT INTO task_logs (task_id, level, message, created_at) VALUES "
                    f"({tid}, 'info', {sql_literal(line)}, now() + interval '{i} ms')")
    try:
        for ws in await spread(ctx, s, f"/ws/task/{tid}"):
            first = await recv_json(ws, 5)
            assert first["type"] == "task_update" and set(first) == {"type", "task"}, first
            check_task(first["task"])
            assert first["task"]["id"] == tid and first["task"]["status"] == "indexing", first
            logs = [await recv_json(ws, 5) for _ in lines]
            for log, line in zip(logs, lines):
                assert set(log) == {"type", "task_id", "level", "message", "timestamp"}, log
                assert log["type"] == "task_log" and log["task_id"] == tid, log
                assert log["message"] == line and log["level"] == "info", log
        pub = await ctx.ws(s, "/ws/publish")
        other = await ctx.ws(s, f"/ws/task/{tid}")
        await recv_until(other, lambda m: m["type"] == "task_log"
                         and m["message"] == lines[-1], 5)
        line = {"type": "task_log", "task_id": tid, "level": "warning",
                "message": "page 3 illisible", "timestamp": "2024-08-15T10:30:00.000Z"}
        await publish(pub, f"task:{tid}", line)
        await publish(pub, f"task:{tid + 1}", {**line, "task_id": tid + 1})
        assert await drain(other) == [line]
    finally:
        await apsql(f"DELETE FROM tasks WHERE id = {tid}")


@timeout(30)
async def test_unknown_or_malformed_task_id_closes_4404(ctx):
    s = await ctx.server()
    rows = await apsql("SELECT coalesce(max(id), 0) + 1000000 FROM tasks")
    for tid in (rows[0][0], "abc", "0", "-3", "12x", "007", "%31", "99999999999999999999"):
        r = await ctx.raw(s, f"/ws/task/{tid}")
        code, reason, seen = await r.expect_close(5)
        assert (code, reason, seen) == (4404, "unknown task", []), (tid, code, reason, seen)


# ---- S4.0 on the new endpoints ------------------------------------------------


@timeout(30)
async def test_rules_on_the_watching_endpoints(ctx):
    from rawws import OP_TEXT
    s = await ctx.server()
    for path in ("/ws/dashboard", "/ws/upload", "/ws/metrics"):
        r = await ctx.raw(s, path)
        await r.send_text('{"type":"ping"}')
        while True:
            op, data = await r.recv_message(5)
            assert op == OP_TEXT, (op, data)
            if json.loads(data)["type"] == "pong":
                break
        await r.send_text("{pas du json")
        while True:
            op, data = await r.recv_message(5)
            m = json.loads(data)
            if m["type"] == "error":
                break
        assert m["data"]["code"] == "INVALID_JSON" and m["data"]["recoverable"] is True, m
        assert "line 1" in m["data"]["message"], m
        await r.send_text('{"type":"subscribe","channel":"élèves"}')
        while True:
            op, data = await r.recv_message(5)
            m = json.loads(data)
            if m["type"] == "error":
                break
        assert m["data"]["code"] == "UNKNOWN_TYPE" and "subscribe" in m["data"]["message"], m
        await r.send_binary(b"\x00\x01")
        code, _, _ = await r.expect_close(5)
        assert code == 1003, (path, code)
    ws = await ctx.ws(s, "/ws/active-tasks")
    await ws.send(b"\xff")
    code, _ = await expect_closed(ws)
    assert code == 1003
