"""Database tooling (SPEC S5, S9): `ragws migrate`, `ragws ingest`, the
schema check before serving, and full-text search over the sample corpus.

Every test gets its own fresh database, in the cluster run.py started for
the whole run (harness.CONNINFO) or, without one, in a throwaway cluster
(pgcluster.PgCluster) started on first use and removed at exit. Runs under
tests/integration/run.py, or alone:

    /usr/bin/python3 tests/integration/test_db_cli.py [--bin build/asan/ragws] [-k NAME]
"""

import asyncio
import atexit
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import REPO, eventually, free_port, http_request, run_cli, timeout  # noqa: E402
from pgcluster import PgCluster  # noqa: E402

SAMPLES = sorted((REPO / "docs" / "samples").glob("*.md"))

_cluster = None


def cluster():
    """The run's cluster, or the module's own, started on first use."""
    global _cluster
    if _cluster is None:
        if "host=/" in harness.CONNINFO:  # a local cluster: we can add databases
            _cluster = PgCluster.attach(harness.CONNINFO)
        else:
            _cluster = PgCluster().start()
            atexit.register(_cluster.destroy)
    return _cluster


def fresh_db():
    """(cluster, dbname, conninfo) of a new empty database."""
    pg = cluster()
    ci = pg.create_database()
    return pg, ci.split("dbname=")[1].split()[0], ci


async def ragws(*args, conninfo, timeout_s=60):
    """ragws SUBCOMMAND ... -c ragws.conf -o postgres.conninfo=CONNINFO."""
    return await run_cli([*args, "-c", "ragws.conf", "-o", f"postgres.conninfo={conninfo}"],
                         timeout=timeout_s)


async def migrated_db():
    pg, db, ci = fresh_db()
    rc, out, err = await ragws("migrate", conninfo=ci)
    assert rc == 0, (rc, out, err)
    return pg, db, ci


# ---------------------------------------------------------------------------
# migrate


@timeout(120)
async def test_migrate_applies_001_then_nothing(ctx):
    pg, db, ci = fresh_db()
    rc, out, err = await ragws("migrate", conninfo=ci)
    assert rc == 0, (rc, out, err)
    assert "applied migration 001_init" in out, out
    assert "applied migration 004_conversation_owner" in out, out  # a gap (003) is fine

    rows = pg.psql("SELECT version, name, applied_at IS NOT NULL FROM schema_migrations", db)
    assert ("1", "init", "t") in rows, rows
    tables = {r[0] for r in pg.psql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", db)}
    for t in ("schema_migrations", "collections", "documents", "chunks", "tasks", "task_logs",
              "projects", "conversations", "messages", "reactions"):
        assert t in tables, (t, tables)

    # A second run applies nothing and says the schema is current.
    rc, out2, err = await ragws("migrate", conninfo=ci)
    assert rc == 0, (rc, out2, err)
    assert "applied migration" not in out2, out2
    assert "up to date" in out2, out2
    assert len(pg.psql("SELECT * FROM schema_migrations", db)) == len(rows)


@timeout(120)
async def test_concurrent_migrators_apply_each_migration_once(ctx):
    pg, db, ci = fresh_db()
    results = await asyncio.gather(*[ragws("migrate", conninfo=ci) for _ in range(3)])
    for rc, out, err in results:
        assert rc == 0, (rc, out, err)
    applied = sum(out.count("applied migration 001_init") for _, out, _ in results)
    assert applied == 1, results
    assert pg.psql("SELECT count(*) FROM schema_migrations WHERE version = 1", db) == [("1",)]


@timeout(120)
async def test_failed_migration_leaves_no_trace(ctx):
    # A table in the way makes 001 fail half-way: its transaction must
    # leave neither its other tables nor its schema_migrations row.
    pg, db, ci = fresh_db()
    pg.psql("CREATE TABLE messages (x int)", db)
    rc, out, err = await ragws("migrate", conninfo=ci)
    assert rc == 1, (rc, out, err)
    assert "migration 001_init failed" in err and "messages" in err, err
    assert pg.psql("SELECT count(*) FROM schema_migrations", db) == [("0",)]
    assert pg.psql("SELECT to_regclass('collections') IS NULL", db) == [("t",)]
    # Once the obstacle is gone, the same command succeeds.
    pg.psql("DROP TABLE messages", db)
    rc, out, err = await ragws("migrate", conninfo=ci)
    assert rc == 0 and "applied migration 001_init" in out, (rc, out, err)


@timeout(60)
async def test_migrate_reports_unreachable_database(ctx):
    missing = ctx.tmp / "no-cluster"
    rc, out, err = await run_cli(["migrate", "-c", "ragws.conf", "-o", "postgres.conninfo=auto",
                                  "-o", f"postgres.auto_dir={missing}"])
    assert rc == 1, (rc, out, err)
    assert "cannot connect to PostgreSQL" in err, err
    assert f"scripts/pg-local.sh start {missing}" in err, err


# ---------------------------------------------------------------------------
# ingest


@timeout(120)
async def test_ingest_samples_creates_documents_and_chunks(ctx):
    assert 4 <= len(SAMPLES) <= 6, SAMPLES
    pg, db, ci = await migrated_db()
    rc, out, err = await ragws("ingest", "documents", *[str(p) for p in SAMPLES], conninfo=ci)
    assert rc == 0, (rc, out, err)
    lines = out.strip().splitlines()
    assert len(lines) == len(SAMPLES), out
    printed = {}
    for line, path in zip(lines, SAMPLES):
        # ingested FILE into COLLECTION: document N, K chunks
        head, _, tail = line.partition(": document ")
        assert head == f"ingested {path} into documents", line
        doc, _, chunks = tail.partition(", ")
        printed[int(doc)] = int(chunks.split()[0])

    docs = pg.psql("SELECT d.id, d.filename, d.content_type, d.size_bytes, d.status"
                   " FROM documents d JOIN collections c ON c.id = d.collection_id"
                   " WHERE c.name = 'documents' ORDER BY d.id", db)
    assert [r[1] for r in docs] == [p.name for p in SAMPLES], docs
    for doc_id, name, ctype, size, status in docs:
        assert ctype == "text/markdown" and status == "indexed", (name, ctype, status)
        assert int(size) == (REPO / "docs" / "samples" / name).stat().st_size

    chunks = pg.psql("SELECT document_id, count(*), min(ordinal), max(ordinal),"
                     " count(page), max(char_length(content)), bool_and(tsv IS NOT NULL),"
                     " bool_and(collection_id = (SELECT id FROM collections WHERE name = 'documents'))"
                     " FROM chunks GROUP BY document_id ORDER BY document_id", db)
    assert len(chunks) == len(SAMPLES), chunks
    for doc_id, n, lo, hi, paged, longest, tsv_ok, coll_ok in chunks:
        assert printed[int(doc_id)] == int(n), (printed, chunks)
        assert int(n) >= 2, chunks  # 3-8 KB documents, 1200-character chunks
        assert (lo, hi) == ("0", str(int(n) - 1)), chunks
        assert paged == "0", "Markdown chunks have no page"
        assert int(longest) <= 1200, chunks
        assert tsv_ok == "t" and coll_ok == "t", chunks

    # Consecutive chunks overlap (rag.chunk_overlap = 200): the start of
    # chunk k+1 is found inside chunk k.
    pairs = pg.psql("SELECT a.content, b.content FROM chunks a JOIN chunks b"
                    " ON b.document_id = a.document_id AND b.ordinal = a.ordinal + 1"
                    " ORDER BY a.id LIMIT 3", db)
    for a, b in pairs:
        assert b[:40] in a, (a[-250:], b[:80])


@timeout(120)
async def test_ingest_plain_text_pages_and_small_chunks(ctx):
    pg, db, ci = await migrated_db()
    pages = ["Page one talks about the master process and its workers. " * 6,
             "Page two describes the shared memory ring and eventfd wake-ups. " * 6,
             "Page three covers PostgreSQL full-text search. " * 6]
    f = ctx.tmp / "manual.txt"
    f.write_text("\f".join(pages))
    rc, out, err = await run_cli(["ingest", "manual", str(f), "-c", "ragws.conf",
                                  "-o", f"postgres.conninfo={ci}", "-o", "rag.chunk_chars=150",
                                  "-o", "rag.chunk_overlap=30"])
    assert rc == 0, (rc, out, err)
    assert "ingested" in out and "into manual: document" in out, out
    rows = pg.psql("SELECT c.ordinal, c.page, char_length(c.content), d.content_type"
                   " FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY c.ordinal", db)
    assert len(rows) >= 6, rows
    assert {r[3] for r in rows} == {"text/plain"}
    assert all(int(r[2]) <= 150 for r in rows), rows
    got_pages = [int(r[1]) for r in rows]
    assert got_pages == sorted(got_pages) and set(got_pages) == {1, 2, 3}, rows
    # The form feed is a paragraph break: no chunk spans two pages' text.
    two = pg.psql("SELECT count(*) FROM chunks WHERE content LIKE '%Page one%' "
                  "AND content LIKE '%Page two%'", db)
    assert two == [("0",)], two


@timeout(120)
async def test_ingest_refuses_binary_files_and_tries_all(ctx):
    pg, db, ci = await migrated_db()
    nul = ctx.tmp / "image.md"
    nul.write_bytes(b"# looks like text\n\x00\x01\x02 but is not\n")
    latin1 = ctx.tmp / "latin1.txt"
    latin1.write_bytes("caf\u00e9 cr\u00e8me".encode("latin-1"))
    empty = ctx.tmp / "empty.md"
    empty.write_text(" \n\n")
    good = SAMPLES[0]
    rc, out, err = await ragws("ingest", "mixed", str(nul), str(good), str(latin1), str(empty),
                               str(ctx.tmp / "missing.md"), conninfo=ci)
    assert rc != 0, (rc, out, err)
    assert f"ingested {good} into mixed" in out, out
    assert f"{nul}: binary file" in err, err
    assert f"{latin1}: not UTF-8 text" in err, err
    assert f"{empty}: no text to index" in err, err
    assert "missing.md: cannot open" in err, err
    assert "4 of 5 files failed" in err, err
    # Only the good file is stored; nothing of the refused ones.
    assert pg.psql("SELECT filename FROM documents", db) == [(good.name,)]


@timeout(120)
async def test_ingest_needs_migrated_database(ctx):
    pg, db, ci = fresh_db()
    rc, out, err = await ragws("ingest", "documents", str(SAMPLES[0]), conninfo=ci)
    assert rc == 1, (rc, out, err)
    assert "ragws migrate -c ragws.conf" in err, err
    assert pg.psql("SELECT to_regclass('documents') IS NULL", db) == [("t",)]


# ---------------------------------------------------------------------------
# the schema check before serving


@timeout(120)
async def test_serve_refuses_unmigrated_database(ctx):
    pg, db, ci = fresh_db()
    port = free_port()
    rc, out, err = await run_cli(["-c", "ragws.conf", "-o", f"postgres.conninfo={ci}",
                                  "-o", f"server.listen=127.0.0.1:{port}",
                                  "-o", "server.workers=1"], timeout=30)
    assert rc == 1, (rc, out, err)
    assert "refusing to start" in err and "version 0" in err and "needs schema version" in err, err
    # The hint is a command that works as printed (same database).
    assert f"run: ragws migrate -c ragws.conf -o 'postgres.conninfo={ci}'" in err, err

    rc, out, err2 = await ragws("migrate", conninfo=ci)
    assert rc == 0, (rc, out, err2)
    s = await ctx.server({"postgres.conninfo": ci}, workers=1)
    status, _, _ = await s.http("GET", "/health")
    assert status == 200


@timeout(60)
async def test_serve_starts_when_database_unreachable(ctx):
    port = free_port()
    ci = f"host={ctx.tmp}/nowhere port=5432 dbname=ragws user=postgres"
    log = open(ctx.tmp / "unreachable.log", "wb")
    env = dict(os.environ)
    for k, v in harness.DEFAULT_ENV.items():
        env.setdefault(k, v)
    proc = subprocess.Popen([harness.bin_path(), "-c", "ragws.conf",
                             "-o", f"postgres.conninfo={ci}",
                             "-o", f"server.listen=127.0.0.1:{port}", "-o", "server.workers=1"],
                            cwd=str(REPO), env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        async def healthy():
            if proc.poll() is not None:
                raise AssertionError(f"ragws exited with {proc.returncode}")
            try:
                status, _, _ = await http_request("127.0.0.1", port, "GET", "/health", timeout=1)
                return status == 200
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                return False

        await eventually(healthy, timeout=20, what="/health of a server without database")
        text = (ctx.tmp / "unreachable.log").read_text(errors="replace")
        assert "PostgreSQL is unavailable at start-up" in text, text
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), 20)
            except asyncio.TimeoutError:
                proc.kill()
                proc.wait()
        log.close()
    text = (ctx.tmp / "unreachable.log").read_text(errors="replace")
    for pat in harness.SANITIZER_PATTERNS:
        assert pat not in text, text


# ---------------------------------------------------------------------------
# retrieval over the demo corpus


@timeout(120)
async def test_fulltext_search_finds_the_architecture_doc(ctx):
    pg, db, ci = await migrated_db()
    rc, out, err = await ragws("ingest", "documents", *[str(p) for p in SAMPLES], conninfo=ci)
    assert rc == 0, (rc, out, err)

    def best(question):
        q = question.replace("'", "''")
        return pg.psql(
            "SELECT d.filename, ts_rank_cd(c.tsv, q) AS rank"
            " FROM chunks c JOIN documents d ON d.id = c.document_id,"
            f" websearch_to_tsquery('english', '{q}') q"
            " WHERE c.tsv @@ q ORDER BY rank DESC, c.id LIMIT 3", db)

    rows = best("shared memory or ring")
    assert rows and rows[0][0] == "architecture.md", rows
    rows = best("How do workers share broadcasts?")
    assert rows and rows[0][0] == "architecture.md", rows
    rows = best("reload without dropping clients")
    assert rows and rows[0][0] == "operations.md", rows


# ---------------------------------------------------------------------------
# the test cluster itself: a stop/start cycle keeps data and conninfo


@timeout(120)
async def test_cluster_restart_keeps_data(ctx):
    pg = PgCluster()
    try:
        pg.start()
        ci = pg.conninfo
        assert ci == f"host={pg.socket_dir} port=5432 dbname=ragws user=postgres", ci
        rc, out, err = await ragws("migrate", conninfo=ci)
        assert rc == 0, (rc, out, err)
        pg.stop()
        assert not pg.running()
        rc, out, err = await ragws("migrate", conninfo=ci)
        assert rc == 1 and "cannot connect to PostgreSQL" in err, (rc, out, err)
        pg.start()
        assert pg.running() and pg.conninfo == ci
        # every file of sql/ (numbers may have gaps)
        want = sorted(int(f.name.split("_")[0]) for f in (REPO / "sql").glob("*.sql"))
        got = pg.psql("SELECT version FROM schema_migrations ORDER BY version")
        assert [int(v) for (v,) in got] == want, (got, want)
        rc, out, err = await ragws("migrate", conninfo=ci)
        assert rc == 0 and "up to date" in out, (rc, out, err)
    finally:
        pg.destroy()


# ---------------------------------------------------------------------------
# standalone runner (run.py does the same for every module)


def _interrupted(signum, frame):
    # SIGTERM ends the run like Ctrl-C, so atexit still removes the cluster.
    raise KeyboardInterrupt(f"signal {signum}")


def _main():
    import argparse
    import inspect
    import time
    import traceback

    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("RAGWS_BIN", harness.DEFAULT_BIN))
    ap.add_argument("-k", dest="pattern", default="")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _interrupted)
    os.chdir(REPO)
    harness.BIN = args.bin
    if not Path(harness.bin_path()).is_file():
        print(f"not ok - setup: binary {harness.bin_path()} not found")
        print("0 passed, 1 failed")
        return 1

    tests = [(n, f) for n, f in globals().items()
             if n.startswith("test_") and inspect.iscoroutinefunction(f) and args.pattern in n]
    tests.sort(key=lambda t: t[1].__code__.co_firstlineno)

    async def one(name, fn):
        ctx = harness.TestContext(name)
        try:
            await asyncio.wait_for(fn(ctx), getattr(fn, "timeout", 30))
            return None
        except Exception:  # noqa: BLE001
            return traceback.format_exc()
        finally:
            errors = await ctx.cleanup()
            if errors:
                print("\n".join(errors))

    passed = failed = 0
    for name, fn in tests:
        t = time.monotonic()
        failure = asyncio.run(one(name, fn))
        if failure is None:
            passed += 1
            print(f"ok - {name} ({time.monotonic() - t:.1f}s)", flush=True)
        else:
            failed += 1
            print(f"not ok - {name}\n" + "\n".join("    " + l for l in failure.splitlines()),
                  flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_main())
