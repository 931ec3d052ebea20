"""SPEC S4.0: the rules every WebSocket endpoint follows, each checked by
the close code, the error message or the counters the server reports."""

import asyncio
import json
import time

import websockets

from harness import eventually, expect_closed, recv_json, timeout
from rawws import OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, HandshakeRejected, RawWS, encode_frame

PING = '{"type":"ping"}'

# Every JSON WebSocket endpoint the rules apply to; endpoints this build
# does not have yet (plain GET is not a 426) are skipped.
JSON_ENDPOINTS = ("/api/v1/ws", "/ws/monitor", "/ws/publish", "/ws/query", "/chat/ws")


async def json_endpoints(s):
    found = []
    for path in JSON_ENDPOINTS:
        status, _, _ = await s.http("GET", path)
        if status == 426:
            found.append(path)
    assert "/api/v1/ws" in found, found
    return found


def assert_apiv1_error(msg, code):
    assert msg.get("type") == "error", msg
    content = msg.get("content")
    assert isinstance(content, dict), msg
    assert content.get("code") == code, msg
    assert isinstance(content.get("message"), str) and content["message"], msg
    return content["message"]


def assert_envelope_error(msg, code):
    assert msg.get("type") == "error", msg
    data = msg.get("data")
    assert isinstance(data, dict), msg
    assert data.get("code") == code, msg
    assert isinstance(data.get("message"), str) and data["message"], msg
    assert data.get("recoverable") is True, msg
    return data["message"]


async def ping_pong(ws):
    await ws.send(PING)
    assert await recv_json(ws) == {"type": "pong"}


async def test_invalid_utf8_text_frame_closes_1007(ctx):
    s = await ctx.server()
    for payload in (b'{"type":"\xff\xfe"}', b'{"x":"\xc0\xaf"}', b"\xed\xa0\x80"):
        ws = await RawWS.connect(s.host, s.port, "/api/v1/ws")
        await ws.send_frame(OP_TEXT, payload)
        code, reason, seen = await ws.expect_close()
        assert code == 1007, (payload, code, reason, seen)
        ws.close()
    # invalid UTF-8 in the second fragment of a message
    ws = await RawWS.connect(s.host, s.port, "/api/v1/ws")
    await ws.send_raw(encode_frame(OP_TEXT, b'{"type":"pi', fin=False)
                      + encode_frame(OP_CONT, b'ng\xff"}', fin=True))
    code, reason, _ = await ws.expect_close()
    assert code == 1007, (code, reason)
    ws.close()
    # and on the other JSON endpoints
    for path in await json_endpoints(s):
        ws = await RawWS.connect(s.host, s.port, path)
        await ws.send_frame(OP_TEXT, b"\xff")
        code, reason, _ = await ws.expect_close()
        assert code == 1007, (path, code, reason)
        ws.close()


async def test_binary_frame_closes_1003(ctx):
    s = await ctx.server()
    paths = await json_endpoints(s)
    for path in paths:
        ws = await ctx.ws(s, path)
        await ws.send(b'{"type":"ping"}')
        code, reason = await expect_closed(ws)
        assert code == 1003, (path, code, reason)
    m = await s.metrics()
    assert m["ragws_errors_total"] >= len(paths), m["ragws_errors_total"]


@timeout(40)
async def test_message_over_max_message_bytes_closes_1009(ctx):
    s = await ctx.server({"limits.max_message_bytes": "1KiB"})

    def sized(n):
        base = '{"type":"ping","pad":""}'
        msg = base[:-2] + "x" * (n - len(base)) + '"}'
        assert len(msg) == n
        return msg

    # exactly the limit is accepted
    ws = await ctx.ws(s)
    await ws.send(sized(1024))
    assert await recv_json(ws) == {"type": "pong"}
    # one byte over, and far over, are closed 1009
    for n in (1025, 2048):
        ws = await ctx.ws(s)
        await ws.send(sized(n))
        code, reason = await expect_closed(ws)
        assert code == 1009, (n, code, reason)
    # a fragmented message whose total is over the limit
    raw = await RawWS.connect(s.host, s.port, "/api/v1/ws")
    msg = sized(2048).encode()
    await raw.send_raw(b"".join(
        encode_frame(OP_TEXT if i == 0 else OP_CONT, msg[i:i + 512], fin=(i + 512 >= len(msg)))
        for i in range(0, len(msg), 512)))
    code, reason, _ = await raw.expect_close()
    assert code == 1009, (code, reason)
    raw.close()
    # on every JSON endpoint
    for path in await json_endpoints(s):
        r = await RawWS.connect(s.host, s.port, path)
        await r.send_frame(OP_TEXT, sized(2048))
        code, reason, _ = await r.expect_close()
        assert code == 1009, (path, code, reason)
        r.close()
    # the server is fine afterwards
    await ping_pong(await ctx.ws(s))


async def test_invalid_json_is_an_error_and_connection_survives(ctx):
    s = await ctx.server()
    ws = await ctx.ws(s)
    await ws.send('{"type":')
    text = assert_apiv1_error(await recv_json(ws), "INVALID_JSON")
    assert "line" in text or "column" in text or "position" in text, \
        f"INVALID_JSON should say where: {text!r}"
    await ping_pong(ws)
    await ws.send("not json at all")
    assert_apiv1_error(await recv_json(ws), "INVALID_JSON")
    await ws.send("")
    assert_apiv1_error(await recv_json(ws), "INVALID_JSON")
    await ping_pong(ws)


async def test_wrong_shape_is_validation_error(ctx):
    s = await ctx.server()
    ws = await ctx.ws(s)
    for bad in ("[1,2]", "[]", "{}", '{"type":5}', '{"type":null}', '{"type":["ping"]}',
                '{"content":{}}'):
        await ws.send(bad)
        assert_apiv1_error(await recv_json(ws), "VALIDATION_ERROR")
    await ping_pong(ws)


async def test_scalar_json_is_validation_error(ctx):
    """A JSON text that is valid but not an object ("a string", 42, null,
    true) has the wrong shape: VALIDATION_ERROR, not INVALID_JSON."""
    s = await ctx.server()
    ws = await ctx.ws(s)
    wrong = []
    for bad in ('"a string"', "42", "null", "true"):
        await ws.send(bad)
        msg = await recv_json(ws)
        assert msg.get("type") == "error", msg
        if msg["content"].get("code") != "VALIDATION_ERROR":
            wrong.append((bad, msg["content"]))
    await ping_pong(ws)
    assert not wrong, f"valid JSON scalars reported as: {wrong}"


async def test_unknown_type(ctx):
    s = await ctx.server()
    ws = await ctx.ws(s)
    await ws.send('{"type":"no_such_type","x":1}')
    text = assert_apiv1_error(await recv_json(ws), "UNKNOWN_TYPE")
    assert "no_such_type" in text, text
    await ping_pong(ws)


async def test_monitor_and_publish_error_shape(ctx):
    s = await ctx.server()
    mon = await ctx.ws(s, "/ws/monitor")
    await mon.send("{bad")
    assert_envelope_error(await recv_json(mon), "INVALID_JSON")
    await mon.send('{"type":"subscribe_everything"}')
    assert_envelope_error(await recv_json(mon), "UNKNOWN_TYPE")
    await mon.send("[]")
    assert_envelope_error(await recv_json(mon), "VALIDATION_ERROR")
    await mon.send(PING)
    assert await recv_json(mon) == {"type": "pong"}

    pub = await ctx.ws(s, "/ws/publish")
    for bad, code in (("{bad", "INVALID_JSON"), ('{"channel":"global"}', "VALIDATION_ERROR"),
                      ('{"channel":"global","message":"text"}', "VALIDATION_ERROR"),
                      ('{"channel":"","message":{}}', "VALIDATION_ERROR"),
                      ('{"message":{}}', "VALIDATION_ERROR")):
        await pub.send(bad)
        assert_envelope_error(await recv_json(pub), code)
    # a good one is silent and delivered
    sub = await ctx.ws(s)
    await pub.send('{"channel":"global","message":{"ok":true}}')
    assert await recv_json(sub) == {"ok": True}


async def test_rate_limit_errors_then_close_1008(ctx):
    s = await ctx.server({"limits.rate_limit": "5", "limits.rate_burst": "5",
                          "limits.rate_limit_strikes": "3"})
    ws = await RawWS.connect(s.host, s.port, "/api/v1/ws")
    # ten messages in one write: five fit the bucket, then strikes
    await ws.send_raw(b"".join(encode_frame(OP_TEXT, PING) for _ in range(10)))
    code, reason, seen = await ws.expect_close()
    msgs = [json.loads(d) for op, d in seen]
    pongs = [m for m in msgs if m == {"type": "pong"}]
    limited = [m for m in msgs if m.get("type") == "error"]
    assert len(pongs) == 5, msgs
    assert len(limited) == 2, msgs
    for m in limited:
        assert_apiv1_error(m, "RATE_LIMITED")
    assert code == 1008, (code, reason)
    ws.close()
    m = await s.metrics()
    assert m["ragws_rate_limited_total"] == 3, m["ragws_rate_limited_total"]

    # RATE_LIMITED is recoverable: after the bucket refills, messages pass
    ws = await ctx.ws(s)
    for _ in range(6):
        await ws.send(PING)
    got = [await recv_json(ws) for _ in range(6)]
    assert got.count({"type": "pong"}) == 5, got
    assert_apiv1_error(got[-1], "RATE_LIMITED")
    await asyncio.sleep(0.5)  # the token bucket refills with time: nothing to await
    await ping_pong(ws)
    m = await s.metrics()
    assert m["ragws_rate_limited_total"] == 4, m["ragws_rate_limited_total"]


@timeout(60)
async def test_slow_consumer_closed_1008_others_unaffected(ctx):
    s = await ctx.server({"limits.send_buffer_limit": "64KiB", "limits.rate_limit": "100000",
                          "limits.rate_burst": "100000"})
    good = [ws for ws, _ in await ctx.ws_spread(s, 2)]
    slow = await RawWS.connect(s.host, s.port, "/api/v1/ws", rcvbuf=4096)
    pub = await ctx.ws(s, "/ws/publish")
    pad = "x" * 8000
    sent = 0
    # Batches of 4 x 8 KB (half the limit): the good subscribers read each
    # batch before the next, so only the client that never reads falls behind.
    batch = 4
    while True:
        for _ in range(batch):
            await pub.send(json.dumps({"channel": "global", "message": {"i": sent, "pad": pad}}))
            sent += 1
        for ws in good:
            for i in range(sent - batch, sent):
                msg = await recv_json(ws, 10)
                assert msg["i"] == i, (msg.get("i"), i)
        if (await s.metrics())["ragws_slow_consumers_total"] >= 1:
            break
        assert sent * 8000 < 8 * 1024 * 1024, \
            f"no slow consumer after {sent * 8000} bytes to a client that does not read"
    # later messages still reach the good subscribers
    for j in range(10):
        await pub.send(json.dumps({"channel": "global", "message": {"i": f"end{j}"}}))
    for ws in good:
        for j in range(10):
            assert (await recv_json(ws, 10))["i"] == f"end{j}"
    m = await s.metrics()
    assert m["ragws_slow_consumers_total"] == 1, m["ragws_slow_consumers_total"]

    # the slow client now reads: a prefix of the stream, then close 1008
    try:
        code, reason, seen = await slow.expect_close(timeout=15)
    except EOFError:
        raise AssertionError("slow consumer: connection ended without a close frame "
                             "(expected close 1008 \"slow consumer\")")
    ids = [json.loads(d)["i"] for op, d in seen if op == OP_TEXT]
    assert ids == list(range(len(ids))), f"slow client got a gap or reordering: {ids[:20]}..."
    assert len(ids) < sent
    assert code == 1008, (code, reason)
    assert "slow consumer" in reason, reason
    slow.close()

    async def three_left():  # two good subscribers and the publisher
        return (await s.metric("ragws_ws_connections")) == 3

    await eventually(three_left, 5, what="ragws_ws_connections == 3")


@timeout(60)
async def test_fast_subscriber_survives_burst_over_send_buffer_limit(ctx):
    """send_buffer_limit bounds bytes a client has not taken; a subscriber
    that reads promptly must not be dropped just because one burst of
    broadcasts (here 160 KiB, in one write by the publisher) is larger
    than the limit."""
    s = await ctx.server({"limits.send_buffer_limit": "64KiB", "limits.rate_limit": "100000",
                          "limits.rate_burst": "100000"})
    subs = [ws for ws, _ in await ctx.ws_spread(s, 2)]
    pub = await RawWS.connect(s.host, s.port, "/ws/publish")
    pad = "y" * 8000
    await pub.send_raw(b"".join(
        encode_frame(OP_TEXT, json.dumps({"channel": "global", "message": {"i": i, "pad": pad}}))
        for i in range(20)))
    for ws in subs:
        got = []
        try:
            for _ in range(20):
                got.append((await recv_json(ws, 10))["i"])
        except websockets.ConnectionClosed as e:
            raise AssertionError(f"reading subscriber closed after {len(got)} of 20 messages: "
                                 f"{e.code} {e.reason!r}")
        assert got == list(range(20)), got
    m = await s.metrics()
    assert m["ragws_slow_consumers_total"] == 0, m["ragws_slow_consumers_total"]
    pub.close()


async def test_handshake_timeout_slowloris(ctx):
    s = await ctx.server({"limits.handshake_timeout": "0.5"})
    loop = asyncio.get_running_loop()
    # half a request, then nothing
    half = await RawWS.open_socket(s.host, s.port)
    await loop.sock_sendall(half, b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
    # nothing at all
    silent = await RawWS.open_socket(s.host, s.port)
    # a byte every 100 ms: still closed at the deadline counted from accept
    dribble = await RawWS.open_socket(s.host, s.port)
    t0 = time.monotonic()

    async def dribbler():
        req = b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        for i in range(len(req)):
            try:
                await loop.sock_sendall(dribble, req[i:i + 1])
            except OSError:
                return time.monotonic() - t0
            await asyncio.sleep(0.1)  # pacing of the attack itself
        return None

    async def until_eof(sock):
        while True:
            try:
                chunk = await loop.sock_recv(sock, 4096)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return time.monotonic() - t0

    drib_task = asyncio.ensure_future(dribbler())
    times = await asyncio.wait_for(
        asyncio.gather(until_eof(half), until_eof(silent), until_eof(dribble)), 5)
    drib_task.cancel()
    for t in times:
        assert 0.3 <= t <= 2.5, times
    for sock in (half, silent, dribble):
        sock.close()
    m = await s.metrics()
    assert m["ragws_handshake_timeouts_total"] == 3, m["ragws_handshake_timeouts_total"]
    # a prompt handshake is unaffected
    ws = await ctx.ws(s)
    await ping_pong(ws)


async def test_too_many_connections_503(ctx):
    s = await ctx.server({"limits.max_connections": "3"})
    conns = [await ctx.ws(s) for _ in range(3)]
    for path in ("/api/v1/ws", "/ws/monitor"):
        try:
            await RawWS.connect(s.host, s.port, path)
            raise AssertionError("4th connection accepted with max_connections=3")
        except HandshakeRejected as e:
            assert e.status == 503, (e.status, e.body)
            assert e.headers.get("retry-after"), e.headers
            assert int(e.headers["retry-after"]) >= 1
    m = await s.metrics()
    assert m["ragws_rejected_full_total"] == 2, m["ragws_rejected_full_total"]
    # plain HTTP still answers
    status, _, _ = await s.http("GET", "/health")
    assert status == 200
    # after one leaves, a new client gets in
    await conns[0].close()

    async def try_connect():
        try:
            ws = await RawWS.connect(s.host, s.port, "/api/v1/ws")
            ws.close()
            return True
        except HandshakeRejected:
            return False

    await eventually(try_connect, 3, what="a free connection slot")


@timeout(40)
async def test_keepalive_ping_timeout(ctx):
    s = await ctx.server({"limits.keepalive_interval": "0.3", "limits.keepalive_timeout": "0.3"})
    deaf = await RawWS.connect(s.host, s.port, "/api/v1/ws")
    polite = await RawWS.connect(s.host, s.port, "/api/v1/ws")
    lib = await ctx.ws(s)  # answers pings by itself
    t0 = time.monotonic()

    async def polite_reader(until):
        pings = 0
        while time.monotonic() < until:
            try:
                f = await polite.recv_frame(max(0.01, until - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if f.opcode == OP_PING:
                pings += 1
                await polite.send_pong(f.payload)
        return pings

    polite_task = asyncio.ensure_future(polite_reader(t0 + 2.5))
    frames = await deaf.wait_eof(timeout=5)
    dt = time.monotonic() - t0
    assert any(f.opcode == OP_PING for f in frames), f"server never pinged: {frames}"
    assert 0.3 <= dt <= 2.0, dt
    polite_pings = await polite_task
    assert polite_pings >= 3, polite_pings  # several intervals went by
    # the clients that answer are still connected
    await polite.send_text(PING)
    op, data = await polite.recv_message()
    assert json.loads(data) == {"type": "pong"}
    await ping_pong(lib)
    m = await s.metrics()
    assert m["ragws_keepalive_timeouts_total"] == 1, m["ragws_keepalive_timeouts_total"]
    assert m["ragws_ws_connections"] == 2, m["ragws_ws_connections"]
    deaf.close()
    polite.close()


async def test_close_handshake_completes_promptly(ctx):
    """After the Close frames have crossed, the server closes TCP (RFC 6455
    7.1.1): whether the client started the close, or the server did (an
    application close such as 1003, or a protocol close such as 1009/1007)."""
    s = await ctx.server({"limits.max_message_bytes": "1KiB"})
    slow = []

    async def eof_after_reply(r, what):
        t = time.monotonic()
        frames = await r.wait_eof(timeout=10)
        dt = time.monotonic() - t
        r.close()
        if dt > 1.0:
            slow.append(f"{what}: TCP closed {dt:.1f}s after the client's Close reply")
        return frames

    # client-initiated close: server echoes the code and closes
    r = await ctx.raw(s)
    await r.send_close(1000, "bye")
    frames = await eof_after_reply(r, "client close 1000")
    closes = [f for f in frames if f.opcode == OP_CLOSE]
    assert closes and closes[0].close_code == 1000, frames

    # server-initiated closes, client replies at once
    for what, payload, op, want in (("binary frame", b"\x01\x02", 0x2, 1003),
                                    ("2 KiB message", b'{"type":"ping","p":"' + b"x" * 2048 + b'"}',
                                     OP_TEXT, 1009),
                                    ("invalid UTF-8", b"\xff\xfe", OP_TEXT, 1007)):
        r = await ctx.raw(s)
        await r.send_frame(op, payload)
        code, reason, _ = await r.expect_close(reply=True)
        assert code == want, (what, code, reason)
        await eof_after_reply(r, f"{what} (close {want})")
    assert not slow, "; ".join(slow)


async def test_protocol_errors_close_1002(ctx):
    s = await ctx.server()
    cases = {
        "RSV1 without an extension": encode_frame(OP_TEXT, PING, rsv=4),
        "reserved opcode 0x3": encode_frame(0x3, b"x"),
        "unmasked client frame": encode_frame(OP_TEXT, PING, mask=False),
        "continuation without a start": encode_frame(OP_CONT, b"x"),
        "close code 999": encode_frame(OP_CLOSE, b"\x03\xe7"),
        "close code 1005 on the wire": encode_frame(OP_CLOSE, b"\x03\xed"),
        "close with a 1-byte payload": encode_frame(OP_CLOSE, b"\x03"),
    }
    wrong = []
    for what, data in cases.items():
        r = await ctx.raw(s)
        await r.send_raw(data)
        try:
            code, reason, _ = await r.expect_close(timeout=5)
        except EOFError:
            code = "no close frame"
        if code != 1002:
            wrong.append((what, code))
        r.close()
    # invalid UTF-8 in a close reason is 1007
    r = await ctx.raw(s)
    await r.send_frame(OP_CLOSE, b"\x03\xe8\xff\xfe")
    code, _, _ = await r.expect_close()
    assert code == 1007, code
    assert not wrong, wrong


async def test_bad_control_frames_close_1002(ctx):
    """A ping over 125 bytes or a fragmented ping is a protocol error; the
    server should say so with close 1002 (RFC 6455 7.1.7), not just drop
    the TCP connection."""
    s = await ctx.server()
    wrong = []
    for what, data in (("126-byte ping", encode_frame(OP_PING, b"x" * 126)),
                       ("fragmented ping", encode_frame(OP_PING, b"x", fin=False))):
        r = await ctx.raw(s)
        await r.send_raw(data)
        try:
            code, _, _ = await r.expect_close(timeout=5)
        except EOFError:
            code = "TCP closed without a close frame"
        if code != 1002:
            wrong.append((what, code))
        r.close()
    assert not wrong, wrong


async def test_client_close_codes_are_echoed(ctx):
    """The server answers a client's Close with the same code. 1012, 1013
    and 1014 are registered codes (IANA); wslay alone answers them with
    1002 (SPEC S12)."""
    s = await ctx.server()
    wrong = []
    for code in (1000, 1001, 1003, 1008, 1011, 1012, 1013, 1014, 3000, 4999):
        r = await ctx.raw(s)
        await r.send_close(code, "bye")
        got, _, _ = await r.expect_close(reply=False)
        if got != code:
            wrong.append((code, got))
        r.close()
    assert not wrong, f"(sent, answered): {wrong}"


async def test_pings_fragments_and_split_frames(ctx):
    s = await ctx.server()
    r = await ctx.raw(s)
    # a ping is answered with the same payload
    await r.send_ping(b"hello")
    f = await r.recv_frame()
    assert f.opcode == 0xA and f.payload == b"hello", f
    # a fragmented message with a ping between the fragments
    msg = PING.encode()
    await r.send_raw(encode_frame(OP_TEXT, msg[:5], fin=False) + encode_frame(OP_PING, b"mid")
                     + encode_frame(OP_CONT, msg[5:10], fin=False)
                     + encode_frame(OP_CONT, msg[10:], fin=True))
    # the control pong and the text reply, in either order
    frames = [await r.recv_frame(), await r.recv_frame()]
    assert sorted(f.opcode for f in frames) == [OP_TEXT, 0xA], frames
    for f in frames:
        if f.opcode == 0xA:
            assert f.payload == b"mid", f
        else:
            assert json.loads(f.payload) == {"type": "pong"}, f
    # a frame delivered one byte at a time (16-bit length form, 200 bytes)
    big = json.dumps({"type": "ping", "pad": "q" * 170}).encode()
    frame = encode_frame(OP_TEXT, big)
    assert frame[1] & 0x7F == 126
    for i in range(len(frame)):
        await r.send_raw(frame[i:i + 1])
        if i < 12:
            await asyncio.sleep(0.005)  # pacing: separate reads for the header bytes
    op, data = await r.recv_message()
    assert json.loads(data) == {"type": "pong"}, data
    # two messages in one packet
    await r.send_raw(encode_frame(OP_TEXT, PING) + encode_frame(OP_TEXT, PING))
    for _ in range(2):
        op, data = await r.recv_message()
        assert json.loads(data) == {"type": "pong"}
