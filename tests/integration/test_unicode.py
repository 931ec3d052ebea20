"""Non-ASCII text (French with accents, emoji, 4-byte characters, long runs
of "é" that cross every truncation limit) in the fields of every WebSocket
endpoint and of REST, error paths included (issue 7, crash 2). Every error
must carry its code and a non-empty message that is valid UTF-8 (the
clients here decode strictly), quote the input cut on a character boundary,
and no worker may die. A normal question still gets a full answer whose
accented text survives the round trip through PostgreSQL."""

import asyncio
import json

from harness import compact, recv_json, recv_until, timeout
from ragkit import apsql, conversation_messages, ensure_samples, sql_literal, unique

FRENCH = "Qu'est-ce que l'élève a répondu ?"
EMOJI = "𝄞😀"  # 4-byte characters
# "a" + "é" * k: 1 + 2k bytes, crossing the old %.64s, %.100s, %.120s and
# %.200s cuts at an odd byte (inside a character) and at an even one.
LONG_TYPES = ["a" + "é" * k for k in (31, 32, 40, 49, 50, 59, 60, 99, 100, 120, 200)] + \
             ["b" + EMOJI * 30, EMOJI * 17 + "é"]
QUOTE_MAX = 64  # bytes of the client's text an error message quotes


def dumps(obj):
    """JSON with the non-ASCII characters sent raw (UTF-8), not escaped."""
    return json.dumps(obj, ensure_ascii=False)


def check_quote(message, sent):
    """The error message quotes a prefix of `sent`, cut on a character
    boundary, at most QUOTE_MAX bytes and as long as fits."""
    assert isinstance(message, str) and message, message
    start = message.index('"') + 1
    quoted = message[start:message.index('"', start)]
    assert sent.startswith(quoted), (quoted, sent)
    n = len(quoted.encode())
    full = len(sent.encode())
    assert n == full if full <= QUOTE_MAX else QUOTE_MAX - 3 <= n <= QUOTE_MAX, (n, full, quoted)
    return quoted


async def same_workers(s, before):
    assert await s.worker_pids() == before, "a worker died"


# ---------------------------------------------------------------------------
# /api/v1/ws


@timeout(60)
async def test_apiv1_unicode_errors_and_answer(ctx):
    await ensure_samples()
    s = await ctx.server()
    pids = await s.worker_pids()
    ws = await ctx.ws(s, "/api/v1/ws")
    for t in LONG_TYPES:
        await ws.send(dumps({"type": t, "content": {"question": t}}))
        m = await recv_json(ws)
        assert m["type"] == "error" and m["content"]["code"] == "UNKNOWN_TYPE", m
        check_quote(m["content"]["message"], t)
    # invalid JSON around accents, a lone surrogate escape, wrong shapes
    for bad, code in (('{"type":"é', "INVALID_JSON"), ('{"type":"\\ud800"}', "INVALID_JSON"),
                      ('{"type": é}', "INVALID_JSON"), (dumps({"type": ["é"]}), "VALIDATION_ERROR"),
                      (dumps({"type": "query", "content": {"question": ""}}), "VALIDATION_ERROR")):
        await ws.send(bad)
        m = await recv_json(ws)
        assert m["type"] == "error" and m["content"]["code"] == code, (bad, m)
        assert m["content"]["message"], m
    q = unique(FRENCH + " " + EMOJI)
    await ws.send(dumps({"type": "query", "content": {"question": q, "context": {}}}))
    m, _ = await recv_until(ws, lambda m: m["type"] in ("response", "error"), 20, "response")
    assert m["type"] == "response", m
    assert isinstance(m["content"]["answer"], str) and m["content"]["answer"], m
    rows = await apsql("SELECT count(*) FROM messages WHERE role = 'user' AND content = "
                       f"{sql_literal(q)}")
    assert rows == [("1",)], rows
    await same_workers(s, pids)


# ---------------------------------------------------------------------------
# /ws/query


@timeout(60)
async def test_query_unicode_errors_request_id_and_round_trip(ctx):
    await ensure_samples()
    s = await ctx.server()
    pids = await s.worker_pids()
    ws = await ctx.ws(s, "/ws/query")
    for t in LONG_TYPES:
        await ws.send(dumps({"type": t, "request_id": "r-" + t[:5], "data": {}}))
        m = await recv_json(ws)
        assert m["type"] == "error" and m["request_id"] == "r-" + t[:5], m
        assert m["data"]["code"] == "UNKNOWN_TYPE" and m["data"]["recoverable"] is True, m
        check_quote(m["data"]["message"], t)
    # input that cannot be parsed: the error still carries "request_id": null
    # (the seed's clients read message['request_id'] on every frame)
    for bad, code in (('{"type":"query","request_id":"é', "INVALID_JSON"),
                      ("é" * 50, "INVALID_JSON"), ('{"type":"\\udc00"}', "INVALID_JSON"),
                      (dumps(["é"]), "VALIDATION_ERROR")):
        await ws.send(bad)
        raw = await asyncio.wait_for(ws.recv(), 5)
        m = json.loads(raw)
        assert "request_id" in m and m["request_id"] is None, (bad, raw)
        assert m["type"] == "error" and m["data"]["code"] == code, (bad, m)
        assert m["data"]["message"] and m["data"]["details"]["error"], m
    # a readable request_id is named even when the message is refused
    await ws.send(dumps({"request_id": "r1", "data": {}}))
    m = await recv_json(ws)
    assert m["request_id"] == "r1" and m["data"]["code"] == "VALIDATION_ERROR", m
    # validation errors name the request_id, accents and emoji included
    rid = "réq-" + EMOJI
    await ws.send(dumps({"type": "query", "request_id": rid, "data": {"query": "é", "mode": "é" * 99}}))
    m = await recv_json(ws)
    assert m["request_id"] == rid and m["data"]["code"] == "VALIDATION_ERROR", m
    # config with a non-ASCII language, reals with few digits
    await ws.send(dumps({"type": "config", "request_id": "c-é", "data": {"language": "français",
                                                                         "temperature": 0.1}}))
    raw = await asyncio.wait_for(ws.recv(), 5)
    m = json.loads(raw)
    assert m["type"] == "config_updated" and m["request_id"] == "c-é", m
    assert m["data"]["language"] == "français" and '"temperature":0.1}' in raw, raw
    # a normal question: full answer, progress sent as 0.1 (not 0.10000000000000001)
    q = unique(FRENCH + " " + EMOJI)
    await ws.send(dumps({"type": "query", "request_id": rid, "data": {"query": q}}))
    raws, text = [], []
    while True:
        raw = await asyncio.wait_for(ws.recv(), 20)
        raws.append(raw)
        m = json.loads(raw)
        assert m["request_id"] == rid, m
        if m["type"] == "token" and not m["data"]["is_complete"]:
            text.append(m["data"]["content"])
        if m["type"] in ("complete", "error"):
            break
    assert m["type"] == "complete", m
    assert any('"progress":0.1,' in r for r in raws), raws[:3]
    assert not any("0000000000" in r for r in raws), [r for r in raws if "0000000000" in r][:1]
    conv = m["data"]["conversation_id"]
    # round trip: PostgreSQL and back through the conversation history REST
    status, _, body = await s.http("GET", f"/api/conversations/{conv}/messages")
    assert status == 200, (status, body)
    hist = json.loads(body.decode("utf-8"))
    assert [(x["role"], x["content"]) for x in hist["messages"]] == [
        ("user", q), ("assistant", "".join(text))], hist["messages"]
    await same_workers(s, pids)


# ---------------------------------------------------------------------------
# /chat/ws


async def chat_turn(ws, text):
    await ws.send(dumps({"message": text, "timestamp": "2025-12-26T14:54:04.068Z"}))
    chunks = []
    while True:
        m = await recv_json(ws, 20)
        if m["type"] == "chunk":
            chunks.append(m["text"])
        else:
            assert m["type"] == "complete", m
            return m, "".join(chunks)


@timeout(60)
async def test_chat_unicode_unknown_type_and_reactions(ctx):
    await ensure_samples()
    s = await ctx.server()
    pids = await s.worker_pids()
    ws = await ctx.ws(s, "/chat/ws")
    # a reaction before any answer: refused, nothing stored
    await ws.send(dumps({"type": "reaction", "message_id": "bot_1", "reaction": "👍"}))
    m = await recv_json(ws)
    assert m["type"] == "error" and m["code"] == "UNKNOWN_MESSAGE_ID", m
    assert m["message"] and m["message_id"] == "bot_1", m
    for t in LONG_TYPES:
        await ws.send(dumps({"type": t, "message": t}))
        m = await recv_json(ws)
        assert m["type"] == "error" and m["code"] == "UNKNOWN_TYPE", m
        check_quote(m["message"], t)
    for bad, code in (('{"message":"é', "INVALID_JSON"), ('{"message":"\\ud83d"}', "INVALID_JSON"),
                      (dumps({"message": "é", "conversation_id": "é" * 10}), "VALIDATION_ERROR"),
                      (dumps({"type": "reaction", "message_id": "bot_é", "reaction": "x"}),
                       "VALIDATION_ERROR"),
                      (dumps({"message": "é" * 4097}), "VALIDATION_ERROR")):
        await ws.send(bad)
        m = await recv_json(ws)
        assert m["type"] == "error" and m["code"] == code and m["message"], (bad, m)
    q = unique(FRENCH + " " + EMOJI)
    done, text = await chat_turn(ws, q)
    assert done["message_id"] == "bot_1" and text, (done, text)
    msgs = await conversation_messages(external_id=done["conversation_id"], kind="chat")
    assert [(x["role"], x["content"]) for x in msgs] == [("user", q), ("assistant", text)], msgs
    # a reaction with emoji to that answer is stored intact ...
    await ws.send(dumps({"type": "reaction", "message_id": "bot_1", "reaction": "👍 très bien"}))
    m = await recv_json(ws)
    assert m == {"type": "reaction_saved", "message_id": "bot_1", "reaction": "👍 très bien"}, m
    # ... one to an answer that does not exist is refused, not stored with NULL ids
    await ws.send(dumps({"type": "reaction", "message_id": "bot_9", "reaction": "😀"}))
    m = await recv_json(ws)
    assert m["type"] == "error" and m["code"] == "UNKNOWN_MESSAGE_ID" and m["message"], m
    rows = await apsql("SELECT r.message_id, r.external_message_id, r.reaction FROM reactions r"
                       " JOIN conversations c ON c.id = r.conversation_id WHERE c.external_id = "
                       f"{sql_literal(done['conversation_id'])} ORDER BY r.id")
    assert rows == [(str(msgs[1]["id"]), "bot_1", "👍 très bien")], rows
    rows = await apsql("SELECT count(*) FROM reactions WHERE message_id IS NULL"
                       " AND reaction IN ('👍', '😀')")
    assert rows == [("0",)], rows
    await same_workers(s, pids)


# ---------------------------------------------------------------------------
# /ws/monitor and /ws/publish


@timeout(40)
async def test_monitor_and_publish_unicode_errors(ctx):
    s = await ctx.server()
    pids = await s.worker_pids()
    mon = await ctx.ws(s, "/ws/monitor")
    pub = await ctx.ws(s, "/ws/publish")
    sub = await ctx.ws(s, "/api/v1/ws")
    for t in LONG_TYPES:
        await mon.send(dumps({"type": t}))
        m, _ = await recv_until(mon, lambda m: m["type"] == "error", 5, "error")
        assert m["data"]["code"] == "UNKNOWN_TYPE" and m["request_id"] is None, m
        check_quote(m["data"]["message"], t)
    await mon.send('{"type":"é')
    m, _ = await recv_until(mon, lambda m: m["type"] == "error", 5, "error")
    assert m["data"]["code"] == "INVALID_JSON" and m["data"]["message"], m

    for bad, code in (('{"channel":"é', "INVALID_JSON"),
                      (dumps({"channel": "é" * 40, "message": {}}), "VALIDATION_ERROR"),
                      (dumps({"channel": "global", "message": "é"}), "VALIDATION_ERROR")):
        await pub.send(bad)
        m = await recv_json(pub)
        assert m["type"] == "error" and m["data"]["code"] == code and m["data"]["message"], (bad, m)
    msg = {"text": FRENCH, "emoji": EMOJI * 50, "long": "é" * 300}
    await pub.send(dumps({"channel": "global", "message": msg}))
    raw = await asyncio.wait_for(sub.recv(), 5)
    assert raw == compact(msg), raw[:200]
    await same_workers(s, pids)


# ---------------------------------------------------------------------------
# Socket.IO over a raw Engine.IO WebSocket


async def sio_open(ctx, s):
    ws = await ctx.ws(s, "/socket.io/?EIO=4&transport=websocket")
    hello = await asyncio.wait_for(ws.recv(), 5)
    assert hello.startswith("0{"), hello
    await ws.send("40")
    return ws


async def sio_next(ws, want, timeout_s=10):
    """The next packet starting with `want` ("42", "431" ...), answering pings."""
    while True:
        pkt = await asyncio.wait_for(ws.recv(), timeout_s)
        if pkt == "2":
            await ws.send("3")
        elif pkt.startswith(want):
            return json.loads(pkt[len(want):])


async def sio_event(ws, name, timeout_s=10):
    while True:
        ev = await sio_next(ws, "42", timeout_s)
        if ev[0] == name:
            return ev[1]


@timeout(60)
async def test_socketio_unicode_errors_and_answer(ctx):
    await ensure_samples()
    s = await ctx.server()
    pids = await s.worker_pids()
    ws = await sio_open(ctx, s)
    assert (await sio_event(ws, "connection_status"))["status"] == "connected"
    for t in LONG_TYPES:
        await ws.send("42" + dumps([t, {"message": t}]))
        err = await sio_event(ws, "error")
        assert err["code"] == "UNKNOWN_TYPE", err
        check_quote(err["message"], t)
    # with an ack: the ack carries the same error
    await ws.send("427" + dumps(["é" * 90, {}]))
    ack = await sio_next(ws, "437")
    assert ack[0]["code"] == "UNKNOWN_TYPE", ack
    check_quote(ack[0]["message"], "é" * 90)
    err = await sio_event(ws, "error")
    assert err == ack[0], (err, ack)
    for bad, code in ('42["é",é', "INVALID_JSON"), ('42["x","\\ud800"]', "INVALID_JSON"), \
                     ("42" + dumps(["send_message", {"chat_id": "é" * 60, "message": "x"}]),
                      "VALIDATION_ERROR"):
        await ws.send(bad)
        err = await sio_event(ws, "error")
        assert err["code"] == code and err["message"], (bad, err)
    q = unique(FRENCH + " " + EMOJI)
    await ws.send("42" + dumps(["send_message", {"chat_id": "c1", "message": q}]))
    tokens = []
    while True:
        ev = await sio_next(ws, "42", 20)
        if ev[0] == "message_token":
            tokens.append(ev[1]["token"])
        elif ev[0] in ("message_complete", "error"):
            break
    assert ev[0] == "message_complete" and tokens, ev
    rows = await apsql("SELECT m2.content FROM messages m JOIN messages m2"
                       " ON m2.conversation_id = m.conversation_id AND m2.role = 'assistant'"
                       f" WHERE m.role = 'user' AND m.content = {sql_literal(q)}")
    assert rows == [("".join(tokens),)], rows
    await same_workers(s, pids)


@timeout(40)
async def test_socketio_polling_unicode_error(ctx):
    s = await ctx.server()
    pids = await s.worker_pids()
    status, _, body = await s.http("GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200, (status, body)
    sid = json.loads(body[1:])["sid"]
    path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    t = "a" + "é" * 120
    payload = "40\x1e42" + dumps([t, {}])
    status, _, body = await s.http("POST", path, body=payload.encode(),
                                   headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert status == 200 and body == b"ok", (status, body)
    seen = []
    for _ in range(5):
        status, _, body = await s.http("GET", path)
        assert status == 200, (status, body)
        for pkt in body.decode("utf-8").split("\x1e"):
            seen.append(pkt)
            if pkt.startswith("42") and json.loads(pkt[2:])[0] == "error":
                err = json.loads(pkt[2:])[1]
                assert err["code"] == "UNKNOWN_TYPE", err
                check_quote(err["message"], t)
                await same_workers(s, pids)
                return
    raise AssertionError(f"no error event: {seen}")


# ---------------------------------------------------------------------------
# REST


@timeout(60)
async def test_rest_unicode_query_broadcast_and_errors(ctx):
    await ensure_samples()
    s = await ctx.server()
    pids = await s.worker_pids()
    sub = await ctx.ws(s, "/api/v1/ws")
    q = unique(FRENCH + " " + EMOJI)
    status, h, body = await s.http("POST", "/api/query", body=dumps({"query": q, "max_results": 2}))
    assert status == 200, (status, body)
    r = json.loads(body.decode("utf-8"))
    assert r["answer"], r
    assert "0000000000" not in body.decode(), body[:300]
    status, _, body = await s.http("GET", f"/api/conversations/{r['conversation_id']}/messages")
    assert status == 200, (status, body)
    hist = json.loads(body.decode("utf-8"))
    assert [(x["role"], x["content"]) for x in hist["messages"]] == [
        ("user", q), ("assistant", r["answer"])], hist["messages"]

    bad_bodies = [
        (dumps({"query": "é", "mode": "é" * 120}), 400, "VALIDATION_ERROR"),
        (dumps({"query": "é", "collection_name": "é" * 40}), 400, "VALIDATION_ERROR"),
        ('{"query":"é', 400, "INVALID_JSON"),
        ('{"query":"\\ud800"}', 400, "INVALID_JSON"),
        (b'{"query":"caf\xc3"}', 400, "INVALID_JSON"),  # not UTF-8 at all
        (b'{"query":"\xff\xfe"}', 400, "INVALID_JSON"),
    ]
    for bad, want_status, code in bad_bodies:
        status, _, body = await s.http("POST", "/api/query",
                                       body=bad if isinstance(bad, bytes) else bad.encode())
        assert status == want_status, (bad, status, body)
        err = json.loads(body.decode("utf-8"))["error"]
        assert err["code"] == code and err["message"], (bad, err)

    for bad, code in ((dumps({"channel": "é" * 40, "message": {}}), "VALIDATION_ERROR"),
                      (b'{"channel":"global","message":{"x":"\xc3"}}', "INVALID_JSON")):
        status, _, body = await s.http("POST", "/api/broadcast",
                                       body=bad if isinstance(bad, bytes) else bad.encode())
        assert status == 400, (bad, status, body)
        err = json.loads(body.decode("utf-8"))["error"]
        assert err["code"] == code and err["message"], (bad, err)
    msg = {"text": FRENCH, "emoji": EMOJI}
    status, _, body = await s.http("POST", "/api/broadcast",
                                   body=dumps({"channel": "global", "message": msg}).encode())
    assert status == 202, (status, body)
    raw, _ = await recv_until(sub, lambda m: m.get("text") == FRENCH, 5, "broadcast")
    assert raw == msg, raw
    await same_workers(s, pids)
