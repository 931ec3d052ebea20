"""Broadcast fan-out across workers (SPEC S1, S4.1, S8): /ws/publish, POST
/api/broadcast and `ragws publish` reach every subscriber of the channel on
every worker, exactly once, in publish order; a lapped worker tells its
subscribers to resync."""

import asyncio
import json

from harness import compact, free_port, recv_json, run_cli, timeout

FAST = {"limits.rate_limit": "100000", "limits.rate_burst": "100000"}


def message(i):
    # nested values, unicode and escapes: the payload must arrive byte-exact
    return {"type": "indexing_progress", "seq": i, "filename": f"doc-{i}.pdf",
            "stage": "chunking", "note": "héllo ✓ \"quoted\" \\ tab\t",
            "nested": {"list": [1, 2, {"deep": None}], "flag": i % 2 == 0}}


async def collect(ws, n, timeout=20.0):
    """n raw text messages, in arrival order."""
    out = []
    for _ in range(n):
        out.append(await asyncio.wait_for(ws.recv(), timeout))
    return out


async def assert_nothing_pending(subs, pub_send):
    """Exactly once: after the expected messages, the next one every
    subscriber sees is a fresh sentinel (nothing duplicated in between)."""
    await pub_send({"sentinel": True})
    for ws in subs:
        got = await asyncio.wait_for(ws.recv(), 10)
        assert got == compact({"sentinel": True}), f"extra message before the sentinel: {got[:200]}"


@timeout(60)
async def test_publish_ws_reaches_every_subscriber_once_in_order(ctx):
    s = await ctx.server(FAST)
    conns = await ctx.ws_spread(s, 12)
    slots = {slot for _, slot in conns}
    assert slots == {0, 1}, slots
    subs = [ws for ws, _ in conns]
    pub = await ctx.ws(s, "/ws/publish")
    expected = [compact(message(i)) for i in range(200)]
    for i in range(200):
        await pub.send(json.dumps({"channel": "global", "message": message(i)}))
    results = await asyncio.gather(*(collect(ws, 200) for ws in subs))
    for (ws, slot), got in zip(conns, results):
        if got != expected:
            bad = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
            raise AssertionError(f"subscriber on worker {slot}: message {bad} is {got[bad][:120]!r}, "
                                 f"expected {expected[bad][:120]!r}")

    async def send(m):
        await pub.send(json.dumps({"channel": "global", "message": m}))

    await assert_nothing_pending(subs, send)
    m = await s.metrics()
    assert m["ragws_slow_consumers_total"] == 0
    assert m["ragws_ring_overruns_total"] == 0


@timeout(60)
async def test_rest_broadcast_and_cli_publish(ctx):
    s = await ctx.server()
    conns = await ctx.ws_spread(s, 10)
    subs = [ws for ws, _ in conns]

    # POST /api/broadcast, 20 messages
    for i in range(20):
        status, _, body = await s.http("POST", "/api/broadcast",
                                       body={"channel": "global", "message": message(i)})
        assert status == 202, (status, body)
        assert json.loads(body) == {"status": "published", "channel": "global"}, body
    expected = [compact(message(i)) for i in range(20)]
    for got in await asyncio.gather(*(collect(ws, 20) for ws in subs)):
        assert got == expected

    # ragws publish (the CLI of the same binary)
    listen = f"server.listen=127.0.0.1:{s.port}"
    for i in range(3):
        rc, out, err = await run_cli(["publish", "global", json.dumps({"cli": i, "text": "ünï"}),
                                      "-c", "ragws.conf", "-o", listen])
        assert rc == 0, (rc, out, err)
        assert "published" in out, out
    expected = [compact({"cli": i, "text": "ünï"}) for i in range(3)]
    for got in await asyncio.gather(*(collect(ws, 3) for ws in subs)):
        assert got == expected

    async def send(m):
        status, _, _ = await s.http("POST", "/api/broadcast", body={"channel": "global", "message": m})
        assert status == 202

    await assert_nothing_pending(subs, send)

    # CLI errors: bad JSON, bad channel, no server
    rc, out, err = await run_cli(["publish", "global", "{nope", "-c", "ragws.conf", "-o", listen])
    assert rc != 0 and err, (rc, out, err)
    rc, out, err = await run_cli(["publish", "bad channel", "{}", "-c", "ragws.conf", "-o", listen])
    assert rc != 0 and err, (rc, out, err)
    rc, out, err = await run_cli(["publish", "global", "{}", "-c", "ragws.conf",
                                  "-o", f"server.listen=127.0.0.1:{free_port()}"])
    assert rc != 0 and err, ("publish to a port nobody listens on", rc, out, err)


async def test_channels_are_separate(ctx):
    s = await ctx.server()
    api = await ctx.ws(s, "/api/v1/ws")
    mon = await ctx.ws(s, "/ws/monitor")
    for ch, msg in (("elsewhere", {"x": 1}), ("monitor", {"type": "custom_panel", "v": 2}),
                    ("global", {"x": 3})):
        status, _, body = await s.http("POST", "/api/broadcast", body={"channel": ch, "message": msg})
        assert status == 202, (status, body)
    assert await recv_json(api) == {"x": 3}  # nothing from the other channels first
    while True:  # the monitor gets its own channel (skipping periodic metrics)
        m = await recv_json(mon)
        if m.get("type") == "custom_panel":
            assert m == {"type": "custom_panel", "v": 2}
            break
        assert m.get("type") in ("system_metrics", "service_status", "error_alert"), m


async def test_message_too_large_for_ring(ctx):
    s = await ctx.server({"shm.ring_size": "64KiB"})
    sub = await ctx.ws(s)
    pub = await ctx.ws(s, "/ws/publish")
    big = {"pad": "z" * 20000}
    await pub.send(json.dumps({"channel": "global", "message": big}))
    err = await recv_json(pub)
    assert err.get("type") == "error" and err["data"]["code"] == "VALIDATION_ERROR", err
    status, _, body = await s.http("POST", "/api/broadcast", body={"channel": "global", "message": big})
    assert status == 413, (status, body)
    # a message that fits still goes through
    await pub.send(json.dumps({"channel": "global", "message": {"small": 1}}))
    assert await recv_json(sub) == {"small": 1}


@timeout(60)
async def test_lapped_worker_sends_resync(ctx):
    s = await ctx.server({"shm.ring_size": "64KiB", **FAST})
    conns = await ctx.ws_spread(s, 6)
    pids = await s.worker_pids()
    victim = conns[0][1]
    victim_subs = [ws for ws, slot in conns if slot == victim]
    other_subs = [ws for ws, slot in conns if slot != victim]
    pub, pub_slot = await ctx.ws_on_slot(s, victim, "/ws/publish", want=False)
    assert pub_slot != victim

    n = 300
    pad = "p" * 1000
    s.pause_worker(pids[victim])
    try:
        # Batches of 10 (10 KB, well under the 64 KiB ring): the running
        # worker keeps up, only the stopped one is lapped. The running
        # worker's subscribers get everything, in order.
        for start in range(0, n, 10):
            for i in range(start, start + 10):
                await pub.send(json.dumps({"channel": "global", "message": {"i": i, "pad": pad}}))
            for ws in other_subs:
                got = [json.loads(x)["i"] for x in await collect(ws, 10)]
                assert got == list(range(start, start + 10)), got
    finally:
        s.resume_worker(pids[victim])

    # the stopped worker's subscribers are told first
    resyncs = {id(ws): [] for ws in victim_subs}
    for ws in victim_subs:
        first = await recv_json(ws, 10)
        assert first.get("type") == "resync", f"first message after the lap: {str(first)[:200]}"
        assert first.get("channel") == "global", first
        assert isinstance(first.get("missed"), int) and first["missed"] > 0, first
        resyncs[id(ws)].append(first["missed"])

    for i in range(n, n + 5):
        await pub.send(json.dumps({"channel": "global", "message": {"i": i, "pad": pad}}))
    for ws in other_subs:
        got = [json.loads(x)["i"] for x in await collect(ws, 5)]
        assert got == list(range(n, n + 5)), got

    for ws in victim_subs:
        ids = []
        while not ids or ids[-1] != n + 4:
            m = await recv_json(ws, 10)
            if m.get("type") == "resync":  # lapped again while catching up
                assert m.get("channel") == "global" and m.get("missed", 0) > 0, m
                resyncs[id(ws)].append(m["missed"])
                continue
            assert "i" in m, f"unexpected message: {str(m)[:200]}"
            ids.append(m["i"])
        assert ids == sorted(set(ids)), f"duplicates or reordering after resync: {ids}"
        assert ids[-5:] == list(range(n, n + 5)), ids[-10:]
        lost = n - sum(1 for i in ids if i < n)
        assert lost > 0, "nothing was lost, yet a resync was sent"
        assert sum(resyncs[id(ws)]) >= lost, \
            f"resync says missed={resyncs[id(ws)]} but {lost} messages never arrived"
    m = await s.metrics()
    assert m["ragws_ring_overruns_total"] >= 1, m["ragws_ring_overruns_total"]
