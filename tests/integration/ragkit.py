"""Helpers for the RAG integration tests (test_query, test_chat, test_storage,
test_llm_backends, test_jwt, test_rest_rag, test_followups).

- the run's database: `conninfo()`, `psql()` / `apsql()` / `psql_json()`
  (psql through the Unix socket of the run's private cluster, as root);
- `ensure_samples()`: the run-once fixture that ingests docs/samples/*.md
  into collection `documents` (skipped when they are already there);
- `own_cluster(ctx)`: a private PostgreSQL cluster (migrated, samples
  ingested) for tests that stop the database, destroyed with the test;
- `FakeLLM`: tests/fake_llm.py as a child process, destroyed with the test;
- `QueryStream`: a /ws/query client that routes frames by request_id and
  keeps the global arrival order;
- `make_jwt()`: HS256 tokens with the standard library.

Cleanup of FakeLLM and own_cluster rides on TestContext.cleanup(), which
calls close() on everything in ctx.clients.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid

import harness
from harness import REPO, http_request, run_cli

SAMPLES = sorted((REPO / "docs" / "samples").glob("*.md"))
SAMPLE_NAMES = sorted(p.name for p in SAMPLES)
FAKE_LLM = REPO / "tests" / "fake_llm.py"


def unique(text):
    """text plus a random marker word, so a stored message can be found by
    its content in the run's shared database."""
    return f"{text} (t{uuid.uuid4().hex[:10]})"


# ---------------------------------------------------------------------------
# the run's database


def conninfo():
    ci = harness.CONNINFO
    if not ci:
        raise AssertionError("this test needs PostgreSQL: run.py starts a private cluster "
                             "unless --no-postgres is given (or set RAGWS_TEST_CONNINFO)")
    return ci


def sql_literal(s):
    return "'" + str(s).replace("'", "''") + "'"


def psql(sql, ci=None, timeout=30):
    """Rows of the last statement as tuples of strings (NULL -> '')."""
    cmd = ["psql", "-X", "-d", ci or conninfo(), "-qAt", "-F", "\t", "-0",
           "-v", "ON_ERROR_STOP=1", "-c", sql]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"psql failed ({p.returncode}) on {sql!r}:\n{p.stderr.strip()}")
    return [tuple(rec.split("\t")) for rec in p.stdout.split("\0")[:-1]]


async def apsql(sql, ci=None, timeout=30):
    return await asyncio.to_thread(psql, sql, ci, timeout)


async def psql_json(sql, ci=None):
    """sql returns one row with one json value (or no row): parsed, or None."""
    rows = await apsql(sql, ci)
    if not rows or rows[0][0] == "":
        return None
    return json.loads(rows[0][0])


async def conversation_messages(conv_id=None, ci=None, external_id=None, kind=None):
    """[{id, role, content, status, metadata}] of a stored conversation, in
    order; by numeric id, or by (kind, external_id)."""
    if conv_id is not None:
        where = f"m.conversation_id = {int(conv_id)}"
    else:
        where = ("m.conversation_id = (SELECT id FROM conversations WHERE external_id = "
                 f"{sql_literal(external_id)}" +
                 (f" AND kind = {sql_literal(kind)}" if kind else "") + ")")
    return await psql_json(
        "SELECT coalesce(json_agg(json_build_object('id', m.id, 'role', m.role, 'content',"
        " m.content, 'status', m.status, 'metadata', m.metadata) ORDER BY m.id), '[]')"
        f" FROM messages m WHERE {where}", ci) or []


async def conversation_of_user_message(text, ci=None):
    """(conversation id, kind) of the conversation holding a user message
    with exactly this content, or None."""
    rows = await apsql("SELECT c.id, c.kind FROM messages m JOIN conversations c"
                       " ON c.id = m.conversation_id WHERE m.role = 'user' AND m.content = "
                       f"{sql_literal(text)} ORDER BY m.id DESC LIMIT 1", ci)
    return (int(rows[0][0]), rows[0][1]) if rows else None


_ingested = set()


async def ensure_samples(ci=None):
    """Run-once fixture: docs/samples/*.md in collection `documents` of the
    database (ragws ingest), unless they are there already."""
    ci = ci or conninfo()
    if ci in _ingested:
        return
    have = await apsql("SELECT d.filename FROM documents d JOIN collections c"
                       " ON c.id = d.collection_id WHERE c.name = 'documents'", ci)
    have = {r[0] for r in have}
    missing = [p for p in SAMPLES if p.name not in have]
    if missing:
        rc, out, err = await run_cli(["ingest", "documents", *[str(p) for p in missing],
                                      "-c", "ragws.conf", "-o", f"postgres.conninfo={ci}"],
                                     timeout=120)
        assert rc == 0, f"ragws ingest failed ({rc}):\n{out}\n{err}"
    _ingested.add(ci)


class _OwnCluster:
    """PgCluster wrapper tracked in ctx.clients (cleanup calls close())."""

    def __init__(self, pg):
        self.pg = pg

    def close(self):
        self.pg.destroy()


async def own_cluster(ctx):
    """A private, migrated PostgreSQL cluster with the samples ingested, for
    a test that stops the database. Destroyed with the test."""
    from pgcluster import PgCluster
    pg = PgCluster()
    ctx.clients.append(_OwnCluster(pg))
    await asyncio.to_thread(pg.start)
    rc, out, err = await run_cli(["migrate", "-c", "ragws.conf", "-o",
                                  f"postgres.conninfo={pg.conninfo}"], timeout=120)
    assert rc == 0, f"ragws migrate failed ({rc}):\n{out}\n{err}"
    await ensure_samples(pg.conninfo)
    return pg


# ---------------------------------------------------------------------------
# the fake LLM backend


class FakeLLM:
    """tests/fake_llm.py on a free port. Use `await FakeLLM.start(ctx)`."""

    def __init__(self):
        self.proc = None
        self.port = None

    @classmethod
    async def start(cls, ctx, max_life=300):
        f = cls()
        f.proc = subprocess.Popen([sys.executable, str(FAKE_LLM), "0", "--max-life",
                                   str(max_life)], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  cwd=str(REPO))
        ctx.clients.append(f)
        line = await asyncio.wait_for(asyncio.to_thread(f.proc.stdout.readline), 10)
        f.port = int(line.strip())
        return f

    def url(self, mode="ok", delay_ms=None):
        u = f"http://127.0.0.1:{self.port}/{mode}"
        return u + (f"/d{delay_ms}" if delay_ms is not None else "")

    async def _get(self, path, timeout=10):
        status, _, body = await http_request("127.0.0.1", self.port, "GET", path,
                                             timeout=timeout)
        assert status == 200, (path, status, body)
        return json.loads(body)

    async def script(self):
        return await self._get("/_script")

    async def log(self, wait=0, timeout=5.0):
        """The requests seen; with wait=N, first waits until N requests were
        seen and all of them finished (at most timeout seconds)."""
        q = f"/_log?wait={wait}&timeout={timeout}" if wait else "/_log"
        return (await self._get(q, timeout=timeout + 5))["requests"]

    async def reset(self):
        status, _, _ = await http_request("127.0.0.1", self.port, "POST", "/_reset", body={})
        assert status == 200

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()


def llm_overrides(fake, mode="ok", delay_ms=50, backend="openai", **extra):
    # llm.analysis=rules: these tests count the backend's requests; the
    # analysis request is tested on its own (test_backend_is_asked_for_analysis).
    o = {"llm.backend": backend, "llm.url": fake.url(mode, delay_ms),
         "llm.connect_timeout": "2s", "llm.idle_timeout": "2s", "llm.retries": "0",
         "llm.analysis": "rules"}
    o.update(extra)
    return o


# ---------------------------------------------------------------------------
# /ws/query client


# Errors about a message that leave the request in flight with that id alone.
NOT_FINAL = ("DUPLICATE_REQUEST_ID", "UNKNOWN_REQUEST_ID")


class QueryStream:
    """Reads a /ws/query connection, routes frames by request_id (frames
    without one go under None) and keeps the global arrival order."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = {}     # rid -> [msg]
        self.order = []      # [(monotonic time, msg)]
        self.questions = {}  # rid -> the query text sent last under it

    @classmethod
    async def open(cls, ctx, server, path="/ws/query", **kw):
        return cls(await ctx.ws(server, path, **kw))

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    async def query(self, rid, query, **data):
        self.questions[rid] = query
        await self.send({"type": "query", "request_id": rid, "data": {"query": query, **data}})

    async def control(self, rid, action):
        await self.send({"type": "control", "request_id": rid, "data": {"action": action}})

    async def recv(self, timeout=5.0):
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        msg = json.loads(raw)
        self.order.append((time.monotonic(), msg))
        self.frames.setdefault(msg.get("request_id"), []).append(msg)
        return msg

    async def until(self, pred, timeout=10.0, what="message"):
        """Receive until pred(msg); returns that message."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; last "
                                     f"frames: {[m for _, m in self.order[-4:]]!r}")
            try:
                msg = await self.recv(left)
            except asyncio.TimeoutError:
                continue
            if pred(msg):
                return msg

    async def final(self, rid, timeout=15.0):
        """The complete or error that ended rid (already received, or the
        next one). Errors that refuse a message without ending the request
        in flight (DUPLICATE_REQUEST_ID ...) do not count."""
        def is_final(m):
            return m.get("request_id") == rid and (
                m["type"] == "complete" or
                (m["type"] == "error" and m["data"]["code"] not in NOT_FINAL))
        for m in self.frames.get(rid, []):
            if is_final(m):
                return m
        return await self.until(is_final, timeout, f"complete/error of {rid}")

    async def error(self, rid=None, timeout=5.0):
        """The next error frame (for rid when given)."""
        return await self.until(lambda m: m["type"] == "error" and
                                (rid is None or m.get("request_id") == rid), timeout,
                                f"error for {rid}")

    async def quiet_for(self, seconds, pred=lambda m: True):
        """Receive for `seconds`; returns the messages matching pred."""
        end = time.monotonic() + seconds
        got = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return got
            try:
                m = await self.recv(left)
            except asyncio.TimeoutError:
                return got
            if pred(m):
                got.append(m)

    async def alive(self, timeout=5.0):
        """The connection still answers: config -> config_updated."""
        rid = f"probe-{uuid.uuid4().hex[:8]}"
        await self.send({"type": "config", "request_id": rid, "data": {"language": "en"}})
        m = await self.until(lambda m: m.get("request_id") == rid, timeout, "config_updated")
        assert m["type"] == "config_updated", m
        return m

    def of(self, rid, kind=None):
        return [m for m in self.frames.get(rid, []) if kind is None or m["type"] == kind]

    def tokens(self, rid):
        """The non-final token frames' data of rid."""
        return [m["data"] for m in self.of(rid, "token") if not m["data"]["is_complete"]]

    def text(self, rid):
        return "".join(t["content"] for t in self.tokens(rid))


def check_answer(qs, rid, stream=True):
    """Shape checks of one finished /ws/query request; returns complete.data."""
    frames = [m for m in qs.of(rid) if not (m["type"] == "error" and m["data"]["code"]
                                            in NOT_FINAL)]
    assert frames and frames[-1]["type"] == "complete", (rid, frames[-3:])
    for m in frames:
        assert m.get("request_id") == rid, m
    status = [m["data"] for m in qs.of(rid, "status")
              if m["data"]["stage"] not in ("paused", "resumed")]
    stages = [d["stage"] for d in status]
    assert stages == ["analyzing_query", "retrieving_documents", "generating_response"], stages
    assert [d["progress"] for d in status] == [0.1, 0.3, 0.5], status
    cits = [m["data"] for m in qs.of(rid, "citation")]
    assert [c["citation_id"] for c in cits] == list(range(1, len(cits) + 1)), cits
    for c in cits:
        assert c["source"] in SAMPLE_NAMES, c
        assert c["page"] is None, c  # Markdown has no pages
        assert 0 <= c["confidence"] <= 1, c
        assert isinstance(c["content"], str) and c["content"], c
    toks = [m["data"] for m in qs.of(rid, "token")]
    done = qs.of(rid, "complete")[0]["data"]
    if stream:
        assert toks, f"{rid}: no token frames"
        body, last = toks[:-1], toks[-1]
        assert [t["position"] for t in body] == list(range(len(body))), \
            [t["position"] for t in body]
        assert all(t["is_complete"] is False and t["content"] for t in body), body
        assert last == {"content": "", "position": len(body), "is_complete": True}, last
        assert done["tokens_generated"] == len(body), (done, len(body))
        # every token before the complete, the final token just before it
        kinds = [m["type"] for m in frames]
        assert kinds[-2:] == ["token", "complete"], kinds[-4:]
        assert "answer" not in done or done["answer"] == qs.text(rid), done
    else:
        assert not toks, toks[:3]
        assert isinstance(done.get("answer"), str) and done["answer"], done
    assert done["sources_used"] == len(cits), (done, len(cits))
    assert isinstance(done["total_time"], (int, float)) and done["total_time"] >= 0, done
    qa = done["query_analysis"]
    assert isinstance(qa["intent"], str) and qa["intent"], qa
    assert isinstance(qa["entities"], list) and all(isinstance(e, str) for e in qa["entities"]), qa
    return done


# ---------------------------------------------------------------------------
# JWT (HS256 with the standard library)


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_jwt(secret, claims=None, alg="HS256", header=None):
    if isinstance(secret, str):
        secret = secret.encode()
    h = {"alg": alg, "typ": "JWT"}
    h.update(header or {})
    now = int(time.time())
    c = {"sub": "tester", "iat": now, "exp": now + 600}
    c.update(claims or {})
    signing = (_b64url(json.dumps(h, separators=(",", ":")).encode()) + "." +
               _b64url(json.dumps(c, separators=(",", ":")).encode()))
    if alg == "none":
        return signing + "."
    sig = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return signing + "." + _b64url(sig)
