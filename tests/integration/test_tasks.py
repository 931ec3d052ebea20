"""The ingestion queue (SPEC S4.2, S6): tasks in PostgreSQL claimed with
SKIP LOCKED under a lease, run by any worker (extract, chunk, batched
inserts), REST GET/POST/DELETE on tasks and documents, `ragws tasks`.

Tasks are queued here the way another node would queue them: the file is
written into ingest.upload_dir and the row inserted with SQL (the REST
upload is another part). Extraction goes through the configured
pdftotext; a wrapper script around it makes extraction slow where a test
needs a task caught mid-run."""

import asyncio
import hashlib
import json
import os
import signal
import time
import uuid

from harness import eventually, recv_until, run_cli, timeout
from ragkit import QueryStream, apsql, conninfo, sql_literal

FRENCH = ("Les châteaux de la Loire furent bâtis à la Renaissance. Chambord possède un "
          "escalier à double révolution attribué à Léonard de Vinci. "
          "Chenonceau enjambe le Cher sur ses arches élégantes. 🏰\n\n")


def make_pdf(path, pages):
    """A PDF with one text page per entry of pages (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas
    font = "Helvetica"
    for cand in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if os.path.exists(cand):
            pdfmetrics.registerFont(TTFont("DejaVu", cand))
            font = "DejaVu"
    c = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        c.setFont(font, 11)
        y = 800
        for line in text.split("\n"):
            c.drawString(50, y, line)
            y -= 16
        c.showPage()
    c.save()


def slow_extractor(ctx, seconds, pidfile=None):
    """A pdftotext that waits first (its pid written to pidfile)."""
    script = ctx.tmp / f"slow-pdftotext-{uuid.uuid4().hex[:6]}.sh"
    rec = f'echo $$ >> "{pidfile}"\n' if pidfile else ""
    script.write_text(f"#!/bin/sh\n{rec}sleep {seconds}\nexec pdftotext \"$@\"\n")
    script.chmod(0o755)
    return str(script)


def process_running(pid):
    """Alive and not a zombie (an orphan's zombie may wait for an init)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Queue:
    """Tasks queued "by another node": file in upload_dir + SQL row."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.dir = ctx.tmp / "uploads"
        self.dir.mkdir(exist_ok=True)

    def overrides(self, **extra):
        o = {"ingest.upload_dir": str(self.dir), "ingest.poll_interval": "200ms",
             "ingest.progress_interval": "50ms"}
        o.update({k.replace("__", "."): v for k, v in extra.items()})
        return o

    async def add(self, collection, filename, data, content_type="text/plain", project=None):
        upload_id = "upload_" + uuid.uuid4().hex[:16]
        path = self.dir / upload_id
        path.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        rows = await apsql(
            "WITH col AS (INSERT INTO collections (name) VALUES (" + sql_literal(collection) + ")"
            " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id)"
            " INSERT INTO tasks (kind, upload_id, collection_id, filename, content_type, path,"
            " size_bytes, content_hash, project_id)"
            f" SELECT 'ingest', {sql_literal(upload_id)}, col.id, {sql_literal(filename)},"
            f" {sql_literal(content_type)}, {sql_literal(str(path))}, {len(data)},"
            f" {sql_literal(sha)}, {sql_literal(project) if project else 'NULL'} FROM col"
            " RETURNING id")
        return int(rows[0][0]), upload_id, path


async def task_row(task_id):
    rows = await apsql("SELECT status, attempts, coalesce(error, ''), coalesce(document_id, 0),"
                       f" chunks, coalesce(lease_owner, '') FROM tasks WHERE id = {task_id}")
    st, att, err, doc, chunks, owner = rows[0]
    return {"status": st, "attempts": int(att), "error": err, "document_id": int(doc),
            "chunks": int(chunks), "lease_owner": owner}


async def wait_status(task_id, statuses, timeout=20.0):
    got = {}

    async def check():
        got.update(await task_row(task_id))
        return got["status"] in statuses
    await eventually(check, timeout=timeout, interval=0.1, what=f"task {task_id} in {statuses}")
    return got


def collection_name():
    return "tasks_" + uuid.uuid4().hex[:8]


def error_of(status, body, want_status, want_code):
    assert status == want_status, (status, body)
    e = json.loads(body)["error"]
    assert e["code"] == want_code and e["message"], e


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@timeout(60)
async def test_task_runs_to_completion_and_is_answerable(ctx):
    q = Queue(ctx)
    s = await ctx.server(q.overrides())
    apiv1 = await ctx.ws(s, "/api/v1/ws")
    col = collection_name()
    name = "Châteaux de la Loire 🏰.pdf"
    pdf = ctx.tmp / "loire.pdf"
    make_pdf(pdf, ["Introduction générale au voyage.\nLa vallée est classée.",
                   FRENCH.strip() + "\nChambord escalier double révolution.",
                   "Annexe: horaires des visites et tarifs réduits."])
    tid, upload_id, path = await q.add(col, name, pdf.read_bytes(), "application/pdf")
    done, seen = await recv_until(apiv1, lambda m: (
        m.get("type") == "indexing_progress" and m.get("stage") == "completed"
        and m.get("filename") == name), timeout=30, what="indexing_progress completed")
    assert done["progress"] == 1 and done["document_id"] > 0, done
    stages = [m["stage"] for m in seen if m.get("type") == "indexing_progress"
              and m.get("filename") == name]
    assert "text_extraction" in stages and stages[-1] == "indexing", stages

    t = await wait_status(tid, {"completed"})
    assert t["attempts"] == 1 and t["document_id"] == done["document_id"], t
    assert t["lease_owner"] == "" and t["chunks"] > 0, t
    assert not path.exists(), "the uploaded file is removed when the task ends"
    rows = await apsql("SELECT d.status, d.content_hash, count(c.id), min(c.page), max(c.page)"
                       f" FROM documents d JOIN chunks c ON c.document_id = d.id"
                       f" WHERE d.id = {t['document_id']} GROUP BY d.id")
    st, h, n, pmin, pmax = rows[0]
    assert st == "indexed" and h == hashlib.sha256(pdf.read_bytes()).hexdigest(), rows
    assert int(n) == t["chunks"] and (int(pmin), int(pmax)) == (1, 3), rows

    # REST view of the task, with its log
    status, _, body = await s.http("GET", f"/api/tasks/{tid}")
    assert status == 200, (status, body)
    task = json.loads(body)
    assert task["id"] == task["task_id"] == tid and task["status"] == "completed", task
    assert task["upload_id"] == upload_id and task["filename"] == name, task
    assert task["collection"] == col and task["progress"] == 1, task
    assert task["pages"] == 3 and task["chunks"] == t["chunks"] and task["error"] is None, task
    assert task["created_at"] and task["started_at"] and task["finished_at"], task
    assert any("claimed by" in l["message"] for l in task["logs"]), task["logs"]
    assert all(set(l) == {"level", "message", "timestamp"} for l in task["logs"]), task["logs"]

    # answerable with a citation naming the file and the right page
    qs = await QueryStream.open(ctx, s)
    await qs.query("r1", "Which château has the escalier à double révolution?",
                   collection_name=col)
    final = await qs.final("r1")
    assert final["type"] == "complete", final
    cits = [m["data"] for m in qs.of("r1", "citation")]
    assert cits and cits[0]["source"] == name and cits[0]["page"] == 2, cits


@timeout(60)
async def test_rest_tasks_and_documents_shapes_and_errors(ctx):
    q = Queue(ctx)
    s = await ctx.server(q.overrides())
    col = collection_name()
    data = (FRENCH * 3).encode()
    tid, _, _ = await q.add(col, "notes d'été.txt", data)
    t = await wait_status(tid, {"completed"})

    status, _, body = await s.http("GET", "/api/tasks?status=completed")
    assert status == 200, (status, body)
    tasks = json.loads(body)["tasks"]
    assert tid in [x["id"] for x in tasks] and all(x["status"] == "completed" for x in tasks)
    ids = [x["id"] for x in tasks]
    assert ids == sorted(ids, reverse=True), "newest first"
    status, _, body = await s.http("GET", "/api/tasks")
    assert status == 200 and len(json.loads(body)["tasks"]) <= 200, body
    status, _, body = await s.http("GET", "/api/tasks?status=active")
    assert status == 200 and tid not in [x["id"] for x in json.loads(body)["tasks"]], body
    for bad in ("/api/tasks?status=running", "/api/tasks?status=", "/api/tasks/abc",
                "/api/tasks/0", "/api/tasks/-3"):
        error_of(*(await s.http("GET", bad))[::2], 400, "VALIDATION_ERROR")
    error_of(*(await s.http("GET", "/api/tasks/987654321"))[::2], 404, "NOT_FOUND")
    error_of(*(await s.http("POST", "/api/tasks/987654321/cancel"))[::2], 404, "NOT_FOUND")
    error_of(*(await s.http("POST", f"/api/tasks/{tid}/cancel"))[::2], 409, "TASK_FINISHED")

    # DELETE the document: its chunks go, a second DELETE is 404
    doc = t["document_id"]
    status, _, body = await s.http("DELETE", f"/api/documents/{doc}")
    assert status == 200, (status, body)
    assert json.loads(body) == {"deleted": True, "document_id": doc,
                                "chunks_removed": t["chunks"]}, body
    assert (await apsql(f"SELECT count(*) FROM chunks WHERE document_id = {doc}"))[0][0] == "0"
    error_of(*(await s.http("DELETE", f"/api/documents/{doc}"))[::2], 404, "NOT_FOUND")
    error_of(*(await s.http("DELETE", "/api/documents/x1"))[::2], 400, "VALIDATION_ERROR")


@timeout(40)
async def test_cancel_queued_task(ctx):
    q = Queue(ctx)
    # polls once at start, then not for an hour: the task stays queued
    s = await ctx.server(q.overrides(ingest__poll_interval="1h"))
    await asyncio.sleep(0.3)
    tid, _, path = await q.add(collection_name(), "à annuler.txt", FRENCH.encode())
    status, _, body = await s.http("POST", f"/api/tasks/{tid}/cancel")
    assert status == 200, (status, body)
    task = json.loads(body)
    assert task["id"] == tid and task["status"] == "cancelled", task
    assert task["finished_at"], task
    await eventually(lambda: not path.exists(), what="the queued file removed")
    t = await task_row(tid)
    assert t["status"] == "cancelled" and t["document_id"] == 0, t
    error_of(*(await s.http("POST", f"/api/tasks/{tid}/cancel"))[::2], 409, "TASK_FINISHED")


@timeout(60)
async def test_cancel_while_extracting_kills_the_child(ctx):
    q = Queue(ctx)
    pidfile = ctx.tmp / "pids"
    s = await ctx.server(q.overrides(ingest__pdftotext=slow_extractor(ctx, 30, pidfile)))
    pdf = ctx.tmp / "long.pdf"
    make_pdf(pdf, ["Une page qui ne sera jamais indexée."])
    tid, _, path = await q.add(collection_name(), "jamais.pdf", pdf.read_bytes(),
                               "application/pdf")
    await eventually(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=10,
                     what="the extractor started")
    pid = int(pidfile.read_text().split()[0])
    assert pid_alive(pid)
    status, _, body = await s.http("POST", f"/api/tasks/{tid}/cancel")
    assert status == 200 and json.loads(body)["status"] == "cancelled", (status, body)
    await eventually(lambda: not pid_alive(pid), timeout=5, what="extractor child killed")
    t = await wait_status(tid, {"cancelled"})
    await eventually(lambda: not path.exists(), what="file removed")
    await asyncio.sleep(0.5)
    t = await task_row(tid)
    assert t["status"] == "cancelled" and t["chunks"] == 0, t
    rows = await apsql(f"SELECT count(*) FROM documents WHERE metadata->>'task_id' = '{tid}'")
    assert rows[0][0] == "0", "nothing indexed of a cancelled task"


@timeout(90)
async def test_killed_worker_task_taken_again(ctx):
    q = Queue(ctx)
    pidfile = ctx.tmp / "again-pids"
    s = await ctx.server(q.overrides(ingest__lease="2s",
                                     ingest__pdftotext=slow_extractor(ctx, 4, pidfile)))
    pdf = ctx.tmp / "again.pdf"
    make_pdf(pdf, ["Reprise après la mort du processus: la tâche continue ailleurs."])
    tid, _, _ = await q.add(collection_name(), "reprise.pdf", pdf.read_bytes(),
                            "application/pdf")
    t = await wait_status(tid, {"extracting"}, timeout=10)
    pid = int(t["lease_owner"].split(":")[1])
    await eventually(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=10,
                     what="extractor started")
    child = int(pidfile.read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    # The dead worker's extractor is killed with it (PR_SET_PDEATHSIG).
    # (Well before its 4 s sleep would end and a write to the closed pipe kill it.)
    await eventually(lambda: not process_running(child), timeout=2, what="orphan extractor gone")
    t = await wait_status(tid, {"completed", "failed"}, timeout=40)
    assert t["status"] == "completed" and t["attempts"] == 2, t
    assert t["chunks"] > 0 and int(t["lease_owner"] or 0) == 0, t
    rows = await apsql(f"SELECT count(*) FROM documents WHERE metadata->>'task_id' = '{tid}'")
    assert rows[0][0] == "1", "one document, the dead attempt's partial rows dropped"


@timeout(90)
async def test_max_attempts_exhausted_fails(ctx):
    q = Queue(ctx)
    s = await ctx.server(q.overrides(ingest__lease="2s", ingest__max_attempts="1",
                                     ingest__pdftotext=slow_extractor(ctx, 20)))
    pdf = ctx.tmp / "doomed.pdf"
    make_pdf(pdf, ["Cette tâche n'aura qu'une chance."])
    tid, _, path = await q.add(collection_name(), "condamnée.pdf", pdf.read_bytes(),
                               "application/pdf")
    t = await wait_status(tid, {"extracting"}, timeout=10)
    os.kill(int(t["lease_owner"].split(":")[1]), signal.SIGKILL)
    t = await wait_status(tid, {"failed", "completed"}, timeout=30)
    assert t["status"] == "failed", t
    assert t["error"] == "worker died 1 times while running it", t
    assert t["attempts"] == 1, t
    await eventually(lambda: not path.exists(), what="file removed")
    status, _, body = await s.http("GET", f"/api/tasks/{tid}")
    assert json.loads(body)["error"] == t["error"], body


@timeout(90)
async def test_restart_runs_queued_and_abandoned_tasks(ctx):
    q = Queue(ctx)
    col = collection_name()
    slow = slow_extractor(ctx, 3)
    s = await ctx.server(q.overrides(ingest__lease="2s", ingest__pdftotext=slow,
                                     server__drain_timeout="1s"))
    pdf = ctx.tmp / "restart.pdf"
    make_pdf(pdf, ["Redémarrage du serveur pendant l'extraction."])
    running, _, _ = await q.add(col, "pendant.pdf", pdf.read_bytes(), "application/pdf")
    await wait_status(running, {"extracting"}, timeout=10)
    await s.stop()
    queued = [await q.add(col, f"après-{i}.txt", f"{FRENCH} numéro {i}".encode())
              for i in range(3)]
    await asyncio.sleep(0.5)
    for tid, _, _ in queued:
        assert (await task_row(tid))["status"] == "queued"
    s2 = await ctx.server(q.overrides(ingest__lease="2s", ingest__pdftotext=slow))
    for tid, _, _ in queued:
        assert (await wait_status(tid, {"completed", "failed"}))["status"] == "completed"
    t = await wait_status(running, {"completed", "failed"}, timeout=30)
    assert t["status"] == "completed" and t["attempts"] == 2, t


@timeout(90)
async def test_max_parallel_one_never_runs_two(ctx):
    q = Queue(ctx)
    s = await ctx.server(q.overrides(ingest__max_parallel="1",
                                     ingest__pdftotext=slow_extractor(ctx, 0.7)))
    col = collection_name()
    ids = []
    for i in range(4):
        pdf = ctx.tmp / f"p{i}.pdf"
        make_pdf(pdf, [f"Document parallèle numéro {i}: {FRENCH}"[:90]])
        ids.append((await q.add(col, f"parallèle-{i}.pdf", pdf.read_bytes(),
                                "application/pdf"))[0])
    idlist = ",".join(map(str, ids))
    most, deadline = 0, time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = await apsql("SELECT count(*) FILTER (WHERE status IN ('extracting', 'chunking',"
                           " 'indexing')), count(*) FILTER (WHERE status = 'completed')"
                           f" FROM tasks WHERE id IN ({idlist})")
        running, completed = map(int, rows[0])
        most = max(most, running)
        assert running <= 1, f"{running} tasks running at once with max_parallel = 1"
        if completed == len(ids):
            break
        await asyncio.sleep(0.05)
    assert completed == len(ids) and most == 1, (completed, most)


@timeout(60)
async def test_duplicate_content_one_document(ctx):
    q = Queue(ctx)
    s = await ctx.server(q.overrides())
    col = collection_name()
    data = ("Contenu identique, déposé deux fois. " * 40).encode()
    a, _, _ = await q.add(col, "original.txt", data)
    ta = await wait_status(a, {"completed"})
    b, _, pb = await q.add(col, "copie.txt", data)
    tb = await wait_status(b, {"completed"})
    assert tb["document_id"] == ta["document_id"] and tb["chunks"] == 0, (ta, tb)
    assert not pb.exists()
    rows = await apsql("SELECT count(*) FROM documents d JOIN collections c"
                       f" ON c.id = d.collection_id WHERE c.name = {sql_literal(col)}")
    assert rows[0][0] == "1", rows
    # the same bytes in another collection are another document
    c, _, _ = await q.add(collection_name(), "ailleurs.txt", data)
    tc = await wait_status(c, {"completed"})
    assert tc["document_id"] != ta["document_id"] and tc["chunks"] > 0, tc


@timeout(40)
async def test_cli_tasks_lists(ctx):
    q = Queue(ctx)
    s = await ctx.server(q.overrides())
    col = collection_name()
    tid, _, _ = await q.add(col, "liste café ☕.txt", FRENCH.encode())
    await wait_status(tid, {"completed"})
    args = ["tasks", "-c", "ragws.conf", "-o", f"postgres.conninfo={conninfo()}"]
    rc, out, err = await run_cli(args + ["--status", "completed"])
    assert rc == 0, (rc, out, err)
    line = next(l for l in out.splitlines() if l.split()[0] == str(tid))
    assert "completed" in line and "100%" in line and "liste café ☕.txt" in line, line
    assert col in line, line
    assert out.splitlines()[0].split()[:3] == ["ID", "STATUS", "PROGRESS"], out
    rc, out, err = await run_cli(args + ["--status", "failed"])
    assert rc == 0 and not any(l.split()[0] == str(tid) for l in out.splitlines()[1:]), out
    rc, out, err = await run_cli(args + ["--status", "bogus"])
    assert rc == 2 and "usage" in err, (rc, err)


@timeout(60)
async def test_project_room_sees_document_status_and_updates(ctx):
    from test_sio_cli import poll, post, until_event
    q = Queue(ctx)
    s = await ctx.server(q.overrides())
    status, _, body = await s.http("GET", "/socket.io/?EIO=4&transport=polling")
    sid = json.loads(body[1:])["sid"]
    await post(s, sid, "40")
    await until_event(s, sid, "connection_status")
    await post(s, sid, '42["join_project",{"project_id":"77"}]')
    await until_event(s, sid, "project_joined")
    tid, _, _ = await q.add(collection_name(), "projet été.txt", (FRENCH * 2).encode(),
                            project="77")
    events = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
            e[0] == "project_update" for e in events):
        for pkt in await poll(s, sid):
            if pkt.startswith("42"):
                events.append(json.loads(pkt[2:]))
            elif pkt == "2":
                await post(s, sid, "3")
    statuses = [e[1]["status"] for e in events if e[0] == "document_status"]
    assert statuses and statuses[-1] == "completed", events
    assert set(statuses) <= {"processing", "completed"}, statuses
    progress = [e[1]["progress"] for e in events if e[0] == "document_status"]
    assert all(0 <= p <= 100 for p in progress) and progress[-1] == 100, progress
    t = await task_row(tid)
    upd = [e[1] for e in events if e[0] == "project_update"]
    assert upd[0]["type"] == "document_added", upd
    assert upd[0]["data"]["document_id"] == t["document_id"], upd
    status, _, body = await s.http("DELETE", f"/api/documents/{t['document_id']}")
    assert status == 200, (status, body)
    gone = await until_event(s, sid, "project_update")
    assert gone["type"] == "document_deleted", gone
    assert gone["data"]["document_id"] == t["document_id"], gone


@timeout(120)
async def test_large_single_page_text_is_chunked_in_slices(ctx):
    q = Queue(ctx)
    s = await ctx.server(q.overrides())
    lines = [f"Ligne {i}: le café crème coûte {i % 7} euros à Besançon. 🥐" for i in range(80000)]
    data = "\n".join(lines).encode()  # ~5.5 MB, one page, no blank line at all
    tid, _, _ = await q.add(collection_name(), "énorme.txt", data)
    slowest = 0.0
    while (await task_row(tid))["status"] not in ("completed", "failed"):
        t0 = time.monotonic()
        status, _, _ = await s.http("GET", "/health")
        slowest = max(slowest, time.monotonic() - t0)
        assert status == 200
        await asyncio.sleep(0.05)
    t = await task_row(tid)
    assert t["status"] == "completed", t
    assert slowest < 1.0, f"/health took {slowest:.2f}s while ingesting"
    rows = await apsql("SELECT count(*), count(DISTINCT ordinal), min(ordinal), max(ordinal),"
                       " bool_and(page IS NULL), sum(length(content))"
                       f" FROM chunks WHERE document_id = {t['document_id']}")
    n, distinct, lo, hi, nopage, chars = rows[0]
    assert int(n) == t["chunks"] == int(distinct) and (int(lo), int(hi)) == (0, int(n) - 1), rows
    assert nopage == "t", "a text file has no pages"
    total = len(data.decode())
    assert total <= int(chars) <= total * 1.6, (chars, total)  # all covered, overlap bounded
    rows = await apsql("SELECT content FROM chunks WHERE document_id ="
                       f" {t['document_id']} ORDER BY ordinal DESC LIMIT 1")
    assert rows[0][0].endswith(lines[-1]), rows[0][0][-80:]
