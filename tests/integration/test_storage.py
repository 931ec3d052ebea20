"""PostgreSQL goes away and comes back (SPEC S4.0, S5): clients get
STORAGE_UNAVAILABLE (recoverable) on /ws/query, /chat/ws and POST
/api/query, the server stays up (/health 200, /ready 503 "database":
"down"), reconnects by itself when PostgreSQL is back, and nothing it
acknowledged is lost. Also: a statement that does not return within
postgres.query_timeout, and a cancel while the answer is being stored. Each
test uses its own cluster (the run's stays up)."""

import asyncio
import json
import subprocess
import time

from harness import eventually, recv_json, timeout
from ragkit import (QueryStream, check_answer, conversation_messages,
                    conversation_of_user_message, own_cluster, psql, sql_literal, unique)

QUESTION = "How do workers share broadcasts?"


async def chat_turn(ws, text):
    """One /chat/ws message; returns (chunks text, final message)."""
    await ws.send(json.dumps({"message": text, "timestamp": "2025-12-26T14:54:04.068Z"}))
    chunks = []
    while True:
        m = await recv_json(ws, 15)
        if m["type"] == "chunk":
            chunks.append(m["text"])
        elif m["type"] in ("complete", "error"):
            return "".join(chunks), m


async def ready_state(s):
    status, _, body = await s.http("GET", "/ready", timeout=3)
    return status, json.loads(body)


@timeout(90)
async def test_postgres_outage_and_recovery(ctx):
    pg = await own_cluster(ctx)
    ci = pg.conninfo
    s = await ctx.server({"postgres.conninfo": ci, "postgres.reconnect_max": "0.5s",
                          "postgres.connect_timeout": "1s", "postgres.query_timeout": "3s",
                          "llm.builtin_token_delay": "5ms"})
    qs = await QueryStream.open(ctx, s)
    chat = await ctx.ws(s, "/chat/ws")
    acked_queries = []   # user messages whose storage the server acknowledged
    acked_chat = []      # (user text, chunks text)

    # -- before: everything works
    q = unique(QUESTION)
    await qs.query("a1", q, max_results=2)
    assert (await qs.final("a1"))["type"] == "complete"
    check_answer(qs, "a1")
    acked_queries.append((q, qs.text("a1"), "complete"))
    t = unique("What does the shared memory ring hold?")
    text, fin = await chat_turn(chat, t)
    assert fin["type"] == "complete" and text, fin
    chat_conv = fin["conversation_id"]
    acked_chat.append((t, text))

    # -- a query in flight when PostgreSQL stops: its user message was
    # acknowledged (status frames follow the commit); its answer cannot be
    # stored, so it must not be reported complete.
    q_mid = unique(QUESTION)
    await qs.query("mid", q_mid, max_results=2)
    await qs.until(lambda m: m.get("request_id") == "mid" and m["type"] == "token", 10,
                   "first token of mid")
    await qs.control("mid", "pause")
    await qs.until(lambda m: m.get("request_id") == "mid" and m["type"] == "status"
                   and m["data"]["stage"] == "paused", 5)
    acked_queries.append((q_mid, None, None))

    await asyncio.to_thread(pg.stop)

    # -- during the outage
    status, _, _ = await s.http("GET", "/health")
    assert status == 200

    async def down():
        st, info = await ready_state(s)
        return st == 503 and info.get("database") == "down" and info
    await eventually(down, 10, 0.1, "/ready 503 database down")

    await qs.control("mid", "resume")
    fin = await qs.final("mid", 15)
    assert fin["type"] == "error", ("answer reported although it could not be stored", fin)
    assert fin["data"]["code"] == "STORAGE_UNAVAILABLE" and fin["data"]["recoverable"] is True, fin

    for i in range(2):  # twice: it stays an error, the connection stays open
        await qs.query(f"d{i}", unique(QUESTION))
        err = await qs.final(f"d{i}")
        assert err["type"] == "error", err
        assert err["data"]["code"] == "STORAGE_UNAVAILABLE", err
        assert err["data"]["recoverable"] is True, err
        assert qs.tokens(f"d{i}") == []
        await qs.alive()

    text, fin = await chat_turn(chat, unique("Is anyone there?"))
    assert fin["type"] == "error" and fin.get("code") == "STORAGE_UNAVAILABLE", fin
    assert text == ""
    await chat.send(json.dumps({"type": "reaction", "message_id": "bot_1", "reaction": "like"}))
    m = await recv_json(chat, 5)
    assert m["type"] == "error" and m.get("code") == "STORAGE_UNAVAILABLE", m

    status, _, body = await s.http("POST", "/api/query", body={"query": unique(QUESTION)})
    assert status == 503, (status, body)
    assert json.loads(body)["error"]["code"] == "STORAGE_UNAVAILABLE", body
    status, _, body = await s.http("GET", "/api/collections")
    assert status == 503, (status, body)
    status, _, _ = await s.http("GET", "/health")
    assert status == 200
    st, info = await ready_state(s)
    assert st == 503 and info["database"] == "down" and info["workers_ready"] == 2, info

    # -- PostgreSQL is back: the server reconnects by itself
    await asyncio.to_thread(pg.start)

    async def up():
        st, info = await ready_state(s)
        return st == 200 and info["database"] == "up" and info
    await eventually(up, 15, 0.1, "/ready 200 after PostgreSQL restarted")

    q2 = unique(QUESTION)
    await qs.query("b1", q2, max_results=2)
    fin = await qs.final("b1")
    assert fin["type"] == "complete", fin
    acked_queries.append((q2, qs.text("b1"), "complete"))
    t2 = unique("How is the server reloaded?")
    text, fin = await chat_turn(chat, t2)
    assert fin["type"] == "complete" and fin["conversation_id"] == chat_conv, fin
    acked_chat.append((t2, text))
    status, _, body = await s.http("POST", "/api/query", body={"query": unique(QUESTION)})
    assert status == 200, (status, body)

    # -- nothing acknowledged was lost
    for question, answer, st in acked_queries:
        rows = psql("SELECT m.conversation_id, c.kind FROM messages m JOIN conversations c"
                    f" ON c.id = m.conversation_id WHERE m.role = 'user' AND m.content = "
                    f"{sql_literal(question)}", ci)
        assert len(rows) == 1 and rows[0][1] == "query", (question, rows)
        if answer is not None:
            msgs = await conversation_messages(int(rows[0][0]), ci)
            i = [m["content"] for m in msgs].index(question)
            assert msgs[i + 1]["role"] == "assistant" and msgs[i + 1]["content"] == answer \
                and msgs[i + 1]["status"] == st, msgs[i + 1]
    msgs = await conversation_messages(ci=ci, external_id=chat_conv, kind="chat")
    pairs = [(m["role"], m["content"]) for m in msgs]
    for question, answer in acked_chat:
        assert ("user", question) in pairs, (question, pairs)
        i = pairs.index(("user", question))
        assert pairs[i + 1] == ("assistant", answer), pairs[i:i + 2]


@timeout(60)
async def test_query_timeout_counts_as_storage_unavailable(ctx):
    """A PostgreSQL that does not answer (a lock held elsewhere) is
    unavailable after postgres.query_timeout; the server then reconnects."""
    pg = await own_cluster(ctx)
    ci = pg.conninfo
    s = await ctx.server({"postgres.conninfo": ci, "postgres.reconnect_max": "0.5s",
                          "postgres.query_timeout": "1s"})
    qs = await QueryStream.open(ctx, s)
    holder = subprocess.Popen(["psql", "-X", "-q", "-d", ci], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        holder.stdin.write("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;\n")
        holder.stdin.flush()
        await eventually(lambda: psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON"
                                      " c.oid = l.relation WHERE c.relname = 'messages' AND"
                                      " l.mode = 'AccessExclusiveLock' AND l.granted", ci)
                         == [("1",)], 10, 0.05, "the lock on messages")
        t0 = time.monotonic()
        await qs.query("l1", unique(QUESTION))
        err = await qs.final("l1", 10)
        elapsed = time.monotonic() - t0
        assert err["type"] == "error" and err["data"]["code"] == "STORAGE_UNAVAILABLE", err
        assert err["data"]["recoverable"] is True
        assert 0.9 <= elapsed <= 2.5, f"STORAGE_UNAVAILABLE after {elapsed:.2f}s " \
                                      f"(query_timeout 1s)"
        await qs.alive()
    finally:
        holder.stdin.write("COMMIT;\n")
        holder.stdin.close()
        await asyncio.to_thread(holder.wait, 10)

    async def up():
        st, info = await ready_state(s)
        return st == 200 and info
    await eventually(up, 10, 0.1, "/ready 200 after the lock was released")
    q = unique(QUESTION)
    await qs.query("l2", q, max_results=2)
    fin = await qs.final("l2")
    assert fin["type"] == "complete", fin
    msgs = await conversation_messages(fin["data"]["conversation_id"], ci)
    assert [(m["role"], m["content"]) for m in msgs[-2:]] == [("user", q),
                                                              ("assistant", qs.text("l2"))]


@timeout(60)
async def test_cancel_while_the_answer_is_being_stored(ctx):
    """The answer is generated and its INSERT waits (a lock held elsewhere);
    the client cancels meanwhile. Afterwards the conversation must hold one
    assistant message for that answer, not a 'complete' and a 'cancelled'
    one."""
    pg = await own_cluster(ctx)
    ci = pg.conninfo
    s = await ctx.server({"postgres.conninfo": ci, "postgres.query_timeout": "20s",
                          "llm.builtin_token_delay": "5ms"})
    qs = await QueryStream.open(ctx, s)
    q = unique(QUESTION)
    await qs.query("w1", q, max_results=2)
    await qs.until(lambda m: m.get("request_id") == "w1" and m["type"] == "token", 10, "token")
    await qs.control("w1", "pause")
    await qs.until(lambda m: m["type"] == "status" and m["data"]["stage"] == "paused", 5)
    holder = subprocess.Popen(["psql", "-X", "-q", "-d", ci], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        holder.stdin.write("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;\n")
        holder.stdin.flush()
        await eventually(lambda: psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON"
                                      " c.oid = l.relation WHERE c.relname = 'messages' AND"
                                      " l.mode = 'AccessExclusiveLock' AND l.granted", ci)
                         == [("1",)], 10, 0.05, "the lock on messages")
        await qs.control("w1", "resume")
        # every token arrives; the complete waits for the INSERT of the answer
        await eventually(lambda: psql("SELECT count(*) FROM pg_locks WHERE NOT granted", ci)
                         != [("0",)], 10, 0.05, "the answer's INSERT waiting for the lock")
        assert qs.of("w1", "complete") == []
        await qs.control("w1", "cancel")
        fin = await qs.final("w1")
    finally:
        holder.stdin.write("COMMIT;\n")
        holder.stdin.close()
        await asyncio.to_thread(holder.wait, 10)
    conv = await conversation_of_user_message(q, ci)
    assert conv, "user message not stored"

    # A barrier: this worker runs its statements in order on one connection,
    # so once this query's retrieval has answered, whatever the cancel queued
    # before it has run too.
    await qs.query("barrier", "???", collection_name="no_such_collection")
    err = await qs.final("barrier")
    assert err["data"]["code"] == "COLLECTION_NOT_FOUND", err
    msgs = await conversation_messages(conv[0], ci)
    answers = [(m["status"], len(m["content"])) for m in msgs if m["role"] == "assistant"]
    want = "cancelled" if fin["type"] == "error" else "complete"
    assert len(answers) == 1 and answers[0][0] == want, (
        f"client got {fin['type']} {fin['data'].get('code', '')}; stored assistant "
        f"messages (status, length): {answers}")
