"""PostgreSQL stops and starts while clients keep asking (issue 7, crash 3:
a heap-use-after-free in worker/db.c when the connection was lost with
queries waiting). Against the ASan build, with clients on /ws/query (three, four questions at a time),
/chat/ws, /api/v1/ws and POST /api/query sending questions continuously,
PostgreSQL is stopped twice (pg_ctl -m fast, then -m immediate) and started
again. Afterwards:

- no worker died (same pids) and the log holds no sanitizer report;
- every question got a full answer or STORAGE_UNAVAILABLE (recoverable:
  true where the format has the field) with a fixed message, never libpq's
  text;
- everything acknowledged is in PostgreSQL: /ws/query's first status frame
  follows the commit of the user message, a /chat/ws chunk too, a complete
  (chat), a response (/api/v1/ws) and a 200 (REST) follow the commit of the
  answer;
- log.format = json: every log line is one JSON record, the PostgreSQL
  errors included.

The test runs its own cluster (ragkit.own_cluster), so the run's stays up."""

import asyncio
import glob
import json
import os
import subprocess
import uuid
from collections import Counter

from harness import eventually, timeout
from ragkit import QueryStream, own_cluster, psql

QUESTIONS = ["How do workers share broadcasts?", "What does the shared memory ring hold?",
             "How is the server reloaded?", "What does the master do?"]
# What clients may be told when storage is away: db.h's and rag.c's fixed texts.
STORAGE_TEXTS = {
    "PostgreSQL is unavailable; retry shortly",
    "PostgreSQL is unavailable; the message was not stored, retry shortly",
    "PostgreSQL did not answer within postgres.query_timeout; retry shortly",
    "the answer could not be stored; please retry",
    "the reaction could not be stored; retry shortly",
    "the database could not run the statement",
}


def question(i):
    return f"{QUESTIONS[i % len(QUESTIONS)]} (o{uuid.uuid4().hex[:10]})"


def pg_ctl_stop(pg, mode):
    """pg_ctl stop -m mode on the test's cluster, as its owner."""
    bindir = os.environ.get("PG_BINDIR") or sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) if x.isdigit() else x
                                                            for x in p.split("/")[4].split(".")])[-1]
    cmd = [f"{bindir}/pg_ctl", "-D", str(pg.dir / "data"), "-m", mode, "-w", "-t", "60", "stop"]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    p = subprocess.run(cmd, cwd="/", capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, (cmd, p.stdout, p.stderr)


class Tally:
    """What one client saw and what the server acknowledged to it."""

    def __init__(self, name):
        self.name = name
        self.answers = 0          # full answers
        self.unavailable = 0      # STORAGE_UNAVAILABLE
        self.acked_user = []      # user messages acknowledged as stored
        self.acked_answer = []    # (user message, answer text) acknowledged as stored
        self.problems = []        # anything else

    def storage_error(self, code, message, recoverable=True):
        if code != "STORAGE_UNAVAILABLE" or message not in STORAGE_TEXTS or recoverable is not True:
            self.problems.append(("bad error", code, message, recoverable))
        else:
            self.unavailable += 1


async def query_client(ctx, s, tally, stop, pause, batch=4):
    """Questions go in batches of `batch` on one connection, so several
    statements wait in the worker's queue when the connection is lost."""
    qs = await QueryStream.open(ctx, s)
    i = 0
    while not stop.is_set():
        sent = []
        for _ in range(batch):
            i += 1
            rid, q = f"r{i}", question(i)
            await qs.query(rid, q, max_results=2)
            sent.append((rid, q))
        for rid, q in sent:
            fin = await qs.final(rid, 30)
            acked = any(m["type"] == "status" for m in qs.of(rid))
            if acked:
                tally.acked_user.append(q)
            if fin["type"] == "complete":
                text = qs.text(rid)
                if not acked or not text or fin["data"]["tokens_generated"] != len(qs.tokens(rid)):
                    tally.problems.append(("incomplete answer", rid, fin))
                tally.answers += 1
                tally.acked_answer.append((q, text))
            else:
                d = fin["data"]
                tally.storage_error(d.get("code"), d.get("message"), d.get("recoverable"))
        await asyncio.sleep(pause)


async def chat_client(ctx, s, tally, stop, pause):
    ws = await ctx.ws(s, "/chat/ws")
    i = 0
    while not stop.is_set():
        i += 1
        q = question(i)
        await ws.send(json.dumps({"message": q}))
        chunks = []
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m["type"] == "chunk":
                chunks.append(m["text"])
            elif m["type"] in ("complete", "error"):
                break
        if chunks:  # generation follows the commit of the user message
            tally.acked_user.append(q)
        if m["type"] == "complete":
            tally.answers += 1
            tally.acked_answer.append((q, "".join(chunks)))
            if not chunks:
                tally.problems.append(("empty answer", m))
        else:
            tally.storage_error(m.get("code"), m.get("message"))
        await asyncio.sleep(pause)


async def apiv1_client(ctx, s, tally, stop, pause):
    ws = await ctx.ws(s, "/api/v1/ws")
    i = 0
    while not stop.is_set():
        i += 1
        q = question(i)
        await ws.send(json.dumps({"type": "query", "content": {"question": q}}))
        while True:  # follow_up_questions broadcasts come in between
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m.get("type") in ("response", "error"):
                break
        if m["type"] == "response":
            tally.answers += 1
            tally.acked_answer.append((q, m["content"]["answer"]))
            if not m["content"]["answer"]:
                tally.problems.append(("empty answer", m))
        else:
            tally.storage_error(m["content"].get("code"), m["content"].get("message"))
        await asyncio.sleep(pause)


async def rest_client(ctx, s, tally, stop, pause):
    i = 0
    while not stop.is_set():
        i += 1
        q = question(i)
        status, _, body = await s.http("POST", "/api/query", body={"query": q}, timeout=30)
        r = json.loads(body)
        if status == 200:
            tally.answers += 1
            tally.acked_answer.append((q, r["answer"]))
        elif status == 503:
            tally.storage_error(r["error"].get("code"), r["error"].get("message"))
        else:
            tally.problems.append(("status", status, r))
        await asyncio.sleep(pause)


async def ready(s, want):
    status, _, body = await s.http("GET", "/ready", timeout=3)
    return status == want and json.loads(body)


@timeout(180)
async def test_postgres_stops_and_starts_under_load(ctx):
    pg = await own_cluster(ctx)
    ci = pg.conninfo
    s = await ctx.server({"postgres.conninfo": ci, "postgres.reconnect_max": "0.3s",
                          "postgres.connect_timeout": "1s", "postgres.query_timeout": "5s",
                          "llm.builtin_token_delay": "2ms", "log.format": "json"})
    pids = await s.worker_pids()
    assert len(pids) == 2, pids

    stop = asyncio.Event()
    tallies = [Tally(n) for n in ("query-a", "query-b", "query-c", "chat", "apiv1", "rest")]
    runners = [query_client, query_client, query_client, chat_client, apiv1_client, rest_client]
    tasks = [asyncio.create_task(fn(ctx, s, t, stop, 0.02)) for fn, t in zip(runners, tallies)]

    def clients_alive():
        for t in tasks:
            if t.done():
                t.result()  # a client whose connection dropped raises here
                raise AssertionError("a client stopped")
        return True

    async def all_answered_since(marks, what):
        await eventually(lambda: clients_alive() and all(
            t.answers > m for t, m in zip(tallies, marks)), 40, 0.1, what)

    try:
        await all_answered_since([0] * len(tallies), "an answer on every client")
        for n, mode in enumerate(["fast", "immediate"]):
            await asyncio.to_thread(pg_ctl_stop, pg, mode)
            await eventually(lambda: ready(s, 503), 10, 0.1, f"/ready 503 after stop -m {mode}")
            errs = [t.unavailable for t in tallies]
            await eventually(lambda: clients_alive() and all(
                t.unavailable > e for t, e in zip(tallies, errs)), 20, 0.1, f"STORAGE_UNAVAILABLE on every client (outage {n + 1})")
            await asyncio.to_thread(pg.start)
            await eventually(lambda: ready(s, 200), 20, 0.1, f"/ready 200 after outage {n + 1}")
            await all_answered_since([t.answers for t in tallies],
                                     f"an answer on every client after outage {n + 1}")
    finally:
        stop.set()
        done, _ = await asyncio.wait(tasks, timeout=40)
    for t in tasks:
        assert t in done, "a client did not finish its last question"
        t.result()

    # no worker died, no sanitizer report
    assert s.sanitizer_report() is None, s.sanitizer_report()
    assert await s.worker_pids() == pids, "a worker was replaced during the outages"
    for t in tallies:
        assert t.problems == [], (t.name, t.problems[:5])
        assert t.answers >= 3 and t.unavailable >= 2, (t.name, t.answers, t.unavailable)

    # nothing acknowledged was lost: each acknowledged user message is
    # stored, and each acknowledged answer is a complete assistant message
    # of its conversation (counted: a batch on /ws/query shares one
    # conversation, and equal questions may get equal answers)
    rows = psql("SELECT conversation_id, role, content, status FROM messages", ci)
    conv_of = {c: conv for conv, role, c, _ in rows if role == "user"}
    stored = Counter((conv, c) for conv, role, c, st in rows
                     if role == "assistant" and st == "complete")
    for t in tallies:
        lost = [q for q in t.acked_user + [q for q, _ in t.acked_answer] if q not in conv_of]
        assert lost == [], (t.name, "acknowledged user messages not stored", lost[:3])
        want = Counter((conv_of[q], a) for q, a in t.acked_answer)
        lost = [k for k, n in want.items() if stored[k] < n]
        assert lost == [], (t.name, "acknowledged answers not stored", lost[:3])
    assert sum(len(t.acked_answer) for t in tallies) >= 15, [t.answers for t in tallies]

    # the log: one JSON record per line, the lost connection named once per
    # worker and outage, on one line
    recs = []
    for line in s.log_text().splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"log line is not a JSON record: {line!r}")
    lost = [r for r in recs if r["msg"].startswith("PostgreSQL connection lost")]
    assert len(lost) >= 2, [r["msg"] for r in recs if "PostgreSQL" in r["msg"]][-10:]
    assert all("\n" not in r["msg"] for r in recs), [r for r in recs if "\n" in r["msg"]][:3]
