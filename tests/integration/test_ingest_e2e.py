"""Ingestion end to end (issue 9; SPEC S4.1, S4.2, S4.4, S4.7, S4.9, S6, S8;
seeds 000 and 004): documents generated here (tests/integration/docgen.py:
a multi-page text PDF, a PNG of rendered text for OCR, a scanned PDF, an
HTML page, French text with accents and emoji, non-ASCII file names) are
uploaded over REST (raw with Content-Length, chunked with http.client and
`curl -T -`, multipart with several files) while real clients watch every
ingestion endpoint at once; then /ws/query cites the right file and page.
Also: the upload limit (413, nothing on disk), an extractor that hangs
(timeout -> failed, logged, task_failed), cancel during extraction (the
child is gone, nothing indexed), DELETE /api/documents/{id}, a re-upload of
the same content (duplicate), the rate of progress messages.

Kill -9, restart and max_parallel are in test_tasks.py."""

import asyncio
import http.client
import json
import os
import re
import subprocess
import time
import urllib.parse
import uuid

import docgen
import websockets
from harness import eventually, expect_closed, timeout
from ragkit import QueryStream, apsql, sql_literal

UPLOAD_TYPES = ("upload_started", "upload_progress", "processing_progress",
                "chunking_progress", "embedding_progress", "upload_complete")
PROGRESS_TYPES = UPLOAD_TYPES[1:5]
TASK_ORDER = ("queued", "extracting", "chunking", "indexing", "completed")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")
TASK_KEYS = ("id", "task_id", "upload_id", "filename", "collection", "status", "progress",
             "document_id", "content_type", "size_bytes", "pages", "pages_done", "chunks",
             "attempts", "error", "created_at", "started_at", "finished_at")


SYLLABLES = ("ba", "ko", "mi", "tu", "ne", "ra", "so", "vi", "de", "lu", "pa", "fo", "ki", "mo",
             "ze", "ga", "ti", "ru", "se", "wa")


def marker():
    """A word no other document of the run's database contains: letters only,
    in syllables, so OCR reads it back exactly."""
    rnd = uuid.uuid4().int
    return "".join(SYLLABLES[(rnd >> (5 * i)) % len(SYLLABLES)] for i in range(7))


def new_collection():
    return "e2e_" + uuid.uuid4().hex[:10]


# ---------------------------------------------------------------------------
# watchers: real WebSocket clients recording every message


class Watch:
    """A WebSocket client that records every message it receives, with the
    arrival time, from a background task."""

    def __init__(self, ws, path):
        self.ws, self.path = ws, path
        self.msgs = []  # [(monotonic, msg)]
        self.closed = None
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    @classmethod
    async def open(cls, ctx, server, path, **kw):
        return cls(await ctx.ws(server, path, **kw), path)

    async def _run(self):
        try:
            async for raw in self.ws:
                self.msgs.append((time.monotonic(), json.loads(raw)))
                self._changed.set()
        except websockets.ConnectionClosed as e:
            self.closed = e
        self._changed.set()

    def all(self, pred=lambda m: True):
        return [m for _, m in self.msgs if pred(m)]

    def timed(self, pred=lambda m: True):
        return [(t, m) for t, m in self.msgs if pred(m)]

    async def wait(self, pred, timeout=30.0, what="message"):
        """The first recorded message for which pred holds (waits for it)."""
        deadline = time.monotonic() + timeout
        while True:
            for _, m in self.msgs:
                if pred(m):
                    return m
            left = deadline - time.monotonic()
            if left <= 0 or (self.closed and self.task.done()):
                raise AssertionError(
                    f"{self.path}: no {what} within {timeout}s; {len(self.msgs)} messages, "
                    f"last: {[m for _, m in self.msgs[-4:]]!r}; closed: {self.closed!r}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass


def of_upload(uid):
    return lambda m: m.get("type") in UPLOAD_TYPES and (m.get("data") or {}).get("upload_id") == uid


def complete_of(uid):
    return lambda m: m.get("type") == "upload_complete" and m["data"].get("upload_id") == uid


# ---------------------------------------------------------------------------
# uploads


def doc_path(coll, filename=None, project_id=None):
    q = {}
    if filename is not None:
        q["filename"] = filename
    if project_id is not None:
        q["project_id"] = str(project_id)
    return f"/api/collections/{coll}/documents" + ("?" + urllib.parse.urlencode(q) if q else "")


def _post(port, path, body, headers, chunked=False, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers, encode_chunked=chunked)
        r = conn.getresponse()
        data = r.read()
        return r.status, data
    finally:
        conn.close()


async def post(server, path, body, headers, chunked=False):
    status, data = await asyncio.to_thread(_post, server.port, path, body, headers, chunked)
    try:
        return status, json.loads(data)
    except ValueError:
        raise AssertionError(f"POST {path}: {status}, not JSON: {data[:300]!r}")


def pieces(data, size=16384, pause=0.0):
    for i in range(0, len(data), size):
        if pause:
            time.sleep(pause)
        yield data[i:i + size]


async def upload_raw(server, coll, filename, data, ctype, project_id=None):
    """Raw body with Content-Length."""
    status, r = await post(server, doc_path(coll, filename, project_id), data,
                           {"Content-Type": ctype, "Content-Length": str(len(data))})
    assert status == 202, (status, r)
    check_accepted(r, [filename])
    return r


async def upload_chunked(server, coll, filename, data, ctype, project_id=None):
    """Raw body, Transfer-Encoding: chunked (http.client encode_chunked)."""
    status, r = await post(server, doc_path(coll, filename, project_id), pieces(data),
                           {"Content-Type": ctype, "Transfer-Encoding": "chunked"}, chunked=True)
    assert status == 202, (status, r)
    check_accepted(r, [filename])
    return r


def multipart(files, boundary=None):
    """files: [(filename, content type, bytes)] -> (body, content type).
    File names go raw in UTF-8, as browsers send them."""
    boundary = boundary or "----ragwsE2E" + uuid.uuid4().hex
    out = []
    for name, ctype, data in files:
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                   f"filename=\"{name}\"\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


async def upload_multipart(server, coll, files, project_id=None):
    body, ctype = multipart(files)
    status, r = await post(server, doc_path(coll, None, project_id), body,
                           {"Content-Type": ctype, "Content-Length": str(len(body))})
    assert status == 202, (status, r)
    check_accepted(r, [f[0] for f in files])
    return r


async def upload_curl(server, coll, filename, path, ctype):
    """`curl -X POST -T -`: the body from stdin, so curl sends it chunked."""
    url = server.url(doc_path(coll, filename))
    t0 = time.monotonic()
    p = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-X", "POST", "-T", "-", "-H", f"Content-Type: {ctype}",
        "-w", "\n%{http_code}", url, stdin=open(path, "rb"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(), 60)
    took = time.monotonic() - t0
    assert p.returncode == 0, (p.returncode, err)
    body, _, code = out.decode().rpartition("\n")
    assert code == "202", (code, body)
    r = json.loads(body)
    check_accepted(r, [filename])
    return r, took


def check_accepted(r, names):
    """The 202 body of common9.md: top level = first file, uploads = all."""
    assert re.fullmatch(r"upload_[0-9a-f]{16}", r["upload_id"]), r
    assert isinstance(r["task_id"], int) and r["task_id"] > 0, r
    assert r["filename"] == names[0], (r, names)
    ups = r["uploads"]
    assert [u["filename"] for u in ups] == names, (ups, names)
    assert ups[0]["upload_id"] == r["upload_id"] and ups[0]["task_id"] == r["task_id"], r
    assert len({u["upload_id"] for u in ups}) == len(ups), ups
    assert len({u["task_id"] for u in ups}) == len(ups), ups
    for u in ups:
        assert re.fullmatch(r"upload_[0-9a-f]{16}", u["upload_id"]), u


def uploads_of(r):
    return [(u["upload_id"], u["task_id"], u["filename"]) for u in r["uploads"]]


def error_of(status, body, want_status, want_code):
    assert status == want_status, (status, body)
    e = body["error"]
    assert e["code"] == want_code and isinstance(e["message"], str) and e["message"], e
    return e


# ---------------------------------------------------------------------------
# the database


async def chunks_of(document_id):
    return int((await apsql(f"SELECT count(*) FROM chunks WHERE document_id = {int(document_id)}"))
               [0][0])


async def documents_in(coll):
    return [(int(i), f) for i, f in await apsql(
        "SELECT d.id, d.filename FROM documents d JOIN collections c ON c.id = d.collection_id"
        f" WHERE c.name = {sql_literal(coll)} ORDER BY d.id")]


async def pages_of(document_id):
    rows = await apsql(f"SELECT DISTINCT page FROM chunks WHERE document_id = {int(document_id)}"
                       " ORDER BY 1")
    return [int(r[0]) if r[0] != "" else None for r in rows]


def upload_dir_files(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


async def ingest_server(ctx, **overrides):
    updir = ctx.tmp / "uploads"
    updir.mkdir(exist_ok=True)
    o = {"ingest.upload_dir": str(updir), "dashboard.metrics_interval": "500ms",
         "limits.max_upload_bytes": "64MiB"}
    o.update(overrides)
    s = await ctx.server(o)
    s.upload_dir = updir
    return s


# ---------------------------------------------------------------------------
# checks of one upload's messages on /ws/upload


def check_upload_stream(w, uid, filename, size, interval_s, *, known_size=True, pages=None):
    """Seed 004 shapes and the order of the stages of one upload; returns
    its upload_complete data."""
    timed = w.timed(of_upload(uid))
    msgs = [m for _, m in timed]
    kinds = [m["type"] for m in msgs]
    assert kinds and kinds[0] == "upload_started", (uid, kinds[:5])
    assert kinds[-1] == "upload_complete" and kinds.count("upload_complete") == 1, (uid, kinds[-5:])
    # the stages come in order: started, upload_progress ..., processing ...,
    # chunking ..., embedding ..., complete
    ranks = [UPLOAD_TYPES.index(k) for k in kinds]
    assert ranks == sorted(ranks), (uid, kinds)
    for k in UPLOAD_TYPES:
        assert k in kinds, (uid, k, kinds)
    for m in msgs:
        d = m["data"]
        assert d["upload_id"] == uid and d["filename"] == filename, (filename, m)
    st = msgs[0]["data"]
    assert "file_size" in st and "estimated_time" in st, st
    if known_size:
        assert st["file_size"] == size, (st, size)
    else:
        assert st["file_size"] in (None, size), st
    up = [m["data"] for m in msgs if m["type"] == "upload_progress"]
    got = [d["bytes_uploaded"] for d in up]
    assert got == sorted(got) and got[-1] == size, (uid, got, size)
    for d in up:
        assert isinstance(d["speed_mbps"], (int, float)) and d["speed_mbps"] >= 0, d
        if known_size:
            assert d["total_bytes"] == size, d
            assert 0 <= d["progress"] <= 1, d
    if known_size:
        assert up[-1]["progress"] == 1.0, up[-1]
    for kind in ("processing_progress", "chunking_progress", "embedding_progress"):
        ds = [m["data"] for m in msgs if m["type"] == kind]
        ps = [d["progress"] for d in ds]
        assert all(0 <= p <= 1 for p in ps), (kind, ps)
        assert ps[-1] == 1.0, (uid, kind, ps)
    for d in (m["data"] for m in msgs if m["type"] == "processing_progress"):
        assert isinstance(d["stage"], str) and d["stage"], d
        assert isinstance(d["message"], str) and d["message"], d
    ch = [m["data"] for m in msgs if m["type"] == "chunking_progress"]
    assert ch[-1]["chunks_processed"] == ch[-1]["total_chunks"] > 0, ch[-1]
    em = [m["data"] for m in msgs if m["type"] == "embedding_progress"]
    assert em[-1]["embeddings_generated"] == em[-1]["total_embeddings"] > 0, em[-1]
    done = msgs[-1]["data"]
    assert done["status"] == "success", done
    assert isinstance(done["document_id"], int) and done["document_id"] > 0, done
    assert isinstance(done["total_time"], (int, float)) and done["total_time"] >= 0, done
    assert done["chunks_created"] == ch[-1]["total_chunks"] == em[-1]["total_embeddings"], \
        (done, ch[-1], em[-1])
    check_rate(timed, interval_s)
    return done


def check_rate(timed, interval_s):
    """Progress messages of one upload are rate-limited: per kind, at most
    one per progress_interval (plus the always-sent last one and some slack
    for arrival jitter)."""
    for kind in PROGRESS_TYPES:
        ts = [t for t, m in timed if m["type"] == kind]
        if len(ts) < 3:
            continue
        span = ts[-2] - ts[0]
        allowed = span / interval_s + 3
        assert len(ts) <= allowed, (kind, len(ts), f"over {span:.2f}s", allowed)


async def ask(qs, question, collection, rid=None):
    """Citations ({source, page, ...}) of one /ws/query answer."""
    rid = rid or "q" + uuid.uuid4().hex[:8]
    await qs.query(rid, question, collection_name=collection, mode="comprehensive",
                   max_results=10)
    final = await qs.final(rid, 30)
    assert final["type"] == "complete", final
    return [m["data"] for m in qs.of(rid, "citation")]


# ---------------------------------------------------------------------------
# the whole pipeline, every format, every endpoint watching


@timeout(240)
async def test_every_format_every_endpoint(ctx):
    interval = 0.25
    s = await ingest_server(ctx, **{"ingest.progress_interval": "250ms"})
    coll = new_collection()
    other = new_collection()
    words = {k: marker() for k in ("p1", "p2", "p3", "png", "scan", "html", "fr", "other")}

    # the documents
    pdf = ctx.tmp / "rapport.pdf"
    docgen.make_text_pdf(pdf, [
        f"Page one of the annual report. The harbour {words['p1']} opened in spring.",
        f"Page two explains the budget. The lighthouse {words['p2']} costs nine thousand.",
        f"Page three concludes. The orchard {words['p3']} grows apples in autumn."])
    png = ctx.tmp / "scan.png"
    docgen.make_text_png(png, f"INVOICE {words['png'].upper()} TOTAL 42 EUROS")
    scanned = ctx.tmp / "scanned.pdf"
    docgen.make_scanned_pdf(scanned, [f"SCANNED LETTER {words['scan'].upper()} PAGE ONE",
                                      "SECOND SCANNED PAGE WITH MORE WORDS"])
    html = ctx.tmp / "page.html"
    docgen.make_html(html, f"Guide {words['html']}",
                     [f"The gateway {words['html']} serves many clients.",
                      "Second paragraph <with> entities &amp; more."])
    fr_text = (f"Compte rendu de la réunion : l'équipe a validé le budget {words['fr']} "
               "pour l'été. Les élèves ont célébré 🎉 avec des crêpes et du café ☕.\n" * 3)
    fr = ctx.tmp / "compte-rendu.txt"
    fr.write_text(fr_text, encoding="utf-8")

    names = {"pdf": "Rapport d'activité 2024 — été.pdf", "png": "facture numérisée 🧾.png",
             "scan": "lettre scannée.pdf", "html": "guide-été.html",
             "fr": "compte rendu réunion ☕.txt", "md": "notes élèves.md",
             "other": "autre collection.txt"}

    # every watcher, before anything is uploaded
    ups = [await Watch.open(ctx, s, "/ws/upload") for _ in range(2)]
    w_coll_all = await Watch.open(ctx, s, "/ws/collections")
    w_coll = await Watch.open(ctx, s, f"/ws/collections?collection={coll}")
    w_api = await Watch.open(ctx, s, "/api/v1/ws")
    w_dash = await Watch.open(ctx, s, "/ws/dashboard")
    w_active = await Watch.open(ctx, s, "/ws/active-tasks")
    w_metrics = await Watch.open(ctx, s, "/ws/metrics")
    # snapshots on connect
    first = await w_dash.wait(lambda m: True, 5, "dashboard snapshot")
    assert first["type"] == "dashboard_update", first
    for k in ("active_tasks", "queued_tasks", "completed_tasks", "failed_tasks"):
        assert isinstance(first["data"][k], int) and first["data"][k] >= 0, first
    first = await w_active.wait(lambda m: True, 5, "active_tasks snapshot")
    assert first["type"] == "active_tasks" and isinstance(first["tasks"], list), first

    # uploads: raw, multipart with several files, chunked, curl -T
    pdf_bytes = pdf.read_bytes()
    r_pdf = await upload_raw(s, coll, names["pdf"], pdf_bytes, "application/pdf")
    r_multi = await upload_multipart(s, coll, [
        (names["png"], "image/png", png.read_bytes()),
        (names["html"], "text/html; charset=utf-8", html.read_bytes()),
        (names["md"], "text/markdown", f"# Notes\n\nLes élèves {marker()} ✨\n".encode())])
    # a task's own channel, opened while the slow OCR task runs
    png_uid, png_tid, _ = uploads_of(r_multi)[0]
    w_task = await Watch.open(ctx, s, f"/ws/task/{png_tid}")
    w_one = await Watch.open(ctx, s, f"/ws/upload?upload_id={png_uid}")
    r_scan = await upload_chunked(s, coll, names["scan"], scanned.read_bytes(), "application/pdf")
    r_fr, curl_took = await upload_curl(s, coll, names["fr"], fr, "text/plain; charset=utf-8")
    r_other = await upload_raw(s, other, names["other"],
                               f"Another collection {words['other']}.".encode(), "text/plain")

    all_ups = (uploads_of(r_pdf) + uploads_of(r_multi) + uploads_of(r_scan) + uploads_of(r_fr) +
               uploads_of(r_other))
    sizes = {r_pdf["upload_id"]: len(pdf_bytes), png_uid: png.stat().st_size,
             r_multi["uploads"][1]["upload_id"]: html.stat().st_size,
             r_scan["upload_id"]: scanned.stat().st_size, r_fr["upload_id"]: fr.stat().st_size}
    for uid, _, name in all_ups:
        for w in ups:
            await w.wait(complete_of(uid), 150, f"upload_complete of {name}")

    # /ws/upload: the same stream on both clients, seed shapes, stage order
    done = {}
    for uid, tid, name in all_ups:
        a = ups[0].all(of_upload(uid))
        b = ups[1].all(of_upload(uid))
        assert a == b, (name, len(a), len(b))
        if uid in sizes:
            # sizes known up front: Content-Length of a raw body only (not
            # chunked, not a part of a multipart body)
            known = uid == r_pdf["upload_id"]
            done[uid] = check_upload_stream(ups[0], uid, name, sizes[uid], interval,
                                            known_size=known)
        else:
            done[uid] = ups[0].all(complete_of(uid))[0]["data"]
            assert done[uid]["status"] == "success", (name, done[uid])
        assert done[uid]["chunks_created"] == await chunks_of(done[uid]["document_id"]), name
    # ?upload_id= sees that upload only, up to its end
    await w_one.wait(complete_of(png_uid), 10, "filtered upload_complete")
    assert w_one.all() and all(m["data"]["upload_id"] == png_uid for m in w_one.all()), \
        w_one.all()[:5]
    # curl's chunked upload must not sit out curl's 1 s Expect: 100-continue wait
    assert curl_took < 0.9, f"curl -T took {curl_took:.2f}s (Expect: 100-continue unanswered?)"

    # PostgreSQL: the documents, their names and pages
    docs = dict((f, i) for i, f in await documents_in(coll))
    assert sorted(docs) == sorted(n for k, n in names.items() if k != "other"), docs
    pdf_doc = done[r_pdf["upload_id"]]["document_id"]
    assert docs[names["pdf"]] == pdf_doc
    assert await pages_of(pdf_doc) == [1, 2, 3]
    assert await pages_of(done[r_scan["upload_id"]]["document_id"]) == [1, 2]

    # /ws/collections: document_added and collection_stats, filtered and not
    for uid, tid, name in all_ups:
        c = other if name == names["other"] else coll
        added = await w_coll_all.wait(
            lambda m: m["type"] == "document_added" and m["data"]["document_id"] ==
            done[uid]["document_id"], 10, f"document_added of {name}")
        assert added["collection"] == c and added["data"]["filename"] == name, added
        assert added["data"]["chunks_added"] == done[uid]["chunks_created"], added
        assert ISO.match(added["data"]["timestamp"]), added
    assert all(m["collection"] == coll for m in w_coll.all()), \
        [m for m in w_coll.all() if m.get("collection") != coll][:3]
    n_added = len(w_coll.all(lambda m: m["type"] == "document_added"))
    assert n_added == len(docs), (n_added, len(docs))
    total_chunks = int((await apsql(
        "SELECT count(*) FROM chunks ch JOIN collections c ON c.id = ch.collection_id"
        f" WHERE c.name = {sql_literal(coll)}"))[0][0])
    stats = await w_coll.wait(lambda m: m["type"] == "collection_stats" and
                              m["data"]["total_documents"] == len(docs) and
                              m["data"]["total_chunks"] == total_chunks, 10, "final stats")
    assert stats["data"]["storage_size_mb"] >= 0 and ISO.match(stats["data"]["last_updated"]), stats
    # each collection_stats counts the documents added so far (on this
    # connection, in order), not the ones still being extracted
    added = 0
    for m in w_coll.all():
        if m["type"] == "document_added":
            added += 1
        elif m["type"] == "collection_stats":
            assert m["data"]["total_documents"] == added, (added, m)

    # /api/v1/ws: indexing_progress of every document, up to 1.0
    for uid, tid, name in all_ups:
        ip = w_api.all(lambda m: m.get("type") == "indexing_progress" and m["filename"] == name)
        assert ip, (name, w_api.all()[-3:])
        for m in ip:
            assert isinstance(m["stage"], str) and 0 <= m["progress"] <= 1, m
        assert ip[-1]["progress"] == 1.0 and ip[-1]["document_id"] == done[uid]["document_id"], \
            ip[-1]

    # /ws/dashboard: task_completed notifications; /ws/active-tasks: every change
    for uid, tid, name in all_ups:
        n = await w_dash.wait(lambda m: m["type"] == "notification" and
                              m["data"]["task_id"] == tid, 10, f"notification of task {tid}")
        assert n["data"]["event"] == "task_completed", n
        assert isinstance(n["data"]["level"], str) and n["data"]["message"], n
        seen = [m["task"] for m in w_active.all(lambda m: m["type"] == "task_update" and
                                               m["task"]["id"] == tid)]
        assert seen, f"no task_update of {tid}"
        statuses = [t["status"] for t in seen]
        ranks = [TASK_ORDER.index(x) for x in statuses]
        assert ranks == sorted(ranks) and statuses[-1] == "completed", statuses
        last = seen[-1]
        for k in TASK_KEYS:
            assert k in last, (k, last)
        assert last["task_id"] == tid and last["upload_id"] == uid and last["filename"] == name
        assert last["progress"] == 1.0 and last["document_id"] == done[uid]["document_id"], last
        assert last["chunks"] == done[uid]["chunks_created"], last
        assert last["error"] is None and last["attempts"] >= 1, last
        for k in ("created_at", "started_at", "finished_at"):
            assert isinstance(last[k], str) and ISO.match(last[k]), (k, last)
        progs = [t["progress"] for t in seen]
        assert progs == sorted(progs), progs
    pdf_task = [m["task"] for m in w_active.all(lambda m: m["type"] == "task_update" and
                                                m["task"]["id"] == r_pdf["task_id"])][-1]
    assert pdf_task["pages"] == 3 and pdf_task["pages_done"] == 3, pdf_task
    assert pdf_task["content_type"] == "application/pdf", pdf_task
    assert pdf_task["size_bytes"] == len(pdf_bytes) and pdf_task["collection"] == coll, pdf_task
    dash = await w_dash.wait(lambda m: m["type"] == "dashboard_update" and
                             m["data"]["completed_tasks"] >= len(all_ups), 10, "completed count")
    assert dash["data"]["active_tasks"] >= 0 and dash["data"]["queued_tasks"] >= 0, dash

    # /ws/task/{id}: that task only, with its log lines
    assert w_task.all(), "nothing on /ws/task/ID"
    for m in w_task.all():
        assert m["type"] in ("task_update", "task_log"), m
        if m["type"] == "task_update":
            assert m["task"]["id"] == png_tid, m
        else:
            assert m["task_id"] == png_tid and m["level"] and m["message"], m
            assert ISO.match(m["timestamp"]), m
    assert w_task.all(lambda m: m["type"] == "task_log"), "no task_log for the OCR task"
    assert w_task.all()[-1]["type"] in ("task_update", "task_log")
    assert [m for m in w_task.all(lambda m: m["type"] == "task_update")][-1]["task"]["status"] \
        == "completed"

    # /ws/metrics: the master's figures, every metrics_interval
    total_pages = 3 + 1 + 2  # the PDF, the PNG, the scanned PDF at least
    m = await w_metrics.wait(lambda m: m["type"] == "metrics" and
                             m["data"]["pages_processed"] >= total_pages, 10, "pages_processed")
    for k in ("tasks_per_minute", "average_task_seconds", "pages_processed", "errors",
              "queue_length"):
        assert isinstance(m["data"][k], (int, float)) and m["data"][k] >= 0, (k, m)
    assert m["data"]["tasks_per_minute"] > 0 and m["data"]["average_task_seconds"] > 0, m
    ts = [t for t, x in w_metrics.timed(lambda x: x["type"] == "metrics")]
    assert len(ts) >= 3, len(ts)
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    assert all(0.25 <= g <= 1.5 for g in gaps[1:]), gaps

    # REST: the task with its logs, the list, errors
    status, _, body = await s.http("GET", f"/api/tasks/{png_tid}")
    assert status == 200, (status, body)
    t = json.loads(body)
    assert t["id"] == png_tid and t["status"] == "completed" and t["filename"] == names["png"], t
    assert t["logs"] and all(l["level"] and l["message"] and ISO.match(l["timestamp"])
                             for l in t["logs"]), t["logs"]
    assert any("tesseract" in l["message"] for l in t["logs"]), t["logs"]
    status, _, body = await s.http("GET", "/api/tasks?status=completed")
    assert status == 200, (status, body)
    listed = json.loads(body)["tasks"]
    ids = [x["id"] for x in listed]
    assert all(x["status"] == "completed" for x in listed), listed[:3]
    assert {tid for _, tid, _ in all_ups} <= set(ids), (ids[:20], all_ups)
    assert ids == sorted(ids, reverse=True), "newest first"
    status, _, body = await s.http("GET", "/api/tasks?status=bogus")
    error_of(status, json.loads(body), 400, "VALIDATION_ERROR")
    status, _, body = await s.http("GET", "/api/tasks/987654321")
    error_of(status, json.loads(body), 404, "NOT_FOUND")

    # the upload directory is empty once every task ended
    await eventually(lambda: not upload_dir_files(s.upload_dir), 5, what="empty upload_dir")

    # /ws/query cites the right file and page
    qs = await QueryStream.open(ctx, s)
    cits = await ask(qs, f"lighthouse {words['p2']}", coll)
    hit = [c for c in cits if words["p2"] in c["content"]]
    assert hit and hit[0]["source"] == names["pdf"] and hit[0]["page"] == 2, cits
    cits = await ask(qs, f"orchard {words['p3']}", coll)
    hit = [c for c in cits if words["p3"] in c["content"]]
    assert hit and hit[0]["source"] == names["pdf"] and hit[0]["page"] == 3, cits
    cits = await ask(qs, words["png"], coll)
    assert cits and cits[0]["source"] == names["png"], cits
    cits = await ask(qs, words["scan"], coll)
    assert cits and cits[0]["source"] == names["scan"] and cits[0]["page"] == 1, cits
    cits = await ask(qs, words["html"], coll)
    assert cits and cits[0]["source"] == names["html"], cits
    assert not re.search(r"</?(p|html|body|h1|title)\b", cits[0]["content"]), cits[0]
    leaked = await apsql("SELECT count(*) FROM chunks ch JOIN collections c ON c.id ="
                         f" ch.collection_id WHERE c.name = {sql_literal(coll)} AND"
                         " (ch.content LIKE '%zzscript%' OR ch.content LIKE '%zzstylezz%')")
    assert leaked == [("0",)], "text of <script>/<style> was indexed"
    cits = await ask(qs, f"budget {words['fr']}", coll)
    assert cits and cits[0]["source"] == names["fr"], cits
    assert "célébré 🎉" in cits[0]["content"] or words["fr"] in cits[0]["content"], cits[0]
    cits = await ask(qs, words["other"], coll)
    assert not [c for c in cits if c["source"] == names["other"]], cits

    # an unknown task id: close 4404
    ws = await ctx.ws(s, "/ws/task/987654321")
    code, _ = await expect_closed(ws, 5)
    assert code == 4404, code


# ---------------------------------------------------------------------------
# bad uploads


def _raw_exchange(port, head, body_pieces, read_first=False, timeout=10):
    """Send a request head (then body pieces) on a raw socket; return the
    status line and the response text. With read_first, wait for an answer
    before sending any body (a 413 from the headers alone)."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head)
        data = b""
        if read_first:
            s.settimeout(3)
            try:
                data = s.recv(65536)
            except socket.timeout:
                data = b""
            s.settimeout(timeout)
        if not data:
            try:
                for p in body_pieces:
                    s.sendall(p)
            except (BrokenPipeError, ConnectionResetError):
                pass
        while b"\r\n\r\n" not in data:
            try:
                more = s.recv(65536)
            except ConnectionResetError:
                break
            if not more:
                break
            data += more
        return data
    finally:
        s.close()


def parse_answer(data):
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if m:
        body = body[:int(m.group(1))]
    return status, body


@timeout(60)
async def test_upload_over_the_limit(ctx):
    s = await ingest_server(ctx, **{"limits.max_upload_bytes": "64KiB"})
    coll = new_collection()
    w = await Watch.open(ctx, s, "/ws/upload")
    big = ("Trop gros pour être accepté — déjà vu ✂️\n" * 6000).encode()  # ~270 KB
    path = doc_path(coll, "énorme.txt")
    # Content-Length over the limit: refused from the headers, before the body
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(big)}\r\n\r\n").encode()
    data = await asyncio.to_thread(_raw_exchange, s.port, head, pieces(big), True)
    status, body = parse_answer(data)
    error_of(status, json.loads(body), 413, "PAYLOAD_TOO_LARGE")
    # chunked: refused once the limit is crossed
    status, r = await post(s, path, pieces(big, 8192), {"Content-Type": "text/plain",
                                                      "Transfer-Encoding": "chunked"},
                           chunked=True)
    error_of(status, r, 413, "PAYLOAD_TOO_LARGE")
    # multipart whose file is over the limit
    body, ctype = multipart([("petit.txt", "text/plain", b"ok"), ("énorme.txt", "text/plain", big)])
    status, r = await post(s, doc_path(coll), body, {"Content-Type": ctype,
                                                     "Content-Length": str(len(body))})
    assert status == 413, (status, r)
    assert not upload_dir_files(s.upload_dir), upload_dir_files(s.upload_dir)
    # just under the limit is accepted and indexed
    ok = ("Juste sous la limite, été ✅\n" * 1500).encode()[:60000]
    ok = ok[:ok.rfind(b"\n") + 1]
    r = await upload_raw(s, coll, "juste.txt", ok, "text/plain")
    done = (await w.wait(complete_of(r["upload_id"]), 60, "upload_complete"))["data"]
    assert done["status"] == "success", done
    assert [f for _, f in await documents_in(coll)] == ["juste.txt"]
    await eventually(lambda: not upload_dir_files(s.upload_dir), 5, what="empty upload_dir")


@timeout(40)
async def test_bad_uploads_answer_400(ctx):
    s = await ingest_server(ctx)
    coll = new_collection()
    cases = [
        # multipart without a file part
        (doc_path(coll), b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n",
         "multipart/form-data; boundary=b"),
        # multipart whose closing boundary never comes
        (doc_path(coll), b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
         b"filename=\"a.txt\"\r\n\r\nhello", "multipart/form-data; boundary=b"),
        # no boundary
        (doc_path(coll), b"x", "multipart/form-data"),
        # raw body without a name
        (doc_path(coll), b"hello", "text/plain"),
        # names that are no file name: "..", a control character, only a directory
        (doc_path(coll, ".."), b"hello", "text/plain"),
        (doc_path(coll, "bad\x01name.txt"), b"hello", "text/plain"),
        (doc_path(coll, "dossier/"), b"hello", "text/plain"),
    ]
    for path, body, ctype in cases:
        status, r = await post(s, path, body, {"Content-Type": ctype,
                                               "Content-Length": str(len(body))})
        error_of(status, r, 400, "VALIDATION_ERROR")
    assert not upload_dir_files(s.upload_dir)
    assert await documents_in(coll) == []
    # an empty file is accepted, and its task fails with a clear error
    w = await Watch.open(ctx, s, "/ws/upload")
    status, r = await post(s, doc_path(coll, "vide é.txt"), b"", {"Content-Type": "text/plain",
                                                                  "Content-Length": "0"})
    assert status == 202, (status, r)
    done = (await w.wait(complete_of(r["upload_id"]), 20, "upload_complete"))["data"]
    assert done["status"] == "failed" and "no text" in done["error"], done
    # a path is cut to its last component (as browsers send C:\fakepath\x):
    # never a directory of the client on the server
    for name in ("../../etc/passwd é.txt", "C:\\Users\\moi\\relevé.txt"):
        body = f"contenu de {name}".encode()
        status, r = await post(s, doc_path(coll, name), body,
                               {"Content-Type": "text/plain", "Content-Length": str(len(body))})
        assert status == 202, (status, r)
        assert r["filename"] == name.replace("\\", "/").rsplit("/", 1)[-1], r
        await w.wait(complete_of(r["upload_id"]), 20, "upload_complete")
    assert sorted(f for _, f in await documents_in(coll)) == ["passwd é.txt", "relevé.txt"]


# ---------------------------------------------------------------------------
# extractors that misbehave


def hanging_extractor(ctx, name="hang.sh"):
    """A stand-in for pdftotext that writes its pid and sleeps."""
    pidfile = ctx.tmp / f"{name}.pid"
    script = ctx.tmp / name
    script.write_text(f"#!/bin/sh\necho $$ > {pidfile}\necho 'hang.sh: pretending to work' >&2\n"
                      "exec sleep 60\n")
    script.chmod(0o755)
    return script, pidfile


def pid_gone(pid):
    """Neither running nor a zombie: killed and reaped by the server."""
    return not os.path.exists(f"/proc/{pid}")


@timeout(60)
async def test_extractor_timeout_fails_the_task(ctx):
    script, pidfile = hanging_extractor(ctx)
    s = await ingest_server(ctx, **{"ingest.pdftotext": str(script),
                                    "ingest.extract_timeout": "1s"})
    coll = new_collection()
    w = await Watch.open(ctx, s, "/ws/upload")
    dash = await Watch.open(ctx, s, "/ws/dashboard")
    pdf = ctx.tmp / "lent.pdf"
    docgen.make_text_pdf(pdf, ["Un document qui ne sera jamais lu."])
    r = await upload_raw(s, coll, "rapport lent é.pdf", pdf.read_bytes(), "application/pdf")
    task_ws = await Watch.open(ctx, s, f"/ws/task/{r['task_id']}")
    done = (await w.wait(complete_of(r["upload_id"]), 30, "upload_complete"))["data"]
    assert done["status"] == "failed" and done["document_id"] is None, done
    assert done["chunks_created"] == 0 and "time" in done["error"].lower(), done
    pid = int(pidfile.read_text())
    await eventually(lambda: pid_gone(pid), 5, what=f"extractor {pid} killed and reaped")
    n = await dash.wait(lambda m: m["type"] == "notification" and
                        m["data"]["task_id"] == r["task_id"], 10, "task_failed")
    assert n["data"]["event"] == "task_failed" and n["data"]["level"] in ("error", "warning"), n
    status, _, body = await s.http("GET", f"/api/tasks/{r['task_id']}")
    t = json.loads(body)
    assert status == 200 and t["status"] == "failed", t
    assert "time" in t["error"].lower() and t["finished_at"], t
    logs = " | ".join(l["message"] for l in t["logs"])
    assert "timed out" in logs or "timeout" in logs, logs
    assert "pretending to work" in logs, f"the child's stderr is not in the log: {logs}"
    upd = task_ws.all(lambda m: m["type"] == "task_update")
    assert upd and upd[-1]["task"]["status"] == "failed", task_ws.all()[-3:]
    assert await documents_in(coll) == []
    await eventually(lambda: not upload_dir_files(s.upload_dir), 5, what="empty upload_dir")


@timeout(60)
async def test_cancel_during_extraction(ctx):
    script, pidfile = hanging_extractor(ctx)
    s = await ingest_server(ctx, **{"ingest.pdftotext": str(script),
                                    "ingest.extract_timeout": "5m"})
    coll = new_collection()
    w = await Watch.open(ctx, s, "/ws/upload")
    active = await Watch.open(ctx, s, "/ws/active-tasks")
    pdf = ctx.tmp / "annulé.pdf"
    docgen.make_text_pdf(pdf, ["Ce document sera annulé pendant l'extraction."])
    r = await upload_raw(s, coll, "à annuler.pdf", pdf.read_bytes(), "application/pdf")
    tid = r["task_id"]
    await eventually(lambda: pidfile.exists() and pidfile.read_text().strip(), 20,
                     what="the extractor child to start")
    pid = int(pidfile.read_text())
    await active.wait(lambda m: m["type"] == "task_update" and m["task"]["id"] == tid and
                      m["task"]["status"] == "extracting", 10, "extracting")
    status, _, body = await s.http("POST", f"/api/tasks/{tid}/cancel")
    assert status == 200, (status, body)
    t = json.loads(body)
    assert t["id"] == tid and t["status"] == "cancelled", t
    await eventually(lambda: pid_gone(pid), 5, what=f"extractor {pid} killed and reaped")
    done = (await w.wait(complete_of(r["upload_id"]), 10, "upload_complete"))["data"]
    assert done["status"] == "cancelled" and done["chunks_created"] == 0, done
    await active.wait(lambda m: m["type"] == "task_update" and m["task"]["id"] == tid and
                      m["task"]["status"] == "cancelled", 10, "cancelled task_update")
    status, _, body = await s.http("POST", f"/api/tasks/{tid}/cancel")
    error_of(status, json.loads(body), 409, "TASK_FINISHED")
    status, _, body = await s.http("POST", "/api/tasks/987654321/cancel")
    error_of(status, json.loads(body), 404, "NOT_FOUND")
    assert await documents_in(coll) == []
    await eventually(lambda: not upload_dir_files(s.upload_dir), 5, what="empty upload_dir")


@timeout(60)
async def test_unsupported_type_fails_clearly(ctx):
    s = await ingest_server(ctx)
    coll = new_collection()
    w = await Watch.open(ctx, s, "/ws/upload")
    # a ZIP named .txt: the content decides, and it cannot be extracted
    z = b"PK\x03\x04" + os.urandom(2000)
    r = await upload_raw(s, coll, "pas du texte.txt", z, "text/plain")
    done = (await w.wait(complete_of(r["upload_id"]), 30, "upload_complete"))["data"]
    assert done["status"] == "failed" and done["error"], done
    # a PDF named .txt is read as a PDF
    pdf = ctx.tmp / "deguise.pdf"
    m = marker()
    docgen.make_text_pdf(pdf, ["first page", f"second page {m}"])
    r = await upload_raw(s, coll, "déguisé.txt", pdf.read_bytes(), "text/plain")
    done = (await w.wait(complete_of(r["upload_id"]), 30, "upload_complete"))["data"]
    assert done["status"] == "success", done
    assert await pages_of(done["document_id"]) == [1, 2]


# ---------------------------------------------------------------------------
# delete, duplicates, rate of progress


@timeout(60)
async def test_delete_document(ctx):
    s = await ingest_server(ctx)
    coll = new_collection()
    w = await Watch.open(ctx, s, "/ws/upload")
    wc = await Watch.open(ctx, s, f"/ws/collections?collection={coll}")
    m1, m2 = marker(), marker()
    a = await upload_raw(s, coll, "à garder.txt", f"Le document {m1} reste.".encode(), "text/plain")
    b = await upload_raw(s, coll, "à supprimer 🗑️.txt",
                         f"Le document {m2} sera supprimé.".encode(), "text/plain")
    da = (await w.wait(complete_of(a["upload_id"]), 30, "complete a"))["data"]
    db = (await w.wait(complete_of(b["upload_id"]), 30, "complete b"))["data"]
    qs = await QueryStream.open(ctx, s)
    cits = await ask(qs, m2, coll)
    assert cits and cits[0]["source"] == "à supprimer 🗑️.txt", cits
    n_chunks = await chunks_of(db["document_id"])
    status, _, body = await s.http("DELETE", f"/api/documents/{db['document_id']}")
    assert status == 200, (status, body)
    assert json.loads(body) == {"deleted": True, "document_id": db["document_id"],
                                "chunks_removed": n_chunks}
    gone = await wc.wait(lambda m: m["type"] == "document_deleted", 10, "document_deleted")
    assert gone["collection"] == coll and gone["data"]["document_id"] == db["document_id"], gone
    st = await wc.wait(lambda m: m["type"] == "collection_stats" and
                       m["data"]["total_documents"] == 1, 10, "stats after delete")
    assert st["data"]["total_chunks"] == await chunks_of(da["document_id"]), st
    assert await chunks_of(db["document_id"]) == 0
    assert [f for _, f in await documents_in(coll)] == ["à garder.txt"]
    cits = await ask(qs, m2, coll)
    assert not [c for c in cits if c["source"] == "à supprimer 🗑️.txt"], cits
    cits = await ask(qs, m1, coll)
    assert cits and cits[0]["source"] == "à garder.txt", cits
    status, _, body = await s.http("DELETE", f"/api/documents/{db['document_id']}")
    error_of(status, json.loads(body), 404, "NOT_FOUND")


@timeout(60)
async def test_reupload_is_a_duplicate(ctx):
    s = await ingest_server(ctx)
    coll = new_collection()
    w = await Watch.open(ctx, s, "/ws/upload")
    data = f"Même contenu, deux envois {marker()} — ça marche ? ✔️\n".encode() * 20
    a = await upload_raw(s, coll, "original.txt", data, "text/plain")
    da = (await w.wait(complete_of(a["upload_id"]), 30, "first"))["data"]
    assert da["status"] == "success" and da["chunks_created"] > 0, da
    b = await upload_chunked(s, coll, "copie é.txt", data, "text/plain")
    db = (await w.wait(complete_of(b["upload_id"]), 30, "second"))["data"]
    assert db["status"] == "duplicate", db
    assert db["document_id"] == da["document_id"] and db["chunks_created"] == 0, db
    assert [f for _, f in await documents_in(coll)] == ["original.txt"]
    status, _, body = await s.http("GET", f"/api/tasks/{b['task_id']}")
    t = json.loads(body)
    assert t["status"] == "completed" and t["document_id"] == da["document_id"], t
    # the same content in another collection is a new document there
    coll2 = new_collection()
    c = await upload_raw(s, coll2, "original.txt", data, "text/plain")
    dc = (await w.wait(complete_of(c["upload_id"]), 30, "third"))["data"]
    assert dc["status"] == "success" and dc["document_id"] != da["document_id"], dc


@timeout(90)
async def test_progress_is_rate_limited(ctx):
    interval = 0.2
    s = await ingest_server(ctx, **{"ingest.progress_interval": "200ms"})
    coll = new_collection()
    w = await Watch.open(ctx, s, "/ws/upload")
    line = "Ligne de texte numéro {} pour mesurer la cadence — été ☀️ {}\n"
    data = "".join(line.format(i, marker() if i % 500 == 0 else "")
                   for i in range(60000)).encode()  # ~4 MB
    # a slow upload of many pieces: 250 pieces over ~2.5 s
    path = doc_path(coll, "cadence.txt")
    status, r = await post(s, path, pieces(data, len(data) // 250 + 1, 0.01),
                           {"Content-Type": "text/plain", "Content-Length": str(len(data))})
    assert status == 202, (status, r)
    uid = r["upload_id"]
    await w.wait(complete_of(uid), 60, "upload_complete")
    timed = w.timed(of_upload(uid))
    up = [(t, m["data"]) for t, m in timed if m["type"] == "upload_progress"]
    span = up[-1][0] - up[0][0]
    assert span > 1.0, f"the upload took only {span:.2f}s"
    assert 3 <= len(up) <= span / interval + 3, (len(up), span)
    assert up[-1][1]["bytes_uploaded"] == len(data) and up[-1][1]["progress"] == 1.0, up[-1]
    per_sec = len(up) / span
    assert per_sec <= 1 / interval + 1, per_sec
    check_upload_stream(w, uid, "cadence.txt", len(data), interval)


@timeout(90)
async def test_indexing_progress_is_rate_limited(ctx):
    """indexing_progress on /api/v1/ws (and document_status) follows the
    same per-upload rate limit as the /ws/upload events: a large text makes
    many chunk batches, yet only a few messages per second go out."""
    interval = 0.25
    s = await ingest_server(ctx, **{"ingest.progress_interval": "250ms"})
    coll = new_collection()
    w = await Watch.open(ctx, s, "/ws/upload")
    api = await Watch.open(ctx, s, "/api/v1/ws")
    words = ("réunion budget équipe été rapport données serveur passerelle client requête "
             "réponse document page collection index recherche texte fichier tâche").split()
    import random
    rnd = random.Random(marker())
    data = "".join(" ".join(rnd.choice(words) for _ in range(14)) + ".\n"
                   for _ in range(60000)).encode()  # ~6 MB, ~5,000 chunks
    r = await upload_raw(s, coll, "gros rapport.txt", data, "text/plain")
    await w.wait(complete_of(r["upload_id"]), 80, "upload_complete")
    ip = api.timed(lambda m: m.get("type") == "indexing_progress" and
                   m["filename"] == "gros rapport.txt")
    assert ip, "no indexing_progress"
    span = ip[-1][0] - ip[0][0]
    # three kinds of progress (extraction, chunking, indexing) feed it
    allowed = 3 * (span / interval) + 8
    assert len(ip) <= allowed, (len(ip), f"over {span:.2f}s", allowed)
    assert ip[-1][1]["progress"] == 1.0, ip[-1]
    check_rate(w.timed(of_upload(r["upload_id"])), interval)
