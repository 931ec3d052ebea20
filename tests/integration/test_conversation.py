"""/ws/conversation and its REST twins (SPEC S4.5, S8; seed 003): a Python
websockets client plays the external audio service and sends a French and
an English call message by message; a second connection on another worker
watches the same session; the session is resumed after a reconnect and
after a restart; the same call goes through /api/webhook/transcription and
/api/analyze-batch; 422 details, 1008 on a bad token, the heartbeat, the
S4.0 rules, and the JSON-mode LLM path with its fallback."""

import asyncio
import json
import re
import uuid
from urllib.parse import quote

from harness import expect_closed, recv_json, timeout
from ragkit import FakeLLM, make_jwt, own_cluster, psql_json, unique

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SUGGESTION_KEYS = {"questions", "signals_detected", "recommended_direction"}

FRENCH_CALL = [
    ("agent", "Bonjour, je vous appelle au sujet de votre abonnement Fibre Étoile ✨.",
     "positive", "neutral"),
    ("client", "Ça m'intéresse, mais le prix me paraît élevé.", "negative", "uncertain"),
    ("agent", "Je comprends : l'offre inclut l'installation et le support 7j/7.",
     "positive", "neutral"),
    ("client", "C'est toujours trop cher pour nous, franchement 😕", "negative", "frustrated"),
    ("client", "Il nous faut une réponse aujourd'hui, c'est urgent.", "neutral", "neutral"),
]
ENGLISH_CALL = [
    ("client", "I'm interested but the pricing concerns me.", "negative", "uncertain"),
    ("agent", "Let me walk you through what is included.", "positive", "neutral"),
    ("client", "Your competitor offered us a cheaper deal.", "neutral", "neutral"),
    ("client", "Sounds good, send me the contract.", "positive", "joy"),
]


def msg(speaker, text, sentiment, emotion, **extra):
    return {"text": text, "speaker": speaker, "sentiment": sentiment, "emotion": emotion, **extra}


def check_suggestion(s):
    assert SUGGESTION_KEYS <= set(s), s
    assert isinstance(s["questions"], list) and s["questions"], s
    assert all(isinstance(q, str) and q.endswith("?") for q in s["questions"]), s
    assert isinstance(s["signals_detected"], list), s
    assert isinstance(s["recommended_direction"], str) and s["recommended_direction"], s
    return s


async def next_suggestion(ws, t=10):
    """The next suggestion, skipping heartbeat pings and tokens."""
    while True:
        m = await recv_json(ws, t)
        if m.get("type") in ("ping", "token"):
            continue
        return check_suggestion(m)


async def session_rows(sid):
    return await psql_json(
        "SELECT coalesce(json_agg(json_build_object('role', m.role, 'content', m.content,"
        " 'metadata', m.metadata) ORDER BY m.id), '[]') FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id"
        f" WHERE c.kind = 'conversation' AND c.external_id = '{sid}'")


async def play(ws, call, watcher=None):
    """Send each message, read the suggestion (and the watcher's copy)."""
    out = []
    for speaker, text, sentiment, emotion in call:
        await ws.send(json.dumps(msg(speaker, text, sentiment, emotion)))
        s = await next_suggestion(ws)
        if watcher is not None:
            assert await next_suggestion(watcher) == s
        out.append(s)
    return out


@timeout(60)
async def test_french_and_english_calls_watched_from_another_worker(ctx):
    s = await ctx.server(workers=2)
    audio, slot = await ctx.ws_on_slot(s, 0, "/ws/conversation")
    init = await recv_json(audio)
    assert init["type"] == "session_init" and UUID4.match(init["session_id"]), init
    sid = init["session_id"]
    watcher, wslot = await ctx.ws_on_slot(s, 0, f"/ws/conversation?session_id={sid}", want=False)
    assert wslot != slot
    assert (await recv_json(watcher)) == {"type": "session_init", "session_id": sid}

    fr = await play(audio, FRENCH_CALL, watcher)
    # the producer got each suggestion once: nothing else is waiting
    await audio.send(json.dumps({"type": "ping"}))
    assert await recv_json(audio) == {"type": "pong"}
    assert "interest expressed" in fr[1]["signals_detected"], fr[1]
    assert "pricing objection" in fr[1]["signals_detected"], fr[1]
    assert any("prix" in q for q in fr[1]["questions"]), fr[1]  # French answers
    # the second pricing objection is stronger than the first
    assert "strong objection" not in fr[1]["signals_detected"], fr[1]
    assert {"pricing objection", "repeated pricing objection",
            "strong objection"} <= set(fr[3]["signals_detected"]), fr[3]
    assert "urgency" in fr[4]["signals_detected"], fr[4]

    # stored: every input with speaker/sentiment/emotion, every suggestion
    rows = await session_rows(sid)
    inputs = [r for r in rows if "speaker" in r["metadata"]]
    sugg = [r for r in rows if r["metadata"].get("type") == "suggestion"]
    assert [(r["role"], r["content"]) for r in inputs] == [
        ("user" if sp == "client" else "assistant", t) for sp, t, _, _ in FRENCH_CALL]
    assert inputs[3]["metadata"] == {"speaker": "client", "sentiment": "negative",
                                     "emotion": "frustrated"}
    assert [r["content"] for r in sugg] == [x["recommended_direction"] for x in fr]
    assert sugg[3]["metadata"]["signals_detected"] == fr[3]["signals_detected"]

    # REST views of the same session
    st, _, body = await s.http("GET", f"/ws/status?session_id={sid}")
    assert st == 200, body
    status = json.loads(body)
    assert status["status"] == "active" and status["conversation_messages"] == 5, status
    assert (status["last_speaker"], status["last_sentiment"], status["last_emotion"]) == \
        ("client", "neutral", "neutral")
    st, _, body = await s.http("GET", f"/api/conversation/context?session_id={sid}")
    ctxt = json.loads(body)
    lines = ctxt["context"].split("\n")
    assert lines[1] == ("[CLIENT] (sentiment: negative, emotion: uncertain): "
                        "Ça m'intéresse, mais le prix me paraît élevé."), lines
    assert ctxt["summary"] == {"total_messages": 5, "client_messages": 3, "agent_messages": 2,
                               "sentiments": {"positive": 2, "negative": 2, "neutral": 1},
                               "emotions": {"neutral": 3, "uncertain": 1, "frustrated": 1}}, ctxt
    st, _, body = await s.http("GET", f"/api/conversation/summary?session_id={sid}")
    summ = json.loads(body)
    assert summ["summary"] == ctxt["summary"] and summ["last_speaker"] == "client", summ

    # the English call after a clear: the price is a first objection again
    st, _, body = await s.http("POST", f"/api/conversation/clear?session_id={sid}", body={})
    assert st == 200, body
    en = await play(audio, ENGLISH_CALL, watcher)
    assert en[0]["signals_detected"] == ["pricing objection", "interest expressed",
                                         "hesitation"], en[0]
    assert en[0]["recommended_direction"] == \
        "Address pricing concerns while reinforcing value proposition."
    assert en[0]["questions"][0] == "What specific aspect of the pricing concerns you?"
    assert "competitor mention" in en[2]["signals_detected"], en[2]
    assert "buying signal" in en[3]["signals_detected"], en[3]
    st, _, body = await s.http("GET", f"/ws/status?session_id={sid}")
    assert json.loads(body)["conversation_messages"] == 4, body
    assert len(await session_rows(sid)) == 18  # cleared rows are kept for operators


@timeout(60)
async def test_resume_after_reconnect_and_restart_then_clear(ctx):
    s = await ctx.server()
    ws = await ctx.ws(s, "/ws/conversation")
    sid = (await recv_json(ws))["session_id"]
    await play(ws, [("client", "The price is too high for us.", "negative", "neutral")])
    await ws.close()

    ws = await ctx.ws(s, f"/ws/conversation?session_id={sid}")
    assert (await recv_json(ws))["session_id"] == sid
    # the memory is there: a second pricing objection is stronger
    [sg] = await play(ws, [("client", "Honestly it costs too much.", "negative", "neutral")])
    assert "repeated pricing objection" in sg["signals_detected"], sg
    assert "strong objection" in sg["signals_detected"], sg
    await ws.close()

    await s.stop()
    await s.start()
    ws = await ctx.ws(s, f"/ws/conversation?session_id={sid}")
    assert (await recv_json(ws))["session_id"] == sid
    [sg] = await play(ws, [("client", "What about the price for two years?", "neutral", "neutral")])
    assert "repeated pricing objection" in sg["signals_detected"], sg
    st, _, body = await s.http("GET", f"/ws/status?session_id={sid}")
    assert json.loads(body)["conversation_messages"] == 3, body

    st, _, body = await s.http("POST", f"/ws/clear?session_id={sid}")  # no body, as curl -X POST
    assert st == 200 and json.loads(body)["status"] == "cleared", body
    assert json.loads(body)["message"] == "Conversation memory has been cleared"
    st, _, body = await s.http("GET", f"/ws/status?session_id={sid}")
    assert json.loads(body)["conversation_messages"] == 0, body
    [sg] = await play(ws, [("client", "And the price?", "neutral", "neutral")])
    assert "repeated pricing objection" not in sg["signals_detected"], sg  # forgotten
    rows = await session_rows(sid)
    assert len([r for r in rows if "speaker" in r["metadata"]]) == 4  # rows kept for operators

    # an unknown session id is created under that id; operators read it by id
    new = f"appel-{uuid.uuid4().hex[:8]}"
    ws = await ctx.ws(s, f"/ws/conversation?session_id={new}")
    assert await recv_json(ws) == {"type": "session_init", "session_id": new}
    [sg] = await play(ws, [("client", "Pouvez-vous faire vite ?", "neutral", "neutral")])
    assert "urgency" in sg["signals_detected"], sg
    st, _, body = await s.http("GET", f"/api/conversations/{new}/messages")
    assert st == 200, body
    stored = json.loads(body)
    assert stored["kind"] == "conversation" and stored["external_id"] == new, stored
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"], stored
    assert stored["messages"][1]["content"] == sg["recommended_direction"]

    name = unique("call-é")  # not a valid id: refused
    bad = await ctx.ws(s, f"/ws/conversation?session_id={quote(name)}")
    m = await recv_json(bad)
    assert m["error"] == "validation_error", m
    code, _ = await expect_closed(bad, 5)
    assert code == 1008


@timeout(60)
async def test_rest_twins_webhook_watchers_and_batch(ctx):
    s = await ctx.server(workers=2)
    sid = f"call-{uuid.uuid4().hex[:12]}"
    watcher = await ctx.ws(s, f"/ws/conversation?session_id={sid}")
    assert (await recv_json(watcher))["session_id"] == sid
    got = []
    for speaker, text, sentiment, emotion in FRENCH_CALL:
        st, _, body = await s.http("POST", f"/api/webhook/transcription?session_id={sid}",
                                   body=msg(speaker, text, sentiment, emotion))
        assert st == 200, body
        ans = json.loads(body)
        assert ans["session_id"] == sid and set(ans) == {"session_id", "suggestion"}, ans
        check_suggestion(ans["suggestion"])
        assert await next_suggestion(watcher) == ans["suggestion"]
        got.append(ans["suggestion"])
    assert "strong objection" in got[3]["signals_detected"], got[3]

    # the same call at once, in memory: the same suggestions
    st, _, body = await s.http("POST", "/api/analyze-batch", body={
        "messages": [msg(*m) for m in FRENCH_CALL], "conversation_id": "appel-42"})
    assert st == 200, body
    rep = json.loads(body)
    assert rep["conversation_id"] == "appel-42"
    assert [x["suggestion"] for x in rep["suggestions"]] == got
    assert rep["suggestions"][1]["message"] == msg(*FRENCH_CALL[1])
    assert rep["summary"]["total_messages"] == 5 and rep["summary"]["client_messages"] == 3
    assert rep["overall_sentiment"] in ("positive", "negative", "neutral", "mixed")
    assert [k["index"] for k in rep["key_moments"]] == [1, 3, 4], rep["key_moments"]

    # /api/process on the default session, then its views and clear
    st, _, body = await s.http("POST", "/api/conversation/clear", body={})
    assert st == 200, body
    st, _, body = await s.http("POST", "/api/process",
                               body=msg("client", "I need more time to think", "neutral",
                                        "uncertain"))
    assert st == 200, body
    assert "hesitation" in check_suggestion(json.loads(body))["signals_detected"]
    st, _, body = await s.http("GET", "/ws/status")
    assert json.loads(body)["conversation_messages"] == 1, body
    assert json.loads(body)["session_id"] == "default"


@timeout(30)
async def test_422_details_and_validation_errors(ctx):
    s = await ctx.server()
    st, _, body = await s.http("POST", "/api/process", body={"text": 5, "speaker": "robot"})
    assert st == 422, body
    d = json.loads(body)["detail"]
    assert [(e["loc"], e["type"]) for e in d] == [
        (["body", "text"], "string_type"), (["body", "speaker"], "literal_error")], d
    assert all(isinstance(e["msg"], str) and e["msg"] for e in d)
    st, _, body = await s.http("POST", "/api/process", body={"sentiment": "x" * 65})
    d = json.loads(body)["detail"]
    assert [e["loc"] for e in d] == [["body", "text"], ["body", "speaker"],
                                     ["body", "sentiment"]], d
    assert d[0]["type"] == "missing" and d[0]["msg"] == "Field required"
    st, _, body = await s.http("POST", "/api/process", body="{oops",
                               headers={"Content-Type": "application/json"})
    assert st == 422 and json.loads(body)["detail"][0]["type"] == "json_invalid", body
    st, _, body = await s.http("POST", "/api/webhook/transcription",
                               body=msg("client", "Bonjour", "neutral", "neutral"))
    assert st == 422, body
    assert json.loads(body)["detail"][0]["loc"] == ["query", "session_id"]
    st, _, body = await s.http("POST", "/api/analyze-batch",
                               body={"messages": [msg("client", "ok", "neutral", "neutral"),
                                                  {"text": "é"}]})
    assert st == 422, body
    assert json.loads(body)["detail"][0]["loc"] == ["body", "messages", 1, "speaker"], body

    # WebSocket: validation_error, the connection stays open (S4.0)
    ws = await ctx.ws(s, "/ws/conversation")
    await recv_json(ws)
    for bad in ("{not json", json.dumps([1]), json.dumps({"text": "Salut 👋"}),
                json.dumps({"text": "x", "speaker": "manager"})):
        await ws.send(bad)
        m = await recv_json(ws)
        assert m["error"] == "validation_error" and isinstance(m["details"], str), m
        assert "validation error" in m["details"], m
    await ws.send(json.dumps({"text": "x", "speaker": "manager"}))
    m = await recv_json(ws)
    assert "speaker" in m["details"] and "literal_error" in m["details"], m
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_json(ws) == {"type": "pong"}
    # binary frame: 1003; invalid UTF-8: 1007
    await ws.send(b"\x00\x01")
    assert (await expect_closed(ws, 5))[0] == 1003
    raw = await ctx.raw(s, "/ws/conversation")
    await raw.recv_message(5)
    await raw.send_frame(0x1, b'{"text":"\xff\xfe","speaker":"client"}')
    assert (await raw.expect_close(5))[0] == 1007


@timeout(30)
async def test_stream_tokens_then_suggestion(ctx):
    s = await ctx.server()
    ws = await ctx.ws(s, "/ws/conversation?stream=1")
    await recv_json(ws)
    await ws.send(json.dumps(msg("client", "I'm interested but the pricing concerns me.",
                                 "negative", "uncertain")))
    tokens = []
    while True:
        m = await recv_json(ws)
        if m.get("type") == "token":
            assert "".join(t["content"] for t in tokens) + m["content"] == m["full_text"], m
            tokens.append(m)
            continue
        check_suggestion(m)
        break
    assert len(tokens) > 3 and tokens[-1]["full_text"] == m["recommended_direction"]
    # "stream": false in the message wins over ?stream=1; "stream": true without it
    await ws.send(json.dumps(msg("agent", "Voici le détail.", "neutral", "neutral",
                                 stream=False)))
    check_suggestion(await recv_json(ws))
    ws2 = await ctx.ws(s, "/ws/conversation")
    await recv_json(ws2)
    await ws2.send(json.dumps(msg("client", "C'est urgent !", "neutral", "neutral", stream=True)))
    assert (await recv_json(ws2))["type"] == "token"


@timeout(30)
async def test_heartbeat_ping_pong_and_timeout(ctx):
    s = await ctx.server({"conversation.ping_interval": "300ms",
                          "conversation.pong_timeout": "300ms"})
    ws = await ctx.ws(s, "/ws/conversation")
    await recv_json(ws)
    for _ in range(3):  # answered pings keep it open
        assert await recv_json(ws, 3) == {"type": "ping"}
        await ws.send(json.dumps({"type": "pong"}))
    assert await recv_json(ws, 3) == {"type": "ping"}
    code, reason = await expect_closed(ws, 3)  # no pong: closed
    assert code == 1008, (code, reason)


@timeout(30)
async def test_bad_token_closes_1008_and_sessions_are_per_user(ctx):
    secret = ctx.tmp / "jwt.secret"
    secret.write_text("conv-secret\n")
    s = await ctx.server({"auth.mode": "jwt", "auth.jwt_secret_file": str(secret)})
    ws = await ctx.ws(s, "/ws/conversation?token=not.a.jwt")
    m = await recv_json(ws)
    assert m["type"] == "auth_error", m
    assert (await expect_closed(ws, 5))[0] == 1008
    alice = make_jwt("conv-secret", {"sub": "alice"})
    ws = await ctx.ws(s, f"/ws/conversation?token={quote(alice)}")
    sid = (await recv_json(ws))["session_id"]
    await play(ws, [("client", "Bonjour, je suis intéressée.", "positive", "joy")])
    bob = make_jwt("conv-secret", {"sub": "bob"})
    ws2 = await ctx.ws(s, f"/ws/conversation?session_id={sid}&token={quote(bob)}")
    await recv_json(ws2)
    await ws2.send(json.dumps(msg("client", "Je prends la main.", "neutral", "neutral")))
    m = await recv_json(ws2)
    assert m["error"] == "forbidden", m
    st, _, _ = await s.http("POST", "/api/process", body=msg("client", "hi", "neutral", "neutral"))
    assert st == 401
    st, _, body = await s.http("GET", f"/ws/status?session_id={sid}",
                               headers={"Authorization": f"Bearer {bob}"})
    assert json.loads(body)["conversation_messages"] == 0, body  # not bob's
    st, _, body = await s.http("GET", f"/ws/status?session_id={sid}",
                               headers={"Authorization": f"Bearer {alice}"})
    assert json.loads(body)["conversation_messages"] == 1, body


@timeout(60)
async def test_llm_json_mode_and_fallback_to_rules(ctx):
    fake = await FakeLLM.start(ctx)
    if True:
        s = await ctx.server({"llm.backend": "openai", "llm.url": fake.url("json", 5),
                              "llm.retries": "0", "llm.idle_timeout": "2s"})
        ws = await ctx.ws(s, "/ws/conversation")
        await recv_json(ws)
        await ws.send(json.dumps(msg("client", "Le prix est trop élevé.", "negative",
                                     "uncertain", stream=True)))
        tokens = 0
        while True:
            m = await recv_json(ws, 10)
            if m.get("type") == "token":
                tokens += 1
                continue
            break
        assert tokens > 1
        assert m["recommended_direction"] == "Proposez une formule adaptée au budget.", m
        log = await fake.log(wait=1)
        body = log[-1]["body"]
        assert body["response_format"] == {"type": "json_object"}, body
        assert "Le prix est trop élevé." in body["messages"][-1]["content"]
        await s.stop()

        # the model answers prose (not JSON): the rules answer
        s = await ctx.server({"llm.backend": "openai", "llm.url": fake.url("ok", 1),
                              "llm.retries": "0", "llm.idle_timeout": "2s"})
        st, _, body = await s.http("POST", "/api/process",
                                   body=msg("client", "The price is too high.", "negative",
                                            "neutral"))
        assert st == 200, body
        assert "pricing objection" in json.loads(body)["signals_detected"], body
        await s.stop()

        # the backend fails: the rules answer
        s = await ctx.server({"llm.backend": "ollama", "llm.url": fake.url("error500", 1),
                              "llm.retries": "0", "llm.idle_timeout": "2s"})
        st, _, body = await s.http("POST", "/api/process",
                                   body=msg("client", "Your competitor is cheaper.", "neutral",
                                            "neutral"))
        assert st == 200, body
        assert "competitor mention" in json.loads(body)["signals_detected"], body
        log = await fake.log()
        assert log[-1]["body"]["format"] == "json", log[-1]["body"]


@timeout(120)
async def test_storage_unavailable_keeps_the_connection(ctx):
    from test_pg_outage import pg_ctl_stop
    pg = await own_cluster(ctx)
    s = await ctx.server({"postgres.conninfo": pg.conninfo, "postgres.reconnect_max": "0.3s"},
                         workers=1)
    ws = await ctx.ws(s, "/ws/conversation")
    sid = (await recv_json(ws))["session_id"]
    await play(ws, [("client", "Bonjour, le prix ?", "neutral", "neutral")])
    await asyncio.to_thread(pg_ctl_stop, pg, "fast")
    # nothing is acknowledged that was not stored: an error, the socket stays open
    for _ in range(50):
        await ws.send(json.dumps(msg("client", "Toujours là ?", "neutral", "neutral")))
        m = await recv_json(ws, 15)
        if m.get("error") == "storage_unavailable":
            break
        check_suggestion(m)  # sent before the worker saw the database go
        await asyncio.sleep(0.1)
    assert m["code"] == "STORAGE_UNAVAILABLE" and m["recoverable"] is True, m
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_json(ws) == {"type": "pong"}
    st, _, body = await s.http("POST", f"/api/process?session_id={sid}",
                               body=msg("client", "Et maintenant ?", "neutral", "neutral"))
    assert st == 503 and json.loads(body)["error"]["code"] == "STORAGE_UNAVAILABLE", body


@timeout(60)
async def test_strong_objection_posts_critical_objection_webhook(ctx):
    from harness import free_port
    got = []

    async def serve(reader, writer):
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                hdrs = {k.strip().lower(): v.strip()
                        for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)}
                body = await reader.readexactly(int(hdrs.get("content-length", "0")))
                got.append((head[0].split(" ")[1], json.loads(body)))
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    port = free_port()
    recv = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        s = await ctx.server({"webhook.endpoints":
                              f"http://127.0.0.1:{port}/alerts critical_objection"})
        sid = f"call-{uuid.uuid4().hex[:10]}"
        ws = await ctx.ws(s, f"/ws/conversation?session_id={sid}")
        await recv_json(ws)
        await play(ws, FRENCH_CALL[:3])
        assert got == []  # no strong objection yet
        [sg] = await play(ws, FRENCH_CALL[3:4])
        assert "strong objection" in sg["signals_detected"]
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.05)
        [(path, ev)] = got
        assert path == "/alerts" and ev["event"] == "critical_objection", ev
        assert isinstance(ev["timestamp"], str) and ev["timestamp"], ev
        assert ev["data"]["session_id"] == sid
        assert ev["data"]["message"] == msg(*FRENCH_CALL[3])
        assert ev["data"]["suggestion"] == sg
        # the REST twins raise it too
        st, _, body = await s.http("POST", f"/api/process?session_id={sid}",
                                   body=msg("client", "Hors de question, annulez tout.",
                                            "negative", "anger"))
        assert st == 200 and "strong objection" in json.loads(body)["signals_detected"], body
        for _ in range(100):
            if len(got) == 2:
                break
            await asyncio.sleep(0.05)
        assert got[1][1]["data"]["message"]["text"] == "Hors de question, annulez tout."
    finally:
        recv.close()
        await recv.wait_closed()
