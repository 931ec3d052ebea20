"""Defects of the RAG pipeline found with real clients (issue 7):

- the model reported (message_complete.metadata.model, POST /api/query's
  "model", the stored metadata) is the one that answered, not the one the
  client asked for;
- LLM_UNAVAILABLE tells clients nothing about the backend's URL or
  libcurl; the log has the details;
- a question that finds nothing broadcasts no follow-up questions;
- the builtin answer never repeats a sentence of overlapping chunks;
- `ragws ingest` of the same file twice keeps one document; a changed file
  replaces its document;
- log records are one line each, in text and JSON, from the first line
  (start-up) on, PostgreSQL's multi-line texts included."""

import asyncio
import json
import os
import re
import signal
import subprocess

import harness
from harness import REPO, eventually, free_port, http_request, recv_until, run_cli, timeout
from ragkit import (FakeLLM, QueryStream, conversation_messages, conninfo, ensure_samples,
                    llm_overrides, psql, sql_literal, unique)

QUESTION = "How do workers share broadcasts?"
SEP = "\x1e"


# ---------------------------------------------------------------------------
# a raw Engine.IO long-polling client (one keep-alive-free request each)


class Polling:
    def __init__(self, server):
        self.s = server
        self.sid = None
        self.events = []

    async def open(self):
        status, _, body = await self.s.http("GET", "/socket.io/?EIO=4&transport=polling")
        assert status == 200 and body.startswith(b"0{"), (status, body)
        self.sid = json.loads(body[1:])["sid"]
        await self.post("40")
        return self

    async def post(self, *packets):
        status, _, body = await self.s.http(
            "POST", f"/socket.io/?EIO=4&transport=polling&sid={self.sid}",
            body=SEP.join(packets).encode(),
            headers={"Content-Type": "text/plain;charset=UTF-8"})
        assert status == 200 and body == b"ok", (status, body)

    async def event(self, name, timeout_s=30.0):
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for i, (n, d) in enumerate(self.events):
                if n == name:
                    del self.events[i]
                    return d
                assert n != "error", (f"error while waiting for {name}", d)
            status, _, body = await self.s.http(
                "GET", f"/socket.io/?EIO=4&transport=polling&sid={self.sid}", timeout=10)
            assert status == 200, (status, body)
            for pkt in body.decode().split(SEP):
                if pkt.startswith("42"):
                    ev = json.loads(pkt[2:])
                    self.events.append((ev[0], ev[1] if len(ev) > 1 else None))
                elif pkt == "2":
                    await self.post("3")
        raise AssertionError(f"no {name} event; saw {self.events}")


async def sio_ask(server, question, model=None, chat_id=None):
    """send_message on Socket.IO; returns (message_complete data, chat_id)."""
    c = await Polling(server).open()
    chat_id = chat_id or "c" + os.urandom(6).hex()
    data = {"chat_id": chat_id, "message": question}
    if model:
        data["model"] = model
    await c.post("42" + json.dumps(["send_message", data]))
    done = await c.event("message_complete")
    return done, chat_id


# ---------------------------------------------------------------------------
# item: the model that answered


@timeout(60)
async def test_builtin_reports_builtin_whatever_the_client_asks(ctx):
    await ensure_samples()
    s = await ctx.server({"llm.builtin_token_delay": "1ms"})
    done, chat_id = await sio_ask(s, unique(QUESTION), model="gpt-4")
    assert done["metadata"]["model"] == "builtin", done
    msgs = await conversation_messages(external_id=chat_id, kind="socketio")
    meta = msgs[-1]["metadata"]
    assert msgs[-1]["role"] == "assistant" and meta["model"] == "builtin", msgs[-1]
    assert meta["model_requested"] == "gpt-4", meta


@timeout(60)
async def test_model_named_by_the_backend_stream_is_reported(ctx):
    """The backend (a router, an alias, a fallback behind llm.url) answers
    with another model than the one asked for; its chunks say which."""
    await ensure_samples()
    fake = await FakeLLM.start(ctx)
    o = llm_overrides(fake, "ok", 2, **{"llm.model": "primary-model"})
    o["llm.url"] = fake.url("ok", 2) + "/as-fallback-model"
    s = await ctx.server(o)

    # Socket.IO: the client asks for a model
    done, chat_id = await sio_ask(s, unique(QUESTION), model="client-model")
    assert done["metadata"]["model"] == "fallback-model", done
    msgs = await conversation_messages(external_id=chat_id, kind="socketio")
    assert msgs[-1]["metadata"]["model"] == "fallback-model", msgs[-1]
    assert msgs[-1]["metadata"]["model_requested"] == "client-model", msgs[-1]
    log = await fake.log(wait=1)
    assert log[0]["body"]["model"] == "client-model", log[0]["body"]

    # REST: llm.model was asked for
    status, _, body = await s.http("POST", "/api/query", body={"query": unique(QUESTION)},
                                   timeout=20)
    assert status == 200, (status, body)
    r = json.loads(body)
    assert r["model"] == "fallback-model", r
    msgs = await conversation_messages(r["conversation_id"])
    assert msgs[-1]["metadata"]["model"] == "fallback-model", msgs[-1]
    assert msgs[-1]["metadata"]["model_requested"] == "primary-model", msgs[-1]

    # a backend that echoes the model asked for: no model_requested
    o["llm.url"] = fake.url("ok", 2)
    s2 = await ctx.server(o, name="echo")
    status, _, body = await s2.http("POST", "/api/query", body={"query": unique(QUESTION)},
                                    timeout=20)
    r = json.loads(body)
    assert status == 200 and r["model"] == "primary-model", r
    msgs = await conversation_messages(r["conversation_id"])
    assert "model_requested" not in msgs[-1]["metadata"], msgs[-1]


# ---------------------------------------------------------------------------
# item: LLM_UNAVAILABLE is generic for clients


GENERIC_LLM = "the language model is unavailable; retry shortly"


def leaks(text, port):
    low = text.lower()
    return [w for w in ("127.0.0.1", str(port), "http", "curl", "connect", "fake backend",
                        "/v1/", "refused") if w in low]


@timeout(60)
async def test_llm_unavailable_hides_the_backend(ctx):
    await ensure_samples()
    dead_port = free_port()  # nothing listens there
    s = await ctx.server({"llm.backend": "openai", "llm.url": f"http://127.0.0.1:{dead_port}/x",
                          "llm.retries": "0", "llm.connect_timeout": "1s",
                          "llm.analysis": "rules"})
    qs = await QueryStream.open(ctx, s)
    await qs.query("u1", unique(QUESTION))
    err = await qs.final("u1")
    assert err["type"] == "error" and err["data"]["code"] == "LLM_UNAVAILABLE", err
    assert err["data"]["message"] == GENERIC_LLM, err
    assert leaks(json.dumps(err), dead_port) == [], err

    chat = await ctx.ws(s, "/chat/ws")
    await chat.send(json.dumps({"message": unique(QUESTION)}))
    m, _ = await recv_until(chat, lambda m: m.get("type") in ("complete", "error"), 15)
    assert m["type"] == "error" and m.get("code") == "LLM_UNAVAILABLE", m
    assert leaks(json.dumps(m), dead_port) == [], m

    status, _, body = await s.http("POST", "/api/query", body={"query": unique(QUESTION)},
                                   timeout=15)
    assert status == 503 and json.loads(body)["error"]["code"] == "LLM_UNAVAILABLE", body
    assert leaks(body.decode(), dead_port) == [], body
    # the operator sees where and why
    await s.wait_log(rf"llm: cannot reach the LLM backend at http://127\.0\.0\.1:{dead_port}")

    # an HTTP 500 with the backend's own message: not for clients either
    fake = await FakeLLM.start(ctx)
    s2 = await ctx.server(llm_overrides(fake, "error500", 1), name="e500")
    qs2 = await QueryStream.open(ctx, s2)
    await qs2.query("e1", unique(QUESTION))
    err = await qs2.final("e1")
    assert err["data"]["code"] == "LLM_UNAVAILABLE" and err["data"]["message"] == GENERIC_LLM, err
    assert leaks(json.dumps(err), fake.port) == [], err
    await s2.wait_log(r"HTTP 500: fake backend failure")


# ---------------------------------------------------------------------------
# item: no follow-ups when nothing was found


@timeout(60)
async def test_no_followups_broadcast_when_nothing_was_found(ctx):
    await ensure_samples()
    s = await ctx.server({"llm.builtin_token_delay": "1ms"})
    listener = await ctx.ws(s, "/api/v1/ws")
    qs = await QueryStream.open(ctx, s)
    await qs.query("n1", unique("Zyxxqv plorbtangle wibbleflux?").replace("(", "").replace(")", ""))
    fin = await qs.final("n1")
    assert fin["type"] == "complete" and fin["data"]["sources_used"] == 0, fin
    assert "nothing" in qs.text("n1"), qs.text("n1")
    status, _, _ = await s.http("POST", "/api/broadcast",
                                body={"channel": "global", "message": {"sentinel": "n1"}})
    assert status == 202
    m, skipped = await recv_until(listener, lambda m: m.get("sentinel") == "n1", 10, "sentinel")
    assert [x for x in skipped if x.get("type") == "follow_up_questions"] == [], skipped

    # a question that finds something still gets them
    await qs.query("y1", QUESTION)
    fin = await qs.final("y1")
    assert fin["type"] == "complete" and fin["data"]["sources_used"] > 0, fin
    fu, _ = await recv_until(listener, lambda m: m.get("type") == "follow_up_questions", 10,
                             "follow_up_questions")
    assert len(fu["questions"]) == 3, fu


# ---------------------------------------------------------------------------
# item: the builtin answer does not repeat itself; re-ingesting is idempotent


SENTENCES = [f"Sentence {i} explains how the zebrafish {w} works in the lab." for i, w in
             enumerate(["feeder", "pump", "filter", "heater", "scanner", "timer", "sorter",
                        "camera", "valve", "sensor", "logger", "mixer"])]


async def ingest(collection, path, ci, *extra):
    return await run_cli(["ingest", collection, str(path), "-c", "ragws.conf", "-o",
                          f"postgres.conninfo={ci}", *extra], timeout=60)


def doc_counts(collection, ci):
    """[(document id, filename, chunks)] of a collection."""
    return psql("SELECT d.id, d.filename, (SELECT count(*) FROM chunks c WHERE c.document_id ="
                " d.id) FROM documents d JOIN collections col ON col.id = d.collection_id"
                f" WHERE col.name = {sql_literal(collection)} ORDER BY d.id", ci)


def answer_sentences(text):
    """The answer's sentences after the opening one, without their [source]."""
    parts = [p.strip() for p in re.split(r"\s*\[[^\]]+\]\s*", text) if p.strip()]
    first, _, rest = parts[0].partition(". ") if parts else ("", "", "")
    return [rest] + parts[1:] if rest else parts[1:]


@timeout(90)
async def test_builtin_answer_repeats_no_sentence_of_overlapping_chunks(ctx):
    ci = conninfo()
    coll = "overlap_" + os.urandom(4).hex()
    path = ctx.tmp / "zebrafish.md"
    path.write_text(" ".join(SENTENCES) + "\n")
    rc, out, err = await ingest(coll, path, ci, "-o", "rag.chunk_chars=160",
                                "-o", "rag.chunk_overlap=80")
    assert rc == 0, (rc, out, err)
    assert int(doc_counts(coll, ci)[0][2]) >= 4, doc_counts(coll, ci)
    s = await ctx.server({"llm.builtin_token_delay": "1ms"})
    qs = await QueryStream.open(ctx, s)
    for i, q in enumerate(["How does the zebrafish lab work?", "zebrafish works lab explains",
                           "What explains the zebrafish pump and filter?"]):
        await qs.query(f"o{i}", q, collection_name=coll, mode="comprehensive", max_results=10)
        fin = await qs.final(f"o{i}")
        assert fin["type"] == "complete" and fin["data"]["sources_used"] >= 3, fin
        got = answer_sentences(qs.text(f"o{i}"))
        assert len(got) >= 2, qs.text(f"o{i}")
        norm = [" ".join(g.lower().split()) for g in got]
        for a in range(len(norm)):
            for b in range(len(norm)):
                assert a == b or norm[a] not in norm[b], (
                    f"sentence repeated in the answer: {got[a]!r} / {got[b]!r}", qs.text(f"o{i}"))


@timeout(90)
async def test_ingesting_the_same_file_twice_keeps_one_document(ctx):
    ci = conninfo()
    coll = "reingest_" + os.urandom(4).hex()
    path = ctx.tmp / "notes.md"
    path.write_text("# Notes\n\n" + " ".join(SENTENCES[:6]) + "\n")
    rc, out, err = await ingest(coll, path, ci)
    assert rc == 0 and out.startswith(f"ingested {path} into {coll}: document "), (rc, out, err)
    first = doc_counts(coll, ci)
    assert len(first) == 1, first

    # the same file again: nothing new
    rc, out, err = await ingest(coll, path, ci)
    assert rc == 0, (rc, out, err)
    assert out.strip() == f"unchanged {path} in {coll}: already document {first[0][0]}, skipped", out
    assert doc_counts(coll, ci) == first

    # the same text under another name: a duplicate too
    copy = ctx.tmp / "copy-of-notes.md"
    copy.write_bytes(path.read_bytes())
    rc, out, err = await ingest(coll, copy, ci)
    assert rc == 0 and out.startswith(f"unchanged {copy} in {coll}"), (rc, out, err)
    assert doc_counts(coll, ci) == first

    # the file changed: its document is replaced (one document, new chunks)
    path.write_text("# Notes\n\n" + " ".join(SENTENCES) + "\n")
    rc, out, err = await ingest(coll, path, ci)
    assert rc == 0, (rc, out, err)
    assert f"(replaces document {first[0][0]})" in out, out
    now = doc_counts(coll, ci)
    assert len(now) == 1 and now[0][0] != first[0][0] and now[0][1] == "notes.md", now
    text = psql("SELECT string_agg(c.content, ' ' ORDER BY c.ordinal) FROM chunks c WHERE"
                f" c.document_id = {int(now[0][0])}", ci)[0][0]
    assert "sorter" in text, text  # the new content is what is indexed
    assert psql(f"SELECT count(*) FROM chunks WHERE document_id = {int(first[0][0])}", ci) \
        == [("0",)]

    # another file with other content is added beside it
    other = ctx.tmp / "other.md"
    other.write_text("Another file about the zebrafish timer.\n")
    rc, out, err = await ingest(coll, other, ci)
    assert rc == 0 and "replaces" not in out, (rc, out, err)
    assert [r[1] for r in doc_counts(coll, ci)] == ["notes.md", "other.md"]


# ---------------------------------------------------------------------------
# item: one log record is one line, from the first one on


async def start_without_database(ctx, fmt):
    """ragws with a PostgreSQL that is not there, log.format = fmt; returns
    the lines it logged while starting."""
    port = free_port()
    ci = f"host={ctx.tmp}/nowhere port=5432 dbname=ragws user=postgres"
    logp = ctx.tmp / f"nodb-{fmt}.log"
    env = dict(os.environ)
    for k, v in harness.DEFAULT_ENV.items():
        env.setdefault(k, v)
    with open(logp, "wb") as log:
        proc = subprocess.Popen([harness.bin_path(), "-c", "ragws.conf", "-o",
                                 f"postgres.conninfo={ci}", "-o", f"log.format={fmt}",
                                 "-o", "log.level=debug", "-o", "postgres.reconnect_max=0.2s",
                                 "-o", f"server.listen=127.0.0.1:{port}",
                                 "-o", "server.workers=1"],
                                cwd=str(REPO), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        async def healthy():
            assert proc.poll() is None, f"ragws exited with {proc.returncode}"
            try:
                st, _, _ = await http_request("127.0.0.1", port, "GET", "/health", timeout=1)
                return st == 200
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                return False
        await eventually(healthy, 20, 0.1, "/health")
        # a few reconnect attempts: libpq's texts span lines
        await eventually(lambda: logp.read_text(errors="replace").count(
            "PostgreSQL connection failed") >= 1, 10, 0.1, "a connection failure logged")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 20)
        except asyncio.TimeoutError:
            proc.kill()
            proc.wait()
    text = logp.read_text(errors="replace")
    for pat in harness.SANITIZER_PATTERNS:
        assert pat not in text, text
    return text.splitlines()


@timeout(90)
async def test_every_log_line_is_one_record(ctx):
    lines = await start_without_database(ctx, "json")
    recs = []
    for line in lines:
        try:
            recs.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON record with log.format = json: {line!r}\n"
                                 + "\n".join(lines))
    msgs = [r["msg"] for r in recs]
    assert any("PostgreSQL is unavailable at start-up" in m for m in msgs), msgs
    start = [r for r in recs if "unavailable at start-up" in r["msg"]][0]
    assert start["level"] == "warn" and start["role"] == "master", start
    fails = [m for m in msgs if "PostgreSQL connection failed" in m]
    assert fails and all("\n" not in m for m in fails), fails

    lines = await start_without_database(ctx, "text")
    rx = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) \[")
    bad = [line for line in lines if not rx.match(line)]
    assert bad == [], bad
    assert any("PostgreSQL connection failed" in line and "/nowhere" in line
               for line in lines), lines
