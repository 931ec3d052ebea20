"""REST twins of the RAG endpoints (SPEC S8): POST /api/query (the /ws/query
pipeline without streaming), GET /api/collections[/{name}] and GET
/api/conversations/{id}/messages."""

import asyncio
import json

from harness import build_request, eventually, timeout
from ragkit import (QueryStream, SAMPLE_NAMES, apsql, check_answer, conversation_messages,
                    ensure_samples, sql_literal, unique)

QUESTION = "How do workers share broadcasts?"


def error_of(status, body, want_status, want_code):
    assert status == want_status, (status, body)
    e = json.loads(body)["error"]
    assert e["code"] == want_code and isinstance(e["message"], str) and e["message"], e
    return e


@timeout(40)
async def test_post_query_shape_and_errors(ctx):
    await ensure_samples()
    s = await ctx.server()
    q = unique(QUESTION)
    status, h, body = await s.http("POST", "/api/query",
                                   body={"query": q, "mode": "comprehensive", "max_results": 3})
    assert status == 200, (status, body)
    assert h["content-type"].startswith("application/json"), h
    r = json.loads(body)
    for k in ("answer", "citations", "query_analysis", "total_time", "tokens_generated",
              "sources_used", "processing_mode", "model", "conversation_id"):
        assert k in r, (k, r)
    assert isinstance(r["answer"], str) and "architecture.md" in r["answer"], r["answer"][:200]
    assert r["processing_mode"] == "comprehensive" and r["model"] == "builtin", r
    cits = r["citations"]
    assert 1 <= len(cits) <= 3 and r["sources_used"] == len(cits), r
    assert [c["citation_id"] for c in cits] == list(range(1, len(cits) + 1)), cits
    assert cits[0]["source"] == "architecture.md", cits[0]
    for c in cits:
        assert c["source"] in SAMPLE_NAMES and c["page"] is None, c
        assert 0 <= c["confidence"] <= 1 and c["content"], c
    assert r["tokens_generated"] > 0 and r["total_time"] >= 0, r
    qa = r["query_analysis"]
    assert isinstance(qa["intent"], str) and isinstance(qa["entities"], list), qa
    # both sides stored, under the conversation id it reports
    msgs = await conversation_messages(r["conversation_id"])
    assert [(m["role"], m["content"], m["status"]) for m in msgs] == [
        ("user", q, "complete"), ("assistant", r["answer"], "complete")], msgs

    # defaults: balanced, 10 results at most (5 passages in balanced)
    status, _, body = await s.http("POST", "/api/query", body={"query": QUESTION})
    assert status == 200, (status, body)
    r2 = json.loads(body)
    assert r2["processing_mode"] == "balanced" and 1 <= r2["sources_used"] <= 5, r2
    assert r2["conversation_id"] != r["conversation_id"]

    # 400: validation; 404: unknown collection
    for bad in ({}, {"query": ""}, {"query": 5}, {"query": "x", "mode": "turbo"},
                {"query": "x", "max_results": 0}, {"query": "x", "max_results": 51},
                {"query": "x", "stream": "no"}, {"query": "x", "collection_name": "bad name!"},
                [1, 2]):
        status, _, body = await s.http("POST", "/api/query", body=bad)
        error_of(status, body, 400, "VALIDATION_ERROR")
    status, _, body = await s.http("POST", "/api/query", body="{not json")
    error_of(status, body, 400, "INVALID_JSON")
    status, _, body = await s.http("POST", "/api/query",
                                   body={"query": QUESTION, "collection_name": "no_such_thing"})
    error_of(status, body, 404, "COLLECTION_NOT_FOUND")
    status, _, body = await s.http("GET", "/api/query")
    assert status == 405, (status, body)


@timeout(30)
async def test_collections(ctx):
    await ensure_samples()
    s = await ctx.server()
    in_db = int((await apsql("SELECT count(*) FROM documents d JOIN collections c"
                             " ON c.id = d.collection_id WHERE c.name = 'documents'"))[0][0])
    chunks = int((await apsql("SELECT count(*) FROM chunks c JOIN collections col"
                              " ON col.id = c.collection_id WHERE col.name = 'documents'"))[0][0])
    status, _, body = await s.http("GET", "/api/collections")
    assert status == 200, (status, body)
    cols = {c["name"]: c for c in json.loads(body)["collections"]}
    assert "documents" in cols, cols
    doc = cols["documents"]
    assert doc["total_documents"] == in_db == len(SAMPLE_NAMES), (doc, in_db)
    assert doc["total_chunks"] == chunks > 0, (doc, chunks)

    status, _, body = await s.http("GET", "/api/collections/documents")
    assert status == 200, (status, body)
    info = json.loads(body)
    assert info["name"] == "documents" and info["total_documents"] == in_db, info
    names = sorted(d["filename"] for d in info["documents"])
    assert names == SAMPLE_NAMES, names
    assert sum(d["chunks"] for d in info["documents"]) == chunks, info["documents"]
    assert all(d["status"] == "indexed" for d in info["documents"]), info["documents"]

    status, _, body = await s.http("GET", "/api/collections/no_such_collection")
    error_of(status, body, 404, "NOT_FOUND")
    status, _, body = await s.http("DELETE", "/api/collections")
    assert status == 405, (status, body)


@timeout(30)
async def test_conversation_messages(ctx):
    await ensure_samples()
    s = await ctx.server()
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("h1", q, max_results=2)
    assert (await qs.final("h1"))["type"] == "complete"
    conv = check_answer(qs, "h1")["conversation_id"]

    status, _, body = await s.http("GET", f"/api/conversations/{conv}/messages")
    assert status == 200, (status, body)
    hist = json.loads(body)
    assert hist["conversation_id"] == conv and hist["kind"] == "query", hist
    assert [(m["role"], m["content"], m["status"]) for m in hist["messages"]] == [
        ("user", q, "complete"), ("assistant", qs.text("h1"), "complete")], hist["messages"]

    # by external id (a chat conversation's uuid)
    chat = await ctx.ws(s, "/chat/ws")
    t = unique("What does the ring hold?")
    await chat.send(json.dumps({"message": t}))
    while True:
        m = json.loads(await chat.recv())
        if m["type"] != "chunk":
            break
    assert m["type"] == "complete", m
    status, _, body = await s.http("GET", f"/api/conversations/{m['conversation_id']}/messages")
    assert status == 200, (status, body)
    hist = json.loads(body)
    assert hist["kind"] == "chat" and hist["external_id"] == m["conversation_id"], hist
    assert [x["role"] for x in hist["messages"]] == ["user", "assistant"], hist
    assert hist["messages"][0]["content"] == t

    for unknown in ("999999999999", "no-such-conversation", "0"):
        status, _, body = await s.http("GET", f"/api/conversations/{unknown}/messages")
        error_of(status, body, 404, "NOT_FOUND")


@timeout(30)
async def test_post_query_honours_include_sources(ctx):
    """The body is the data object of a /ws/query query (SPEC S8), where
    include_sources=false means no citations are sent."""
    await ensure_samples()
    s = await ctx.server()
    status, _, body = await s.http("POST", "/api/query",
                                   body={"query": QUESTION, "include_sources": True})
    assert status == 200, (status, body)
    assert json.loads(body)["citations"], body[:300]
    qs = await QueryStream.open(ctx, s)
    await qs.query("ws", QUESTION, include_sources=False, stream=False)
    assert (await qs.final("ws"))["type"] == "complete"
    assert qs.of("ws", "citation") == []  # /ws/query: no citations
    status, _, body = await s.http("POST", "/api/query",
                                   body={"query": QUESTION, "include_sources": False})
    assert status == 200, (status, body)
    r = json.loads(body)
    assert r["citations"] == [], ("include_sources=false, yet POST /api/query returned "
                                  f"{len(r['citations'])} citations")


@timeout(30)
async def test_post_query_client_leaving_cancels_the_answer(ctx):
    await ensure_samples()
    s = await ctx.server({"llm.builtin_token_delay": "20ms"})
    q = unique(QUESTION)
    reader, writer = await asyncio.open_connection(s.host, s.port)
    writer.write(build_request("POST", "/api/query", f"{s.host}:{s.port}", {"query": q}))
    await writer.drain()

    async def user_stored():
        return await apsql("SELECT 1 FROM messages WHERE role = 'user' AND content = "
                           f"{sql_literal(q)}")
    await eventually(user_stored, 5, 0.02, "the user message")
    writer.close()

    async def answer_stored():
        return await apsql("SELECT a.status, length(a.content) FROM messages u JOIN messages a"
                           " ON a.conversation_id = u.conversation_id AND a.role = 'assistant'"
                           f" WHERE u.role = 'user' AND u.content = {sql_literal(q)}")
    rows = await eventually(answer_stored, 5, 0.05, "the cancelled answer")
    assert rows[0][0] == "cancelled", rows
    status, _, _ = await s.http("GET", "/health")
    assert status == 200
