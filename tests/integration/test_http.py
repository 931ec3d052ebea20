"""HTTP side of the server: REST endpoints, the opening handshake's error
answers, request limits, keep-alive and pipelining, Origin and admin auth
(SPEC S4.0, S7, S8)."""

import asyncio
import base64
import json
import os

import websockets

from harness import assert_ready, build_request, eventually, parse_metrics, read_response, run_cli
from rawws import HandshakeRejected, RawWS

WS_PATHS = ("/api/v1/ws", "/ws/monitor", "/ws/publish")


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def upgrade_headers(**over):
    h = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": ws_key(),
         "Sec-WebSocket-Version": "13"}
    h.update(over)
    return h


def error_body(body):
    obj = json.loads(body)
    assert set(obj) == {"error"}, obj
    assert isinstance(obj["error"]["code"], str) and obj["error"]["code"], obj
    assert isinstance(obj["error"]["message"], str) and obj["error"]["message"], obj
    return obj["error"]


async def exchange(server, raw: bytes, timeout=5.0):
    """Send raw request bytes on a new connection, read one response."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(raw)
        await writer.drain()
        return await read_response(reader, timeout)
    finally:
        writer.close()


async def test_health_ready_and_errors(ctx):
    s = await ctx.server()
    status, h, body = await s.http("GET", "/health")
    assert status == 200, (status, body)
    assert h["content-type"].startswith("application/json"), h
    assert json.loads(body) == {"status": "ok"}, body

    status, h, body = await s.http("GET", "/ready")
    assert_ready(status, body, 2)

    status, h, body = await s.http("GET", "/no/such/thing")
    assert status == 404, (status, body)
    assert h["content-type"].startswith("application/json"), h
    assert error_body(body)["code"] == "NOT_FOUND", body

    status, h, body = await s.http("POST", "/health", body={})
    assert status == 405, (status, body)
    error_body(body)

    status, h, body = await s.http("GET", "/api/broadcast")
    assert status == 405, (status, body)
    error_body(body)


async def test_metrics_prometheus_text(ctx):
    s = await ctx.server()
    status, h, body = await s.http("GET", "/metrics")
    assert status == 200, status
    assert h["content-type"].startswith("text/plain"), h
    text = body.decode()
    samples = parse_metrics(text)  # every sample line parses
    typed = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    for name in ("ragws_ws_connections", "ragws_slow_consumers_total",
                 "ragws_keepalive_timeouts_total", "ragws_handshake_timeouts_total",
                 "ragws_rejected_full_total", "ragws_rate_limited_total",
                 "ragws_ring_overruns_total", "ragws_errors_total", "ragws_workers"):
        assert name in samples, f"{name} missing from /metrics"
        assert name in typed, f"{name} has no # TYPE line"
    assert "ragws_worker_connections" in typed
    # every sample belongs to a declared family
    for key in samples:
        base = key.split("{")[0]
        fam = base
        for suffix in ("_bucket", "_sum", "_count"):
            if base.endswith(suffix) and base[: -len(suffix)] in typed:
                fam = base[: -len(suffix)]
        assert fam in typed, f"sample {key} has no # TYPE line"
    assert samples["ragws_workers"] == 2, samples["ragws_workers"]
    workers = await s.workers()
    assert len(workers) == 2 and len({w["pid"] for w in workers}) == 2, workers
    assert {w["slot"] for w in workers} == {0, 1}, workers


async def test_handshake_rejections(ctx):
    s = await ctx.server()
    host = f"{s.host}:{s.port}"

    # wrong method with upgrade headers
    status, h, body = await exchange(s, build_request("POST", "/api/v1/ws", host, body="",
                                                      headers=upgrade_headers(), close=False))
    assert status == 400, (status, body)
    error_body(body)

    # missing and malformed Sec-WebSocket-Key
    for key in (None, "abc", "not base64 at all!!!!!==", base64.b64encode(os.urandom(15)).decode(),
                base64.b64encode(os.urandom(17)).decode()):
        status, h, body = await exchange(s, build_request(
            "GET", "/api/v1/ws", host, headers=upgrade_headers(**{"Sec-WebSocket-Key": key}),
            close=False))
        assert status == 400, (key, status, body)
        error_body(body)

    # missing Connection: Upgrade
    status, h, body = await exchange(s, build_request(
        "GET", "/api/v1/ws", host, headers=upgrade_headers(Connection="keep-alive"), close=False))
    assert status == 400, (status, body)

    # unsupported version: 426 naming the supported one
    status, h, body = await exchange(s, build_request(
        "GET", "/api/v1/ws", host, headers=upgrade_headers(**{"Sec-WebSocket-Version": "8"}),
        close=False))
    assert status == 426, (status, body)
    assert h.get("sec-websocket-version") == "13", h

    # plain GET on every WebSocket path: 426 Upgrade Required
    for path in WS_PATHS:
        status, h, body = await s.http("GET", path)
        assert status == 426, (path, status, body)
        assert "websocket" in (h.get("upgrade") or "").lower(), (path, h)

    # a correct handshake still works after all that
    ws = await RawWS.connect(s.host, s.port, "/api/v1/ws")
    assert ws.response_headers.get("x-ragws-worker") in ("0", "1"), ws.response_headers
    ws.close()


async def test_oversized_header_431(ctx):
    s = await ctx.server({"limits.max_header_bytes": "2KiB"})
    status, h, body = await s.http("GET", "/health", headers={"X-Big": "a" * 3000})
    assert status == 431, (status, body)
    error_body(body)
    # just under the limit is fine
    status, h, body = await s.http("GET", "/health", headers={"X-Big": "a" * 1500})
    assert status == 200, (status, body)
    # and the same on a WebSocket handshake
    try:
        await RawWS.connect(s.host, s.port, "/api/v1/ws", headers={"X-Big": "b" * 3000})
        raise AssertionError("oversized handshake accepted")
    except HandshakeRejected as e:
        assert e.status == 431, e.status


async def test_body_over_max_body_bytes_413(ctx):
    s = await ctx.server({"limits.max_body_bytes": "1KiB"})
    big = json.dumps({"channel": "global", "message": {"x": "y" * 2000}})
    status, h, body = await s.http("POST", "/api/broadcast", body=big)
    assert status == 413, (status, body)
    error_body(body)


async def test_keepalive_two_requests_one_connection(ctx):
    s = await ctx.server()
    host = f"{s.host}:{s.port}"
    reader, writer = await asyncio.open_connection(s.host, s.port)
    try:
        writer.write(build_request("GET", "/health", host, close=False))
        await writer.drain()
        status, h, body = await read_response(reader)
        assert status == 200 and json.loads(body) == {"status": "ok"}, (status, body)
        assert (h.get("connection") or "").lower() == "keep-alive", h
        writer.write(build_request("GET", "/ready", host, close=False))
        await writer.drain()
        status, h, body = await read_response(reader)
        assert_ready(status, body, 2)
        # Connection: close is honoured: answer, then EOF
        writer.write(build_request("GET", "/health", host, close=True))
        await writer.drain()
        status, h, body = await read_response(reader)
        assert status == 200, status
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()


async def test_pipelined_requests_answered_in_order(ctx):
    s = await ctx.server()
    host = f"{s.host}:{s.port}"
    reader, writer = await asyncio.open_connection(s.host, s.port)
    try:
        writer.write(build_request("GET", "/health", host, close=False)
                     + build_request("GET", "/nope", host, close=False)
                     + build_request("POST", "/api/broadcast", host,
                                     body={"channel": "global", "message": {"p": 1}}, close=False)
                     + build_request("GET", "/ready", host, close=True))
        await writer.drain()
        answers = [await read_response(reader) for _ in range(4)]
        assert [a[0] for a in answers[:3]] == [200, 404, 202], [a[:1] + (a[2],) for a in answers]
        assert json.loads(answers[0][2]) == {"status": "ok"}
        assert json.loads(answers[2][2])["status"] == "published"
        assert_ready(answers[3][0], answers[3][2], 2)
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()


async def test_origin_allow_list(ctx):
    s = await ctx.server({"cors.allowed_origins": "https://ok.example"})
    for path in ("/api/v1/ws", "/ws/monitor"):
        try:
            await RawWS.connect(s.host, s.port, path, headers={"Origin": "https://evil.example"})
            raise AssertionError(f"{path}: disallowed Origin accepted")
        except HandshakeRejected as e:
            assert e.status == 403, (path, e.status, e.body)
            error_body(e.body)
        ws = await RawWS.connect(s.host, s.port, path, headers={"Origin": "https://ok.example"})
        assert ws.status == 101
        ws.close()
    # matched ignoring case
    ws = await RawWS.connect(s.host, s.port, "/api/v1/ws", headers={"Origin": "HTTPS://OK.EXAMPLE"})
    ws.close()
    # a scheme or port mismatch is another origin
    for bad in ("http://ok.example", "https://ok.example:8443", "https://ok.example.evil"):
        try:
            await RawWS.connect(s.host, s.port, "/api/v1/ws", headers={"Origin": bad})
            raise AssertionError(f"Origin {bad} accepted")
        except HandshakeRejected as e:
            assert e.status == 403, (bad, e.status)
    # websockets client with the allowed origin
    ws = await ctx.ws(s, "/api/v1/ws", origin="https://ok.example")
    await ws.send('{"type":"ping"}')
    assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
    # REST: CORS header only for the allowed origin
    _, h, _ = await s.http("GET", "/health", headers={"Origin": "https://ok.example"})
    assert h.get("access-control-allow-origin") == "https://ok.example", h
    _, h, _ = await s.http("GET", "/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in h, h


async def test_admin_token(ctx):
    token = "s3cr3t-" + os.urandom(8).hex()
    tok_file = ctx.tmp / "admin.token"
    tok_file.write_text(token + "  \n")  # trailing whitespace is ignored
    s = await ctx.server({"auth.admin_token_file": str(tok_file)})
    sub = await ctx.ws(s, "/api/v1/ws")
    body = {"channel": "global", "message": {"n": 1}}

    status, h, resp = await s.http("POST", "/api/broadcast", body=body)
    assert status == 401, (status, resp)
    assert error_body(resp)["code"] == "UNAUTHORIZED", resp
    status, h, resp = await s.http("POST", "/api/broadcast", body=body,
                                   headers={"Authorization": "Bearer wrong"})
    assert status == 401, (status, resp)
    status, h, resp = await s.http("POST", "/api/broadcast", body=body,
                                   headers={"Authorization": f"Bearer {token}"})
    assert status == 202, (status, resp)
    assert json.loads(resp) == {"status": "published", "channel": "global"}, resp
    assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": 1}

    # /ws/publish
    for path, hdrs in (("/ws/publish", {}), ("/ws/publish?token=nope", {}),
                       ("/ws/publish", {"Authorization": "Bearer nope"})):
        try:
            await RawWS.connect(s.host, s.port, path, headers=hdrs)
            raise AssertionError(f"{path} {hdrs} accepted without the right token")
        except HandshakeRejected as e:
            assert e.status == 401, (path, e.status)
            assert error_body(e.body)["code"] == "UNAUTHORIZED"
    pub = await ctx.ws(s, f"/ws/publish?token={token}")
    await pub.send(json.dumps({"channel": "global", "message": {"n": 2}}))
    assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": 2}
    pub2 = await ctx.ws(s, "/ws/publish", headers={"Authorization": f"Bearer {token}"})
    await pub2.send(json.dumps({"channel": "global", "message": {"n": 3}}))
    assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": 3}
    try:
        await ctx.ws(s, "/ws/publish")
        raise AssertionError("websockets client accepted without a token")
    except websockets.InvalidStatusCode as e:
        assert e.status_code == 401

    # the CLI reads the same token file from the configuration
    listen = f"server.listen=127.0.0.1:{s.port}"
    rc, out, err = await run_cli(["publish", "global", '{"n":4}', "-c", "ragws.conf", "-o", listen,
                                  "-o", f"auth.admin_token_file={tok_file}"])
    assert rc == 0, (rc, out, err)
    assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": 4}
    rc, out, err = await run_cli(["publish", "global", '{"n":5}', "-c", "ragws.conf", "-o", listen])
    assert rc != 0, ("publish without the token succeeded", out, err)
    assert "401" in err, err


async def test_broadcast_rest_validation(ctx):
    s = await ctx.server()
    cases = [
        (b"{not json", 400, "INVALID_JSON"),
        ({"message": {"a": 1}}, 400, "VALIDATION_ERROR"),
        ({"channel": "global"}, 400, "VALIDATION_ERROR"),
        ({"channel": "global", "message": [1, 2]}, 400, "VALIDATION_ERROR"),
        ({"channel": "bad channel!", "message": {}}, 400, "VALIDATION_ERROR"),
        ({"channel": "x" * 65, "message": {}}, 400, "VALIDATION_ERROR"),
        ([1, 2, 3], 400, "VALIDATION_ERROR"),
    ]
    for body, want_status, want_code in cases:
        status, h, resp = await s.http("POST", "/api/broadcast", body=body)
        assert status == want_status, (body, status, resp)
        assert error_body(resp)["code"] == want_code, (body, resp)
    status, h, resp = await s.http("POST", "/api/broadcast",
                                   body={"channel": "a-b_c.d:e", "message": {}})
    assert status == 202, (status, resp)
    assert json.loads(resp) == {"status": "published", "channel": "a-b_c.d:e"}, resp


async def test_head_response_has_no_body(ctx):
    """RFC 9110 9.3.2: a HEAD response has no content. If the server sends
    the GET body anyway, a keep-alive client reads it as the next response."""
    s = await ctx.server()
    host = f"{s.host}:{s.port}"
    reader, writer = await asyncio.open_connection(s.host, s.port)
    try:
        writer.write(build_request("HEAD", "/health", host, close=False)
                     + build_request("GET", "/ready", host, close=True))
        await writer.drain()
        status, h, body = await read_response(reader, head_request=True)
        assert status == 200, status
        rest = await asyncio.wait_for(reader.read(), 5)
        assert rest.startswith(b"HTTP/1.1 200"), \
            f"bytes after the HEAD response head are not the next response: {rest[:60]!r}"
    finally:
        writer.close()


async def test_long_allowed_origin_gives_well_formed_response(ctx):
    """With allowed_origins=* any Origin is echoed in
    Access-Control-Allow-Origin; a long one (600 bytes, well under
    max_header_bytes) must still give a well-formed response."""
    s = await ctx.server({"cors.allowed_origins": "*"})
    origin = "https://" + "a" * 600 + ".example"
    status, h, body = await s.http("GET", "/health", headers={"Origin": origin})
    assert status == 200, status
    assert body == b'{"status":"ok"}', f"body {body[:80]!r}; headers {dict(h)}"
    assert h.get("access-control-allow-origin") in (origin, "*"), \
        f"Access-Control-Allow-Origin is {h.get('access-control-allow-origin', '')[-40:]!r}"


async def test_http_versions_and_transfer_encoding(ctx):
    s = await ctx.server()
    # HTTP/1.0: answered, then closed
    st, h, body = await exchange(s, b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
    assert st == 200 and json.loads(body) == {"status": "ok"}, (st, body)
    assert (h.get("connection") or "").lower() == "close", h
    # codings other than chunked are refused, not guessed
    st, h, body = await exchange(s, b"POST /api/broadcast HTTP/1.1\r\nHost: x\r\n"
                                    b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n")
    assert st == 501, (st, body)
    error_body(body)
    # a chunked body reaches a REST handler de-chunked
    msg = json.dumps({"channel": "global", "message": {"n": "é"}}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(msg[i:i + 7]), msg[i:i + 7])
                      for i in range(0, len(msg), 7))
    st, h, body = await exchange(s, b"POST /api/broadcast HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Type: application/json\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert st == 202, (st, body)
    # broken chunked framing: 400, and the connection closes
    st, h, body = await exchange(s, b"POST /api/broadcast HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Type: application/json\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert st == 400 and (h.get("connection") or "").lower() == "close", (st, h, body)
    st, h, body = await exchange(s, b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n")
    assert st == 505, (st, body)
    # garbage
    st, h, body = await exchange(s, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
    assert st == 400, (st, body)
    # CORS preflight
    st, h, body = await exchange(s, build_request("OPTIONS", "/api/broadcast", "x",
                                                  headers={"Origin": "https://a.example"}))
    assert st == 204, st
    assert "POST" in h.get("access-control-allow-methods", ""), h


async def test_keepalive_idle_timeout_is_not_a_handshake_timeout(ctx):
    s = await ctx.server({"limits.handshake_timeout": "0.5"})
    host = f"{s.host}:{s.port}"
    reader, writer = await asyncio.open_connection(s.host, s.port)
    try:
        writer.write(build_request("GET", "/health", host, close=False))
        await writer.drain()
        status, _, _ = await read_response(reader)
        assert status == 200
        t0 = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # idle keep-alive closed
        dt = asyncio.get_running_loop().time() - t0
        assert 0.3 <= dt <= 2.5, dt
    finally:
        writer.close()
    m = await s.metrics()
    assert m["ragws_handshake_timeouts_total"] == 0, m["ragws_handshake_timeouts_total"]


async def test_handshake_variants_accepted(ctx):
    s = await ctx.server()
    # browser-style headers: mixed case Upgrade, Connection with several tokens
    ws = await RawWS.connect(s.host, s.port, "/api/v1/ws",
                             headers={"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade"})
    await ws.send_text('{"type":"ping"}')
    op, data = await ws.recv_message()
    assert json.loads(data) == {"type": "pong"}
    ws.close()
    # a query string on the endpoint path
    ws = await RawWS.connect(s.host, s.port, "/api/v1/ws?client=test&x=%20y")
    ws.close()
    # a frame sent in the same packet as the handshake is not lost
    from rawws import OP_TEXT, encode_frame
    sock = await RawWS.open_socket(s.host, s.port)
    raw = RawWS(sock)
    req = build_request("GET", "/api/v1/ws", "x", headers=upgrade_headers(), close=False)
    await raw.send_raw(req + encode_frame(OP_TEXT, '{"type":"ping"}'))
    status, h, _ = await raw.read_http_response()
    assert status == 101, status
    op, data = await raw.recv_message()
    assert json.loads(data) == {"type": "pong"}, data
    raw.close()


async def test_max_connections_per_ip(ctx):
    s = await ctx.server({"limits.max_connections_per_ip": "2"})
    ok, refused = [], []
    for _ in range(8):
        try:
            ok.append(await ctx.raw(s))
        except (HandshakeRejected, ConnectionError, asyncio.IncompleteReadError, EOFError) as e:
            refused.append(e)
    per_slot = {}
    for r in ok:
        slot = r.response_headers["x-ragws-worker"]
        per_slot[slot] = per_slot.get(slot, 0) + 1
    assert 2 <= len(ok) <= 4 and all(n <= 2 for n in per_slot.values()), per_slot
    for e in refused:
        assert isinstance(e, HandshakeRejected) and e.status == 503, repr(e)
        assert e.headers.get("retry-after"), e.headers
    for r in ok:  # /metrics is a connection from the same IP too
        r.close()

    async def counted():
        try:
            return await s.metrics()
        except AssertionError:  # 503 while the closes are processed
            return None

    m = await eventually(counted, 3, what="/metrics below the per-IP limit")
    # (>=: a /metrics attempt refused while the closes were processed counts too)
    assert m["ragws_rejected_full_total"] >= len(refused), (m["ragws_rejected_full_total"], len(refused))
