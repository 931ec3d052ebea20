"""JWT authentication (SPEC S4.6, S7) with an HS256 secret: a valid token
in any of the three carriers (Authorization: Bearer, ?token=,
Sec-WebSocket-Protocol) gets normal service; an expired, forged, unsigned,
not-yet-valid or missing one completes the handshake, gets auth_error, then
close 1008."""

import json
import time
from urllib.parse import quote

from harness import expect_closed, recv_json, recv_until, timeout
from ragkit import QueryStream, check_answer, ensure_samples, make_jwt

SECRET = "s3cret-for-ragws-tests"


async def jwt_server(ctx):
    path = ctx.tmp / "jwt.secret"
    path.write_text(SECRET + "\n")  # the trailing newline is not part of the secret
    return await ctx.server({"auth.mode": "jwt", "auth.jwt_secret_file": str(path)})


async def served(qs, rid):
    await qs.query(rid, "How do workers share broadcasts?", max_results=2)
    final = await qs.final(rid)
    assert final["type"] == "complete", final
    check_answer(qs, rid)


@timeout(40)
async def test_valid_token_in_each_carrier(ctx):
    await ensure_samples()
    s = await jwt_server(ctx)
    tok = make_jwt(SECRET)

    ws = await ctx.ws(s, "/ws/query", headers={"Authorization": f"Bearer {tok}"})
    await served(QueryStream(ws), "hdr")

    ws = await ctx.ws(s, f"/ws/query?token={quote(tok)}")
    await served(QueryStream(ws), "qry")

    ws = await ctx.ws(s, "/ws/query", subprotocols=[tok])
    assert ws.subprotocol == tok, ws.response_headers
    await served(QueryStream(ws), "sub")

    ws = await ctx.ws(s, "/ws/query", subprotocols=["bearer", tok])
    assert ws.subprotocol == "bearer", ws.response_headers
    await served(QueryStream(ws), "sub2")

    # the other WebSocket endpoints accept it too
    chat = await ctx.ws(s, "/chat/ws", headers={"Authorization": f"Bearer {tok}"})
    await chat.send(json.dumps({"message": "How do workers share broadcasts?"}))
    m, _ = await recv_until(chat, lambda m: m["type"] in ("complete", "error"), 10)
    assert m["type"] == "complete" and m["message_id"] == "bot_1", m
    api = await ctx.ws(s, f"/api/v1/ws?token={quote(tok)}")
    await api.send(json.dumps({"type": "ping"}))
    m, _ = await recv_until(api, lambda m: m.get("type") == "pong", 5)


async def refused(ctx, s, path="/ws/query", why=None, **kw):
    ws = await ctx.ws(s, path, **kw)  # the handshake itself succeeds (101)
    m = await recv_json(ws, 5)
    assert m["type"] == "auth_error", m
    d = m["data"]
    assert d["code"] == "INVALID_TOKEN" and d["action"] == "reconnect_with_valid_token", m
    assert isinstance(d["message"], str) and d["message"], m
    if why:
        assert why in d["message"], (why, m)
    code, reason = await expect_closed(ws, 5)
    assert code == 1008, (code, reason)
    return m


@timeout(40)
async def test_bad_tokens_get_auth_error_then_1008(ctx):
    s = await jwt_server(ctx)
    now = int(time.time())
    expired = make_jwt(SECRET, {"iat": now - 7200, "exp": now - 3600})
    forged = make_jwt("not-the-secret")
    unsigned = make_jwt(SECRET, alg="none")
    early = make_jwt(SECRET, {"nbf": now + 3600})
    await refused(ctx, s, why="expired", headers={"Authorization": f"Bearer {expired}"})
    await refused(ctx, s, why="signature", headers={"Authorization": f"Bearer {forged}"})
    await refused(ctx, s, headers={"Authorization": f"Bearer {unsigned}"})
    await refused(ctx, s, headers={"Authorization": f"Bearer {early}"})
    await refused(ctx, s, why="missing")
    await refused(ctx, s, path=f"/ws/query?token={quote(expired)}", why="expired")
    await refused(ctx, s, subprotocols=[forged], why="signature")
    await refused(ctx, s, headers={"Authorization": "Bearer not.a.jwt"})
    # every WebSocket endpoint is protected (auth.endpoints empty)
    await refused(ctx, s, path="/chat/ws", why="missing")
    await refused(ctx, s, path="/api/v1/ws", headers={"Authorization": f"Bearer {forged}"})
    # a good token still works after all that
    ws = await ctx.ws(s, "/ws/query", headers={"Authorization": f"Bearer {make_jwt(SECRET)}"})
    await QueryStream(ws).alive()
