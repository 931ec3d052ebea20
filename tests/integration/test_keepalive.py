"""Keep-alive HTTP as browsers use it: REST calls and whole Engine.IO
long-polling sessions on ONE TCP connection (harness.HTTPConn), pipelined
requests, a long-poll GET answered at once because packets were queued
(it used to re-enter the request parser and kill the worker), the same GET
handed over to the session's worker on a reused connection, and a close
POSTed while a GET waits (that GET gets a noop, as engine.io answers)."""

import asyncio
import json

import harness

from harness import timeout
from ragkit import conversation_messages, ensure_samples, unique

SEP = "\x1e"
QUESTION = "How do workers share broadcasts?"
EIO = "/socket.io/?EIO=4&transport=polling"


def packets(status, body):
    assert status == 200, (status, body)
    return body.decode().split(SEP)


async def handshake(s, conn=None):
    status, h, body = await s.http("GET", EIO, conn=conn)
    assert status == 200 and body.startswith(b"0{"), (status, body)
    pooled = conn is not None or harness.KEEPALIVE_DEFAULT
    assert (h.get("connection") or "").lower() == ("keep-alive" if pooled else "close"), h
    return json.loads(body[1:])["sid"]


async def post(s, sid, *pkts, conn=None):
    status, _, body = await s.http("POST", f"{EIO}&sid={sid}", body=SEP.join(pkts).encode(),
                                   headers={"Content-Type": "text/plain;charset=UTF-8"},
                                   conn=conn)
    assert (status, body) == (200, b"ok"), (status, body)


async def get(s, sid, conn=None, timeout_s=5.0):
    status, _, body = await s.http("GET", f"{EIO}&sid={sid}", conn=conn, timeout=timeout_s)
    return packets(status, body)


def events(pkts):
    """[(name, data)] of the 42 event packets."""
    return [tuple(json.loads(p[2:])) for p in pkts if p.startswith("42")]


async def check_alive(s, pids):
    assert await s.worker_pids() == pids, "a worker died (pids changed)"
    assert s.sanitizer_report() is None, s.sanitizer_report()


@timeout(60)
async def test_polling_session_rounds_on_one_connection(ctx):
    s = await ctx.server()
    pids = await s.worker_pids()
    c = ctx.http_conn(s)
    sid = await handshake(s, c)
    # POST 40, then a GET that finds packets queued: answered at once.
    await post(s, sid, "40", conn=c)
    got = await get(s, sid, c)
    assert got[0].startswith('40{"sid":"'), got
    assert events(got) == [("connection_status", {"status": "connected",
                                                  "sid": json.loads(got[0][2:])["sid"]})], got
    # several rounds: event + ack, each answered by a GET with queued packets
    for i in range(5):
        await post(s, sid, f'42{i}["get_metadata",{{}}]', '42["ping",{}]', conn=c)
        seen = []
        while not (any(p.startswith(f"43{i}[") for p in seen)
                   and any(n == "pong" for n, _ in events(seen))):
            seen += await get(s, sid, c)
        ack = json.loads(next(p for p in seen if p.startswith(f"43{i}["))[2 + len(str(i)):])
        assert ack[0]["project_id"] is None and isinstance(ack[0]["connected_at"], int), ack
    await post(s, sid, '42["join_project",{"project_id":"ka"}]', conn=c)
    assert ("project_joined" in [n for n, _ in events(await get(s, sid, c))])
    # a GET that waits: answered by a room event sent on another connection
    parked = asyncio.ensure_future(get(s, sid, c, timeout_s=10))
    await asyncio.sleep(0.2)
    assert not parked.done()
    status, _, body = await s.http("POST", "/api/projects/ka/updates",
                                   body={"type": "note", "data": {"n": 1}})
    assert status == 202, (status, body)
    got = await parked
    assert [n for n, _ in events(got)] == ["project_update"], got
    assert events(got)[0][1]["data"] == {"n": 1}, got
    # REST on the same connection between polls
    status, _, body = await s.http("GET", "/health", conn=c)
    assert status == 200 and json.loads(body)["status"] == "ok", body
    # close: the session ends, the connection stays
    await post(s, sid, "1", conn=c)
    status, _, body = await s.http("GET", f"{EIO}&sid={sid}", conn=c)
    assert status == 400 and json.loads(body) == {"code": 1, "message": "Session ID unknown"}
    assert c.connections == 1 and not c.closed, "everything went over one connection"
    await check_alive(s, pids)


@timeout(60)
async def test_pipelined_poll_answered_at_once(ctx):
    """POST and GET written in one go: the GET finds the answers queued and
    is answered inside the parse of the same input; the request after it
    (still in the buffer) is answered next, in order."""
    s = await ctx.server()
    pids = await s.worker_pids()
    c = ctx.http_conn(s)
    sid = await handshake(s, c)
    hdr = {"Content-Type": "text/plain;charset=UTF-8"}
    for rnd in range(3):
        first = [("POST", f"{EIO}&sid={sid}", b"40", hdr)] if rnd == 0 else []
        answers = await c.pipeline(first + [
            ("POST", f"{EIO}&sid={sid}", b'421["get_metadata",{}]', hdr),
            ("GET", f"{EIO}&sid={sid}", None, None),
            ("GET", "/health", None, None),
            ("HEAD", "/health", None, None),
        ])
        assert [a[0] for a in answers] == [200] * len(answers), answers
        assert all(a[2] == b"ok" for a in answers[:len(first) + 1]), answers
        polled = answers[len(first) + 1][2].decode().split(SEP)
        if rnd == 0:
            assert polled[0].startswith("40{"), polled
        # the GET got what was queued at that moment; the rest on the next poll
        while not any(p.startswith("431[") for p in polled):
            polled += await get(s, sid, c)
        assert json.loads(answers[-2][2])["status"] == "ok", answers[-2]
        assert answers[-1][2] == b"" and int(answers[-1][1]["content-length"]) > 0, answers[-1]
    assert c.connections == 1 and not c.closed
    await check_alive(s, pids)


async def conn_on_other_slot(ctx, s, slot):
    """A keep-alive connection whose worker is not `slot` (found by a
    handshake on it: the sid names the worker that made the session)."""
    for _ in range(100):
        c = ctx.http_conn(s)
        sid = await handshake(s, c)
        if int(sid[:2], 16) != slot:
            return c, sid
        await c.aclose()
    raise AssertionError(f"no connection landed off worker slot {slot}")


@timeout(60)
async def test_handed_over_get_with_queued_packets_on_a_reused_connection(ctx):
    """The GET reaches the other worker on a connection that already served
    a request there; that worker hands the socket to the session's worker
    (conn_adopt), which answers it at once from the queue."""
    s = await ctx.server()
    pids = await s.worker_pids()
    assert len(pids) == 2, pids
    sid = await handshake(s)
    owner = int(sid[:2], 16)
    c, _ = await conn_on_other_slot(ctx, s, owner)
    await post(s, sid, "40")  # a new connection (any worker): packets get queued
    await asyncio.sleep(0.1)
    got = await get(s, sid, c)  # handed over, answered at once
    assert got[0].startswith("40{"), got
    # the connection now lives in the owner: more rounds on it, and REST
    for i in range(3):
        await post(s, sid, f'42{i}["get_metadata",{{}}]', conn=c)
        seen = []
        while not any(p.startswith(f"43{i}[") for p in seen):
            seen += await get(s, sid, c)
    status, _, body = await s.http("GET", "/health", conn=c)
    assert status == 200, body
    assert c.connections == 1 and not c.closed
    await check_alive(s, pids)


@timeout(60)
async def test_close_posted_while_get_waits_answers_noop(ctx):
    s = await ctx.server()
    pids = await s.worker_pids()
    c = ctx.http_conn(s)
    sid = await handshake(s, c)
    await post(s, sid, "40", conn=c)
    assert (await get(s, sid, c))[0].startswith("40{")
    parked = asyncio.ensure_future(get(s, sid, c, timeout_s=10))
    await asyncio.sleep(0.2)
    assert not parked.done()
    await post(s, sid, "1")  # another connection, maybe another worker (hand-over)
    assert await parked == ["6"], "engine.io answers the waiting GET with a noop"
    status, _, body = await s.http("GET", f"{EIO}&sid={sid}", conn=c)
    assert status == 400 and json.loads(body)["code"] == 1, body
    assert c.connections == 1
    await check_alive(s, pids)


@timeout(90)
async def test_rest_calls_and_pipelined_async_answers_on_one_connection(ctx):
    await ensure_samples()
    s = await ctx.server()
    pids = await s.worker_pids()
    c = ctx.http_conn(s)
    q = unique(QUESTION)
    status, h, body = await s.http("POST", "/api/query", body={"query": q, "max_results": 3},
                                   conn=c)
    assert status == 200, (status, body)
    assert (h.get("connection") or "").lower() == "keep-alive", h
    r = json.loads(body)
    assert "architecture.md" in r["answer"], r["answer"][:200]
    conv = r["conversation_id"]
    status, _, body = await s.http("GET", f"/api/conversations/{conv}/messages", conn=c)
    assert status == 200, body
    msgs = json.loads(body)["messages"]
    assert [(m["role"], m["content"]) for m in msgs] == [("user", q), ("assistant", r["answer"])]
    status, _, body = await s.http("GET", "/api/collections", conn=c)
    assert status == 200 and any(x["name"] == "documents"
                                 for x in json.loads(body)["collections"]), body
    # pipelined: two async answers (a RAG job, a query) around sync ones
    q2 = unique(QUESTION)
    answers = await c.pipeline([
        ("POST", "/api/query", {"query": q2, "mode": "fast"}, None),
        ("GET", "/health", None, None),
        ("GET", "/api/collections/documents", None, None),
        ("GET", "/api/conversations/999999999/messages", None, None),
        ("POST", "/api/query", {"query": ""}, None),
    ], timeout=30)
    assert [a[0] for a in answers] == [200, 200, 200, 404, 400], [(a[0], a[2][:80]) for a in answers]
    r2 = json.loads(answers[0][2])
    assert r2["processing_mode"] == "fast" and r2["conversation_id"] != conv, r2
    assert json.loads(answers[1][2])["status"] == "ok"
    assert json.loads(answers[2][2])["name"] == "documents"
    assert json.loads(answers[3][2])["error"]["code"] == "NOT_FOUND"
    assert json.loads(answers[4][2])["error"]["code"] == "VALIDATION_ERROR", answers[4]
    stored = await conversation_messages(r2["conversation_id"])
    assert [m["content"] for m in stored] == [q2, r2["answer"]], stored
    assert c.connections == 1 and not c.closed
    await check_alive(s, pids)
