"""follow_up_questions (SPEC S4.1): after an answer from any endpoint,
every /api/v1/ws client on every worker gets
{"type":"follow_up_questions","questions":[3 strings]} once. Also the
/api/v1/ws query/response shape."""

import json

from harness import recv_json, recv_until, timeout
from ragkit import QueryStream, SAMPLE_NAMES, ensure_samples, unique

QUESTION = "How do workers share broadcasts?"


def check_followups(m):
    assert set(m) == {"type", "questions"}, m
    qs = m["questions"]
    assert isinstance(qs, list) and len(qs) == 3, m
    assert all(isinstance(q, str) and q.strip() and q.endswith("?") for q in qs), m
    assert len(set(qs)) == 3, m


async def all_get_one(subs, server, what):
    """Every subscriber gets the same follow_up_questions once (then the
    sentinel broadcast, nothing in between). Returns the message."""
    got = []
    for ws, slot in subs:
        m, skipped = await recv_until(ws, lambda m: m.get("type") == "follow_up_questions", 10,
                                      f"follow_up_questions after {what} on worker {slot}")
        assert [x for x in skipped if x.get("type") != "response"] == [], skipped
        check_followups(m)
        got.append(m)
    assert all(m == got[0] for m in got), got
    status, _, body = await server.http("POST", "/api/broadcast",
                                        body={"channel": "global", "message": {"sentinel": what}})
    assert status == 202, (status, body)
    for ws, slot in subs:
        m, skipped = await recv_until(ws, lambda m: m.get("sentinel") == what, 5, "sentinel")
        assert [x for x in skipped if x.get("type") == "follow_up_questions"] == [], \
            (f"second follow_up_questions on worker {slot} after {what}", skipped)
    return got[0]


@timeout(40)
async def test_followups_reach_api_v1_clients_on_both_workers(ctx):
    await ensure_samples()
    s = await ctx.server()
    subs = await ctx.ws_spread(s, 4, "/api/v1/ws")
    assert {slot for _, slot in subs} == {0, 1}, subs

    for slot in (0, 1):  # the answer comes from either worker
        ws, got_slot = await ctx.ws_on_slot(s, slot, "/ws/query")
        qs = QueryStream(ws)
        await qs.query("f1", QUESTION)
        assert (await qs.final("f1"))["type"] == "complete"
        fu = await all_get_one(subs, s, f"/ws/query on worker {slot}")
        words = " ".join(fu["questions"]).lower()
        assert "workers" in words or "broadcasts" in words, fu  # about the question
        # the /ws/query client itself is not subscribed to the broadcasts
        assert await qs.quiet_for(0.1, lambda m: m.get("type") == "follow_up_questions") == []

    # other endpoints' answers too
    chat = await ctx.ws(s, "/chat/ws")
    await chat.send(json.dumps({"message": unique(QUESTION)}))
    m, _ = await recv_until(chat, lambda m: m["type"] in ("complete", "error"), 10)
    assert m["type"] == "complete", m
    await all_get_one(subs, s, "/chat/ws")

    status, _, body = await s.http("POST", "/api/query", body={"query": QUESTION})
    assert status == 200, (status, body)
    await all_get_one(subs, s, "POST /api/query")


@timeout(30)
async def test_api_v1_query_response(ctx):
    await ensure_samples()
    s = await ctx.server()
    subs = await ctx.ws_spread(s, 2, "/api/v1/ws")
    asker = subs[0][0]
    await asker.send(json.dumps({"type": "query",
                                 "content": {"question": QUESTION, "context": {}}}))
    m, skipped = await recv_until(asker, lambda m: m.get("type") == "response", 10, "response")
    assert set(m) == {"type", "content"} and set(m["content"]) >= {"answer", "sources"}, m
    assert isinstance(m["content"]["answer"], str) and m["content"]["answer"], m
    srcs = m["content"]["sources"]
    assert srcs and srcs[0]["filename"] == "architecture.md", srcs[:1]
    for src in srcs:
        assert set(src) >= {"id", "document_id", "filename", "page", "score", "content"}, src
        assert src["filename"] in SAMPLE_NAMES and src["page"] is None, src
        assert 0 <= src["score"] <= 1 and src["content"], src
    await all_get_one(subs, s, "/api/v1/ws query")

    # errors of this endpoint: {"type":"error","content":{"message","code"}}
    for payload, code in (("{x", "INVALID_JSON"),
                          ({"type": "query", "content": {}}, "VALIDATION_ERROR"),
                          ({"type": "query", "content": {"question": ""}}, "VALIDATION_ERROR"),
                          ({"type": "nope"}, "UNKNOWN_TYPE"),
                          ({"type": "query", "content": {"question": QUESTION,
                                                         "context": {"collection": "none_such"}}},
                           "COLLECTION_NOT_FOUND")):
        await asker.send(payload if isinstance(payload, str) else json.dumps(payload))
        m, _ = await recv_until(asker, lambda m: m.get("type") == "error", 5, f"error {code}")
        assert m["content"]["code"] == code and m["content"]["message"], (payload, m)
    await asker.send(json.dumps({"type": "ping"}))
    assert await recv_json(asker) == {"type": "pong"}
