"""LLM backends (SPEC S6) through /ws/query against tests/fake_llm.py: the
OpenAI (SSE) and Ollama (NDJSON) wires, cancel (the backend sees the client
leave, the partial answer is stored as cancelled), pause/resume (nothing
during the pause, nothing lost after), and every way a backend fails
(refused, slow connect, HTTP 500, stall, error inside the stream, dropped
connection) ending as LLM_UNAVAILABLE within the configured time, with the
connection still usable afterwards."""

import asyncio
import json
import socket
import time

from harness import eventually, free_port, recv_until, timeout
from ragkit import (FakeLLM, QueryStream, check_answer, conversation_messages,
                    conversation_of_user_message, ensure_samples, llm_overrides, unique)

QUESTION = "How do workers share broadcasts?"


async def assistant_message(question, status, deadline=5.0):
    """Poll the database until the assistant message answering `question`
    (a unique user message) is stored with `status`; returns it."""
    async def stored():
        conv = await conversation_of_user_message(question)
        if not conv:
            return None
        msgs = await conversation_messages(conv[0])
        for i, m in enumerate(msgs):
            if m["role"] == "user" and m["content"] == question:
                nxt = [x for x in msgs[i + 1:] if x["role"] == "assistant"]
                if nxt and nxt[0]["status"] == status:
                    return nxt[0]
        return None
    return await eventually(stored, deadline, 0.05, f"assistant message with status {status}")


# ---------------------------------------------------------------------------
# wires


@timeout(40)
async def test_openai_and_ollama_wires_stream_the_script(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    for backend in ("openai", "ollama"):
        for mode in ("ok", "crlf"):
            await fake.reset()
            s = await ctx.server(llm_overrides(fake, mode, 5, backend=backend,
                                               **{"llm.model": "fake-model"}),
                                 name=f"{backend}-{mode}")
            api = await ctx.ws(s, "/api/v1/ws")
            qs = await QueryStream.open(ctx, s)
            q = unique(QUESTION)
            await qs.query("w1", q)
            final = await qs.final("w1")
            assert final["type"] == "complete", (backend, mode, final)
            done = check_answer(qs, "w1")
            toks = [t["content"] for t in qs.tokens("w1")]
            assert toks == script, (backend, mode, toks)
            assert done["tokens_generated"] == len(script)
            msgs = await conversation_messages(done["conversation_id"])
            assert msgs[-1]["content"] == "".join(script), (backend, mode, msgs[-1])
            assert msgs[-1]["metadata"]["model"] == "fake-model", msgs[-1]["metadata"]

            log = await fake.log(wait=1)
            first = log[0]
            assert first["wire"] == ("sse" if backend == "openai" else "ndjson"), first
            assert first["completed"] and not first["disconnected"], first
            body = first["body"]
            assert body["model"] == "fake-model" and body["stream"] is True, body
            assert body["messages"][0]["role"] == "system", body["messages"][0]
            assert body["messages"][-1] == {"role": "user", "content": q}, body["messages"][-1]
            assert "architecture.md" in body["messages"][0]["content"]  # the passages
            # follow-ups: asked of the backend, broadcast to /api/v1/ws
            fu, _ = await recv_until(api, lambda m: m.get("type") == "follow_up_questions", 10,
                                     "follow_up_questions")
            assert len(fu["questions"]) == 3 and all(isinstance(x, str) and x.endswith("?")
                                                     for x in fu["questions"]), fu
            await s.stop()


# ---------------------------------------------------------------------------
# cancel and pause


@timeout(40)
async def test_cancel_aborts_the_backend_and_stores_the_partial_answer(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    s = await ctx.server(llm_overrides(fake, "ok", 100))
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("c1", q)
    await qs.until(lambda m: m["type"] == "token" and m["data"]["position"] >= 2, 10,
                   "three tokens")
    await qs.control("c1", "cancel")
    err = await qs.error("c1")
    assert err["data"]["code"] == "CANCELLED" and err["data"]["recoverable"] is True, err
    got = qs.tokens("c1")
    assert [t["position"] for t in got] == list(range(len(got))), got
    received = [t["content"] for t in got]
    assert 3 <= len(received) < len(script) and received == script[:len(received)], received

    # The backend saw the client leave before the end of its answer.
    log = await fake.log(wait=1)
    assert len(log) == 1, log
    assert log[0]["disconnected"] is True and log[0]["completed"] is False, log[0]
    assert log[0]["tokens_sent"] < len(script), log[0]
    # Nothing more for c1 after CANCELLED (tokens were 100 ms apart).
    later = await qs.quiet_for(0.35, lambda m: m.get("request_id") == "c1")
    assert later == [], later
    assert qs.of("c1")[-1] is err, qs.of("c1")[-3:]

    stored = await assistant_message(q, "cancelled")
    assert stored["content"] == "".join(received), (stored["content"], received)
    await qs.alive()


@timeout(40)
async def test_pause_resume_with_the_fake_backend(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    # idle_timeout shorter than the pause: a paused transfer must not time out
    s = await ctx.server(llm_overrides(fake, "ok", 50, **{"llm.idle_timeout": "0.4s"}))
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("p1", q)
    await qs.until(lambda m: m["type"] == "token" and m["data"]["position"] >= 2, 10,
                   "three tokens")
    await qs.control("p1", "pause")
    st = await qs.until(lambda m: m["type"] == "status" and m["data"]["stage"] == "paused", 5)
    assert st["request_id"] == "p1", st
    n_paused = len(qs.tokens("p1"))
    during = await qs.quiet_for(0.7)
    assert during == [], f"frames while paused: {during[:3]}"
    await qs.control("p1", "resume")
    st = await qs.until(lambda m: m["type"] == "status" and m["data"]["stage"] == "resumed", 5)
    assert st["request_id"] == "p1", st
    final = await qs.final("p1", 15)
    assert final["type"] == "complete", final
    check_answer(qs, "p1")  # contiguous positions: nothing lost or duplicated
    toks = [t["content"] for t in qs.tokens("p1")]
    assert n_paused < len(toks)
    assert toks == script, toks
    stored = await assistant_message(q, "complete")
    assert stored["content"] == "".join(script)
    log = await fake.log(wait=1)
    assert log[0]["completed"] is True and log[0]["disconnected"] is False, log[0]


# ---------------------------------------------------------------------------
# failures -> LLM_UNAVAILABLE


async def expect_unavailable(ctx, s, qs, rid, limit, at_least=0.0, question=None):
    """Sends a query, expects LLM_UNAVAILABLE within `limit` seconds (and not
    before `at_least`); returns (error, elapsed)."""
    t0 = time.monotonic()
    await qs.query(rid, question or unique(QUESTION))
    final = await qs.final(rid, limit + 5)
    elapsed = time.monotonic() - t0
    assert final["type"] == "error", final
    d = final["data"]
    assert d["code"] == "LLM_UNAVAILABLE" and d["recoverable"] is True, final
    assert d["details"]["stage"] == "generating_response", final
    assert at_least <= elapsed <= limit, f"LLM_UNAVAILABLE after {elapsed:.2f}s, " \
                                         f"expected {at_least}..{limit}s"
    return final, elapsed


async def still_usable(ctx, s, qs):
    """After an LLM failure: the /ws/query connection answers config; the
    other endpoints report the failure in their own way and stay usable:
    /api/v1/ws (error, then ping -> pong), /chat/ws (error for bot_1, then
    bot_2 numbering goes on), POST /api/query (503)."""
    await qs.alive()
    chat = await ctx.ws(s, "/chat/ws")
    for n in (1, 2):
        await chat.send(json.dumps({"message": unique(QUESTION)}))
        m, _ = await recv_until(chat, lambda m: m["type"] in ("error", "complete"), 10,
                                "chat error")
        assert m["type"] == "error" and m.get("code") == "LLM_UNAVAILABLE", m
        assert m.get("message_id") == f"bot_{n}" and m["message"], m
    status, _, body = await s.http("POST", "/api/query", body={"query": unique(QUESTION)},
                                   timeout=10)
    assert status == 503 and json.loads(body)["error"]["code"] == "LLM_UNAVAILABLE", \
        (status, body)
    api = await ctx.ws(s, "/api/v1/ws")
    await api.send(json.dumps({"type": "query", "content": {"question": QUESTION}}))
    m, _ = await recv_until(api, lambda m: m.get("type") in ("error", "response"), 10,
                            "error on /api/v1/ws")
    assert m["type"] == "error" and m["content"]["code"] == "LLM_UNAVAILABLE", m
    await api.send(json.dumps({"type": "ping"}))
    m, _ = await recv_until(api, lambda m: m.get("type") == "pong", 5, "pong")


@timeout(40)
async def test_refused_connection_is_llm_unavailable(ctx):
    await ensure_samples()
    port = free_port()  # nobody listens there
    s = await ctx.server({"llm.backend": "openai", "llm.url": f"http://127.0.0.1:{port}",
                          "llm.connect_timeout": "1s", "llm.retries": "2"})
    qs = await QueryStream.open(ctx, s)
    # 3 attempts, 100 + 200 ms backoff, each refused at once
    err, elapsed = await expect_unavailable(ctx, s, qs, "f1", 2.0)
    assert qs.tokens("f1") == []
    await expect_unavailable(ctx, s, qs, "f2", 2.0)
    await still_usable(ctx, s, qs)


@timeout(40)
async def test_connect_timeout_is_llm_unavailable(ctx):
    await ensure_samples()
    # A listener whose accept queue is full: further SYNs are dropped, so a
    # connect hangs until the client gives up.
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        s = await ctx.server({"llm.backend": "openai", "llm.url": f"http://127.0.0.1:{port}",
                              "llm.connect_timeout": "0.6s", "llm.retries": "0"})
        qs = await QueryStream.open(ctx, s)
        err, elapsed = await expect_unavailable(ctx, s, qs, "t1", 2.0, at_least=0.5)
        await qs.alive()
    finally:
        for c in fillers:
            c.close()
        lsock.close()


@timeout(40)
async def test_http_500_is_retried_then_llm_unavailable(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    s = await ctx.server(llm_overrides(fake, "error500", None, **{"llm.retries": "2"}))
    qs = await QueryStream.open(ctx, s)
    await expect_unavailable(ctx, s, qs, "e1", 2.5)
    log = await fake.log(wait=3)
    assert len(log) == 3 and all(e["mode"] == "error500" for e in log), log
    await fake.reset()
    await still_usable(ctx, s, qs)


@timeout(40)
async def test_stalled_backend_hits_idle_timeout(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    s = await ctx.server(llm_overrides(fake, "stall", None, **{"llm.idle_timeout": "0.5s"}))
    qs = await QueryStream.open(ctx, s)
    await expect_unavailable(ctx, s, qs, "s1", 1.5, at_least=0.45)
    log = await fake.log(wait=1)
    assert len(log) == 1 and log[0]["disconnected"] is True, log
    await qs.alive()
    await expect_unavailable(ctx, s, qs, "s2", 1.5, at_least=0.45)

    # with a retry: two silent attempts (retries apply before the first token)
    await fake.reset()
    s2 = await ctx.server(llm_overrides(fake, "stall", None, **{"llm.idle_timeout": "0.3s",
                                                                "llm.retries": "1"}),
                          name="retry")
    qs2 = await QueryStream.open(ctx, s2)
    await expect_unavailable(ctx, s2, qs2, "s3", 1.6, at_least=0.6)
    log = await fake.log(wait=2)
    assert len(log) == 2 and all(e["disconnected"] for e in log), log
    await qs2.alive()


@timeout(40)
async def test_failure_after_tokens_keeps_partial_answer_as_error(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    for backend, mode, n in (("openai", "inerror", 2), ("openai", "drop", 3),
                             ("ollama", "inerror", 2), ("ollama", "drop", 3)):
        # retries apply before the first token only: one request each
        s = await ctx.server(llm_overrides(fake, mode, 5, backend=backend,
                                           **{"llm.retries": "2"}), name=f"{backend}-{mode}")
        await fake.reset()
        qs = await QueryStream.open(ctx, s)
        q = unique(QUESTION)
        await qs.query("x1", q)
        final = await qs.final("x1")
        assert final["type"] == "error" and final["data"]["code"] == "LLM_UNAVAILABLE", \
            (mode, final)
        assert [t["content"] for t in qs.tokens("x1")] == script[:n], (mode, qs.tokens("x1"))
        assert qs.of("x1", "complete") == []
        log = await fake.log(wait=1)
        assert len(log) == 1, (mode, log)
        stored = await assistant_message(q, "error")
        assert stored["content"] == "".join(script[:n]), (mode, stored)
        await qs.alive()
        await s.stop()


# ---------------------------------------------------------------------------
# what reaches the backend


def generation_requests(log):
    """Answer requests (system prompt first), not follow-up question requests."""
    return [e for e in log if e["body"] and e["body"]["messages"][0]["role"] == "system"]


@timeout(40)
async def test_config_mode_and_key_reach_the_backend(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    key = ctx.tmp / "llm.key"
    key.write_text("sk-test-123\nsecond line ignored\n")
    for backend in ("openai", "ollama"):
        await fake.reset()
        s = await ctx.server(llm_overrides(fake, "ok", 2, backend=backend,
                                           **{"llm.max_tokens": "400",
                                              "llm.temperature": "0.7",
                                              "llm.api_key_file": str(key)}), name=backend)
        qs = await QueryStream.open(ctx, s)
        await qs.send({"type": "config", "request_id": "cfg",
                       "data": {"language": "fr", "temperature": 0.2}})
        await qs.until(lambda m: m["type"] == "config_updated")
        await qs.query("k1", unique(QUESTION), mode="fast")
        assert (await qs.final("k1"))["type"] == "complete"
        await qs.query("k2", unique(QUESTION), mode="comprehensive")
        assert (await qs.final("k2"))["type"] == "complete"
        other = await QueryStream.open(ctx, s)  # no config on this connection
        await other.query("k3", unique(QUESTION))
        assert (await other.final("k3"))["type"] == "complete"

        reqs = generation_requests(await fake.log(wait=3))
        assert len(reqs) == 3, reqs

        def seen(r):
            b = r["body"]
            o = b if backend == "openai" else b["options"]
            t, n = o.get("temperature"), o.get("max_tokens" if backend == "openai"
                                               else "num_predict")
            lang = "Answer in language: fr" in b["messages"][0]["content"]
            return b["messages"][-1]["content"], (t, n, lang, r["authorization"])

        got = dict(seen(r) for r in reqs)
        want = {qs.questions["k1"]: (0.2, 100, True, "Bearer sk-test-123"),
                qs.questions["k2"]: (0.2, 400, True, "Bearer sk-test-123"),
                other.questions["k3"]: (0.7, 200, False, "Bearer sk-test-123")}
        # fast: a quarter of llm.max_tokens, comprehensive: all, balanced: half;
        # the temperature and language of a config message: that connection only
        assert got == want, (backend, got, want)
        await s.stop()


@timeout(40)
async def test_chat_history_is_sent_to_the_backend(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    s = await ctx.server(llm_overrides(fake, "ok", 2))
    ws = await ctx.ws(s, "/chat/ws")

    async def turn(w, text, **extra):
        await w.send(json.dumps({"message": text, **extra}))
        chunks = []
        while True:
            m = json.loads(await asyncio.wait_for(w.recv(), 10))
            if m["type"] == "chunk":
                chunks.append(m["text"])
            else:
                assert m["type"] == "complete", m
                return chunks, m

    q1, q2, q3 = (unique(x) for x in ("How do workers share broadcasts?",
                                      "And how are they reloaded?", "Which limits exist?"))
    chunks, done = await turn(ws, q1)
    assert chunks == script, chunks  # byte-exact: unicode, quotes, escapes, newline, tab
    await turn(ws, q2)
    ws2 = await ctx.ws(s, "/chat/ws")
    await turn(ws2, q3, conversation_id=done["conversation_id"])
    reqs = generation_requests(await fake.log(wait=3, timeout=10))
    reqs = {r["body"]["messages"][-1]["content"]: r["body"]["messages"][1:] for r in reqs}
    answer = "".join(script)
    assert reqs[q1] == [{"role": "user", "content": q1}], reqs[q1]
    assert reqs[q2] == [{"role": "user", "content": q1}, {"role": "assistant", "content": answer},
                        {"role": "user", "content": q2}], reqs[q2]
    assert reqs[q3] == [{"role": "user", "content": q1}, {"role": "assistant", "content": answer},
                        {"role": "user", "content": q2}, {"role": "assistant", "content": answer},
                        {"role": "user", "content": q3}], reqs[q3]


@timeout(40)
async def test_client_disconnect_cancels_the_backend_and_stores_the_partial_answer(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    s = await ctx.server(llm_overrides(fake, "ok", 100))
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("g1", q)
    await qs.until(lambda m: m["type"] == "token" and m["data"]["position"] >= 1, 10, "tokens")
    received = qs.text("g1")
    await qs.ws.close()
    log = await fake.log(wait=1)
    assert log[0]["disconnected"] is True and log[0]["completed"] is False, log[0]
    stored = await assistant_message(q, "cancelled")
    # tokens may have been sent after our last read, before the close arrived
    assert stored["content"].startswith(received), (stored["content"], received)
    assert stored["content"] == "".join(script[:len(script)])[:len(stored["content"])]
    assert len(stored["content"]) < len("".join(script))


@timeout(40)
async def test_cancel_one_of_two_concurrent_streams(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    s = await ctx.server(llm_overrides(fake, "ok", 30))
    qs = await QueryStream.open(ctx, s)
    await qs.query("keep", unique(QUESTION))
    await qs.query("drop", unique(QUESTION))
    await qs.until(lambda m: m["type"] == "token" and m["request_id"] == "drop"
                   and m["data"]["position"] >= 2, 10, "tokens of drop")
    await qs.control("drop", "cancel")
    err = await qs.error("drop")
    assert err["data"]["code"] == "CANCELLED", err
    final = await qs.final("keep", 10)
    assert final["type"] == "complete", final
    check_answer(qs, "keep")
    assert [t["content"] for t in qs.tokens("keep")] == script
    assert qs.of("drop")[-1] is err
    gens = generation_requests(await fake.log(wait=2))
    assert sorted((e["completed"], e["disconnected"]) for e in gens) == [(False, True),
                                                                         (True, False)], gens


@timeout(40)
async def test_cancel_while_paused(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    s = await ctx.server(llm_overrides(fake, "ok", 60))
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("cp", q)
    await qs.until(lambda m: m["type"] == "token" and m["data"]["position"] >= 1, 10, "tokens")
    await qs.control("cp", "pause")
    await qs.until(lambda m: m["type"] == "status" and m["data"]["stage"] == "paused", 5)
    received = [t["content"] for t in qs.tokens("cp")]
    await qs.control("cp", "cancel")
    err = await qs.error("cp")
    assert err["data"]["code"] == "CANCELLED", err
    assert [t["content"] for t in qs.tokens("cp")] == received  # nothing between
    log = await fake.log(wait=1)
    assert log[0]["disconnected"] is True and log[0]["completed"] is False, log[0]
    stored = await assistant_message(q, "cancelled")
    # the partial answer is what the client was sent
    assert stored["content"] == "".join(received), (stored["content"], received)
    assert received == script[:len(received)]
    # resume of a cancelled request: unknown
    await qs.control("cp", "resume")
    e2 = await qs.error("cp")
    assert e2["data"]["code"] == "UNKNOWN_REQUEST_ID", e2


@timeout(40)
async def test_backend_is_asked_for_analysis(ctx):
    """With llm.analysis = backend (the default) the model is asked for the
    query's intent and entities, beside the answer; its reply here is the
    fake's script (not the JSON asked for), so the rules' analysis stands
    and the answer completes as usual."""
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    s = await ctx.server(llm_overrides(fake, "ok", 5, **{"llm.analysis": "backend"}))
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("a1", q)
    final = await qs.final("a1")
    assert final["type"] == "complete", final
    analysis = final["data"]["query_analysis"]
    assert analysis["intent"] and analysis["entities"], analysis
    log = await fake.log(wait=2, timeout=10)
    asked = [r for r in log if r["body"] and "Classify this question" in
             r["body"]["messages"][-1]["content"] and q in r["body"]["messages"][-1]["content"]]
    assert len(asked) == 1, [r["body"]["messages"][-1]["content"][:80] for r in log]
    assert asked[0]["body"]["temperature"] == 0, asked[0]["body"]
