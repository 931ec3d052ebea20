"""/ws/query (SPEC S4.6, seed 004) over the sample collection with the
builtin LLM: the frames of one answer and what is stored of it, several
queries multiplexed on one connection, pause/resume, and every error code
of the endpoint (the connection stays usable after each)."""

import json
import signal

from harness import eventually, expect_closed, timeout
from ragkit import (QueryStream, check_answer, conversation_messages,
                    conversation_of_user_message, ensure_samples, unique)

QUESTION = "How do workers share broadcasts?"


@timeout(40)
async def test_answer_cites_architecture_and_matches_stored_message(ctx):
    await ensure_samples()
    s = await ctx.server()
    qs = await QueryStream.open(ctx, s)
    await qs.query("r1", QUESTION)
    final = await qs.final("r1")
    assert final["type"] == "complete", final
    done = check_answer(qs, "r1")
    cits = [m["data"] for m in qs.of("r1", "citation")]
    assert "architecture.md" in {c["source"] for c in cits}, cits
    assert cits[0]["source"] == "architecture.md", cits[0]  # the best passage
    assert done["processing_mode"] == "balanced", done
    assert done["tokens_generated"] > 0
    text = qs.text("r1")
    assert "architecture.md" in text, text[:300]
    conv = done.get("conversation_id")
    assert isinstance(conv, int) and conv > 0, done

    # Stored before complete was sent: no polling needed.
    msgs = await conversation_messages(conv)
    assert [(m["role"], m["status"]) for m in msgs] == [("user", "complete"),
                                                        ("assistant", "complete")], msgs
    assert msgs[0]["content"] == QUESTION
    assert msgs[1]["content"] == text, (msgs[1]["content"][:200], text[:200])
    assert msgs[1]["metadata"]["tokens"] == done["tokens_generated"], msgs[1]["metadata"]

    # A second query on the same connection: same conversation, appended.
    q2 = "What does the shared memory ring hold?"
    await qs.query("r2", q2, mode="fast", max_results=2)
    assert (await qs.final("r2"))["type"] == "complete"
    done2 = check_answer(qs, "r2")
    assert done2["processing_mode"] == "fast"
    assert done2["sources_used"] <= 2, done2
    assert done2["conversation_id"] == conv, (done2, conv)
    msgs = await conversation_messages(conv)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"], msgs
    assert msgs[2]["content"] == q2 and msgs[3]["content"] == qs.text("r2")


@timeout(40)
async def test_stream_false_and_without_sources(ctx):
    await ensure_samples()
    s = await ctx.server()
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("ns", q, stream=False)
    assert (await qs.final("ns"))["type"] == "complete"
    done = check_answer(qs, "ns", stream=False)
    msgs = await conversation_messages(done["conversation_id"])
    assert msgs[-1]["role"] == "assistant" and msgs[-1]["content"] == done["answer"], msgs[-1]
    assert done["tokens_generated"] > 0

    await qs.query("nc", QUESTION, include_sources=False)
    assert (await qs.final("nc"))["type"] == "complete"
    assert qs.of("nc", "citation") == [], qs.of("nc", "citation")[:1]
    toks = qs.tokens("nc")
    assert [t["position"] for t in toks] == list(range(len(toks)))


@timeout(30)
async def test_question_matching_nothing(ctx):
    await ensure_samples()
    s = await ctx.server()
    qs = await QueryStream.open(ctx, s)
    for rid, q in (("n1", "???"), ("n2", "the of and"), ("n3", "zyxxyqqq plorbnak")):
        await qs.query(rid, q)
        assert (await qs.final(rid))["type"] == "complete", qs.of(rid)[-1]
        done = check_answer(qs, rid)
        assert done["sources_used"] == 0 and qs.of(rid, "citation") == [], done
        assert "nothing" in qs.text(rid), qs.text(rid)
    # SQL and tsquery syntax in a question are just words
    await qs.query("n4", "'; DROP TABLE messages; -- workers & | ! ( ) :* <->")
    assert (await qs.final("n4"))["type"] == "complete", qs.of("n4")[-1]
    check_answer(qs, "n4")
    await qs.query("n5", "x" * 8193)
    err = await qs.error("n5")
    assert err["data"]["code"] == "VALIDATION_ERROR", err


@timeout(40)
async def test_four_queries_multiplexed_on_one_connection(ctx):
    await ensure_samples()
    s = await ctx.server({"llm.builtin_token_delay": "15ms"})
    qs = await QueryStream.open(ctx, s)
    questions = {
        "m1": "How do workers share broadcasts?",
        "m2": "How is the server reloaded without dropping clients?",
        "m3": "Which configuration keys set limits?",
        "m4": "How does retrieval rank passages?",
    }
    for rid, q in questions.items():
        await qs.query(rid, q, mode="fast")
    finals = {}
    while len(finals) < 4:
        m = await qs.until(lambda m: m["type"] in ("complete", "error"), 20, "4 completes")
        assert m.get("request_id") in questions, m
        assert m.get("request_id") not in finals, ("second final", m)
        finals[m["request_id"]] = m
    for rid, m in finals.items():
        assert m["type"] == "complete", m
    # every frame carries one of our request ids
    for _, m in qs.order:
        assert m.get("request_id") in questions, m
    convs = set()
    for rid in questions:
        done = check_answer(qs, rid)
        convs.add(done["conversation_id"])
    assert len(convs) == 1, convs  # one connection, one conversation

    # The answers did overlap: the token stream switched between requests
    # many times and every request had tokens before another completed.
    seq = [m["request_id"] for _, m in qs.order if m["type"] == "token"]
    switches = sum(1 for a, b in zip(seq, seq[1:]) if a != b)
    assert switches >= 8, f"only {switches} switches between requests: {seq[:40]}"
    first_complete = min(i for i, (_, m) in enumerate(qs.order) if m["type"] == "complete")
    before = {m["request_id"] for _, m in qs.order[:first_complete] if m["type"] == "token"}
    assert before == set(questions), before

    msgs = await conversation_messages(convs.pop())
    users = [m["content"] for m in msgs if m["role"] == "user"]
    answers = [m["content"] for m in msgs if m["role"] == "assistant"]
    assert sorted(users) == sorted(questions.values()), users
    assert sorted(answers) == sorted(qs.text(r) for r in questions), answers


@timeout(40)
async def test_pause_resume_builtin(ctx):
    await ensure_samples()
    # Reference: the same question without a pause, from a server with fast
    # tokens (the builtin is deterministic).
    fast = await ctx.server(name="fast")
    ref = await QueryStream.open(ctx, fast)
    await ref.query("ref", QUESTION, max_results=2)
    assert (await ref.final("ref"))["type"] == "complete"
    reference = ref.text("ref")
    s = await ctx.server({"llm.builtin_token_delay": "10ms"})
    qs = await QueryStream.open(ctx, s)

    await qs.query("p1", QUESTION, max_results=2)
    await qs.until(lambda m: m["type"] == "token" and m["data"]["position"] >= 2, 10, "3 tokens")
    await qs.control("p1", "pause")
    st = await qs.until(lambda m: m["type"] == "status" and m["data"]["stage"] == "paused", 5,
                        "paused status")
    assert st["request_id"] == "p1"
    n_before = len(qs.tokens("p1"))
    during = await qs.quiet_for(0.4)
    assert during == [], f"frames during the pause: {during[:3]}"
    await qs.control("p1", "resume")
    st = await qs.until(lambda m: m["type"] == "status" and m["data"]["stage"] == "resumed", 5,
                        "resumed status")
    assert st["request_id"] == "p1"
    assert (await qs.final("p1", 20))["type"] == "complete"
    done = check_answer(qs, "p1")  # positions contiguous: nothing lost or duplicated
    assert len(qs.tokens("p1")) > n_before
    assert qs.text("p1") == reference
    msgs = await conversation_messages(done["conversation_id"])
    assert msgs[-1]["role"] == "assistant" and msgs[-1]["content"] == reference

    # pause twice / resume twice are harmless; pause of a finished request is unknown
    await qs.control("p1", "pause")
    err = await qs.error("p1")
    assert err["data"]["code"] == "UNKNOWN_REQUEST_ID", err


def _err_ok(err, code, rid=None):
    assert err["type"] == "error", err
    d = err["data"]
    assert d["code"] == code, err
    assert d["recoverable"] is True, err
    assert isinstance(d["message"], str) and d["message"], err
    if rid is not None:
        assert err.get("request_id") == rid, err
    if "details" in d:
        assert isinstance(d["details"].get("stage"), str) and "error" in d["details"], err
    return d


@timeout(40)
async def test_every_error_code_and_connection_stays_usable(ctx):
    await ensure_samples()
    # Fast tokens for the validation errors; a second server with slow
    # tokens for the codes that need a request in flight.
    s = await ctx.server()
    qs = await QueryStream.open(ctx, s)

    async def expect(payload, code, rid=None):
        await qs.send(payload)
        err = await qs.error()
        _err_ok(err, code, rid)
        await qs.alive()
        return err

    await expect("{nope", "INVALID_JSON")
    await expect("[1, 2]", "VALIDATION_ERROR")
    await expect({"type": "bogus", "request_id": "u1", "data": {}}, "UNKNOWN_TYPE")
    await expect({"type": "query", "data": {"query": "x"}}, "VALIDATION_ERROR")
    await expect({"type": "query", "request_id": "", "data": {"query": "x"}}, "VALIDATION_ERROR")
    await expect({"type": "query", "request_id": "v1"}, "VALIDATION_ERROR", "v1")
    await expect({"type": "query", "request_id": "v2", "data": {}}, "VALIDATION_ERROR", "v2")
    await expect({"type": "query", "request_id": "v3", "data": {"query": ""}},
                 "VALIDATION_ERROR", "v3")
    await expect({"type": "query", "request_id": "v4", "data": {"query": "x", "mode": "turbo"}},
                 "VALIDATION_ERROR", "v4")
    for bad in (0, 51, -1, 2.5, "10"):
        await expect({"type": "query", "request_id": "v5", "data": {"query": "x",
                                                                    "max_results": bad}},
                     "VALIDATION_ERROR", "v5")
    await expect({"type": "query", "request_id": "v6", "data": {"query": "x", "stream": "yes"}},
                 "VALIDATION_ERROR", "v6")
    await expect({"type": "control", "request_id": "v7", "data": {"action": "explode"}},
                 "VALIDATION_ERROR", "v7")
    await expect({"type": "config", "request_id": "v8", "data": {"temperature": 3}},
                 "VALIDATION_ERROR", "v8")
    await expect({"type": "control", "request_id": "ghost", "data": {"action": "cancel"}},
                 "UNKNOWN_REQUEST_ID", "ghost")
    err = await expect({"type": "query", "request_id": "c1",
                        "data": {"query": QUESTION, "collection_name": "no_such_collection"}},
                       "COLLECTION_NOT_FOUND", "c1")
    assert err["data"]["details"]["stage"] == "document_retrieval", err

    # max_results at the bounds is fine
    await qs.query("b1", QUESTION, max_results=1, mode="comprehensive", stream=False)
    assert (await qs.final("b1"))["type"] == "complete"
    assert check_answer(qs, "b1", stream=False)["sources_used"] == 1
    await qs.query("b50", QUESTION, max_results=50, mode="comprehensive", stream=False)
    done = await qs.final("b50")
    assert done["type"] == "complete" and done["data"]["sources_used"] > 5, done

    slow = await ctx.server({"llm.builtin_token_delay": "20ms",
                             "limits.max_inflight_per_connection": "2"}, name="slow")
    qs = await QueryStream.open(ctx, slow)
    # DUPLICATE_REQUEST_ID while d1 is in flight; d1 itself is not disturbed
    await qs.query("d1", QUESTION)
    await qs.until(lambda m: m["type"] == "token" and m["request_id"] == "d1", 10, "d1 tokens")
    await qs.query("d1", "another question")
    _err_ok(await qs.error("d1"), "DUPLICATE_REQUEST_ID", "d1")
    # TOO_MANY_REQUESTS: d1 and d2 in flight, d3 is one too many
    await qs.query("d2", QUESTION)
    await qs.query("d3", QUESTION)
    _err_ok(await qs.error("d3"), "TOO_MANY_REQUESTS", "d3")
    await qs.alive()
    # CANCELLED for d2; d1 completes normally with all its tokens
    await qs.control("d2", "cancel")
    d = _err_ok(await qs.error("d2"), "CANCELLED", "d2")
    assert d["details"]["stage"] == "cancelled", d
    assert (await qs.final("d1", 20))["type"] == "complete"
    check_answer(qs, "d1")
    assert [m for m in qs.of("d2") if m["type"] == "complete"] == []
    # d3 never started: nothing but its error
    assert [m["type"] for m in qs.of("d3")] == ["error"], qs.of("d3")
    # after all that, the same connection still runs queries (this one fails
    # fast, at retrieval) and answers config
    await qs.query("last", unique(QUESTION), collection_name="nope")
    _err_ok(await qs.error("last"), "COLLECTION_NOT_FOUND", "last")
    await qs.alive()


@timeout(30)
async def test_config_message(ctx):
    s = await ctx.server()
    qs = await QueryStream.open(ctx, s)
    await qs.send({"type": "config", "request_id": "cfg1",
                   "data": {"response_format": "with_citations", "language": "fr",
                            "temperature": 0.2}})
    m = await qs.until(lambda m: m.get("request_id") == "cfg1")
    assert m == {"type": "config_updated", "request_id": "cfg1",
                 "data": {"response_format": "with_citations", "language": "fr",
                          "temperature": 0.2}}, m
    await qs.send({"type": "config", "request_id": "cfg2", "data": {}})
    _err_ok(await qs.error("cfg2"), "VALIDATION_ERROR", "cfg2")
    await qs.send(json.dumps({"type": "config", "request_id": "cfg3",
                              "data": {"language": "en"}}))
    m = await qs.until(lambda m: m.get("request_id") == "cfg3")
    assert m["data"]["language"] == "en" and m["data"]["temperature"] == 0.2, m


@timeout(40)
async def test_shutdown_lets_answers_finish_then_closes_1001(ctx):
    await ensure_samples()
    s = await ctx.server({"llm.builtin_token_delay": "10ms", "server.drain_timeout": "5s"})
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("z1", q, max_results=2)
    await qs.until(lambda m: m["type"] == "token", 10, "first token")
    s.send_signal(signal.SIGTERM)
    final = await qs.final("z1", 10)
    assert final["type"] == "complete", final
    check_answer(qs, "z1")
    code, _ = await expect_closed(qs.ws, 10)
    assert code == 1001, code
    assert await s.wait_exit(10) == 0
    msgs = await conversation_messages(final["data"]["conversation_id"])
    assert [(m["role"], m["status"]) for m in msgs] == [("user", "complete"),
                                                        ("assistant", "complete")], msgs
    assert msgs[1]["content"] == qs.text("z1")


@timeout(40)
async def test_shutdown_with_a_paused_answer_stores_it_as_cancelled(ctx):
    """A paused answer cannot finish: after drain_timeout the connection is
    closed (1001) and the partial answer is stored as cancelled."""
    await ensure_samples()
    s = await ctx.server({"llm.builtin_token_delay": "10ms", "server.drain_timeout": "1s"})
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("z2", q, max_results=2)
    await qs.until(lambda m: m["type"] == "token" and m["data"]["position"] >= 2, 10, "tokens")
    await qs.control("z2", "pause")
    await qs.until(lambda m: m["type"] == "status" and m["data"]["stage"] == "paused", 5)
    partial = qs.text("z2")
    s.send_signal(signal.SIGTERM)
    code, _ = await expect_closed(qs.ws, 10)
    assert code == 1001, code
    assert await s.wait_exit(10) == 0

    async def stored():
        conv = await conversation_of_user_message(q)
        if not conv:
            return None
        msgs = await conversation_messages(conv[0])
        return len(msgs) == 2 and msgs
    try:
        msgs = await eventually(stored, 3, 0.1, "the cancelled partial answer in the database")
    except AssertionError:
        conv = await conversation_of_user_message(q)
        msgs = await conversation_messages(conv[0]) if conv else None
        raise AssertionError(f"after shutdown, stored messages of the conversation: {msgs}; "
                             f"expected the user message and the partial answer "
                             f"{partial[:60]!r}... with status 'cancelled'")
    assert msgs[1]["role"] == "assistant" and msgs[1]["status"] == "cancelled", msgs
    assert msgs[1]["content"] == partial, (msgs[1]["content"], partial)


@timeout(40)
async def test_closing_the_connection_cancels_every_answer_in_flight(ctx):
    await ensure_samples()
    s = await ctx.server({"llm.builtin_token_delay": "20ms"})
    qs = await QueryStream.open(ctx, s)
    questions = {f"k{i}": unique(QUESTION) for i in range(8)}  # the default limit: 8
    for rid, q in questions.items():
        await qs.query(rid, q, max_results=2)
    await qs.query("k8", unique(QUESTION))
    err = await qs.error("k8")
    assert err["data"]["code"] == "TOO_MANY_REQUESTS", err
    await qs.until(lambda m: m["type"] == "token" and m["data"]["position"] >= 3, 10, "tokens")
    await qs.ws.close()

    conv = await eventually(lambda: conversation_of_user_message(questions["k0"]), 5, 0.05,
                            "the conversation")

    async def all_cancelled():
        msgs = await conversation_messages(conv[0])
        answers = [m for m in msgs if m["role"] == "assistant"]
        return len(answers) == 8 and (msgs, answers)
    msgs, answers = await eventually(all_cancelled, 5, 0.1, "8 cancelled answers stored")
    assert sorted(m["content"] for m in msgs if m["role"] == "user") == \
        sorted(questions.values()), msgs
    assert {m["status"] for m in answers} == {"cancelled"}, answers
    sent = sorted(qs.text(rid) for rid in questions)
    # each stored partial answer starts with what its request was sent
    for a in answers:
        assert any(a["content"].startswith(t) for t in sent), a["content"][:80]
    # the server is fine afterwards
    qs2 = await QueryStream.open(ctx, s)
    # (a question that matches nothing: a short answer)
    await qs2.query("k1", "???")  # request ids are per connection
    assert (await qs2.final("k1"))["type"] == "complete"
    await qs2.query("k1", "???")  # and reusable once finished
    assert [m["type"] for m in qs2.of("k1") if m["type"] in ("complete", "error")] \
        == ["complete"]
    second = await qs2.until(lambda m: m["type"] in ("complete", "error"), 10)
    assert second["type"] == "complete" and second["request_id"] == "k1", second
