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
    """After an LLM failure: the /ws/query connection answers config and a
    new query (again an LLM_UNAVAILABLE, promptly); /api/v1/ws reports the
    failure as its own error and answers ping."""
    await qs.alive()
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


@timeout(40)
async def test_failure_after_tokens_keeps_partial_answer_as_error(ctx):
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    script = await fake.script()
    for mode, n in (("inerror", 2), ("drop", 3)):
        # retries apply before the first token only: one request each
        s = await ctx.server(llm_overrides(fake, mode, 5, **{"llm.retries": "2"}), name=mode)
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
