"""PostgreSQL stops while an ingestion task runs and while a client uploads
(issue 9 under faults, ASan build). With the task's extractor held for a
few seconds, PostgreSQL is stopped (pg_ctl -m fast):

- an upload meanwhile answers 503 STORAGE_UNAVAILABLE with the fixed text
  and leaves nothing of itself on disk;
- once PostgreSQL is back, the running task does not stay "running": it
  completes (taken again when its lease lapsed) with one document, which
  /ws/query then cites;
- no worker died and the log holds no sanitizer report.

The test runs its own cluster (ragkit.own_cluster)."""

import asyncio
import json
import urllib.parse

import docgen
from harness import eventually, timeout
from ragkit import QueryStream, own_cluster, psql
from test_pg_outage import pg_ctl_stop

MARK = "zéphyrpanne"


def slow_pdftotext(ctx, seconds):
    script = ctx.tmp / "slow-pdftotext.sh"
    script.write_text(f"#!/bin/sh\nsleep {seconds}\nexec pdftotext \"$@\"\n")
    script.chmod(0o755)
    return str(script)


def upload_path(name):
    return "/api/collections/panne/documents?filename=" + urllib.parse.quote(name)


def task(ci, tid):
    rows = psql(f"SELECT status, attempts, document_id, error FROM tasks WHERE id = {tid}", ci)
    return rows[0] if rows else None


@timeout(150)
async def test_postgres_stops_while_a_task_runs_and_a_client_uploads(ctx):
    pg = await own_cluster(ctx)
    ci = pg.conninfo
    updir = ctx.tmp / "uploads"
    s = await ctx.server({"postgres.conninfo": ci, "postgres.reconnect_max": "0.3s",
                          "postgres.connect_timeout": "1s", "postgres.query_timeout": "5s",
                          "ingest.upload_dir": str(updir), "ingest.lease": "2s",
                          "ingest.poll_interval": "200ms",
                          "ingest.pdftotext": slow_pdftotext(ctx, 3)})
    pids = await s.worker_pids()
    pdf = ctx.tmp / "rapport.pdf"
    docgen.make_text_pdf(pdf, ["Première page.", f"La {MARK} résiste à la coupure de la base."])
    st, _, body = await s.http("POST", upload_path("rapport d'été.pdf"), pdf.read_bytes(),
                               {"Content-Type": "application/pdf"}, timeout=10)
    assert st == 202, (st, body)
    tid = json.loads(body)["task_id"]
    await eventually(lambda: task(ci, tid)[0] == "extracting", 10, 0.1, "task extracting")
    before = sorted(p.name for p in updir.iterdir())

    await asyncio.to_thread(pg_ctl_stop, pg, "fast")
    try:
        st, _, body = await s.http("POST", upload_path("pendant la panne ☔.txt"),
                                   "Texte envoyé pendant la panne.".encode(),
                                   {"Content-Type": "text/plain; charset=utf-8"}, timeout=10)
        assert st == 503, (st, body)
        err = json.loads(body)["error"]
        assert err["code"] == "STORAGE_UNAVAILABLE", err
        assert "PostgreSQL" in err["message"] and "\n" not in err["message"], err
        assert sorted(p.name for p in updir.iterdir()) == before, "the refused upload left a file"
    finally:
        await asyncio.to_thread(pg.start)

    t = await eventually(lambda: (lambda r: r if r and r[0] in ("completed", "failed",
                                                                 "cancelled") else None)(
        task(ci, tid)), 60, 0.3, "the task ends once PostgreSQL is back")
    assert t[0] == "completed", t
    docs = psql(f"SELECT count(*) FROM documents WHERE metadata->>'task_id' = '{tid}'", ci)
    assert docs[0][0] == "1", docs

    qs = await QueryStream.open(ctx, s)
    await qs.query("r1", f"Que dit le document sur la {MARK} ?", collection_name="panne")
    final = await qs.final("r1")
    assert final["type"] == "complete", final
    cits = [m["data"] for m in qs.of("r1", "citation")]
    assert any(c["source"] == "rapport d'été.pdf" and c["page"] == 2 for c in cits), cits

    assert s.sanitizer_report() is None, s.sanitizer_report()
    assert await s.worker_pids() == pids, "a worker was replaced during the outage"
