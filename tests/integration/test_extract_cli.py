"""`ragws ingest` through the real extractors (worker/svc/extract.c as
children of the CLI): a text PDF keeps its pages, PNG/JPEG/TIFF are OCR'd
by tesseract, a scanned PDF is rendered and OCR'd page by page, HTML goes
through libxml2 without its scripts and styles, French text and file
names survive, an unsupported file fails alone (exit 1), a second run
skips everything, a hanging extractor times out and its whole process
group dies, SIGINT kills the running extractor. Documents come from
docgen.py; every check reads PostgreSQL.

    /usr/bin/python3 tests/integration/run.py -k extract_cli
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docgen  # noqa: E402
import harness  # noqa: E402
from harness import REPO, run_cli, timeout  # noqa: E402
from test_db_cli import migrated_db  # noqa: E402


async def ingest(ctx, ci, collection, *files, extra=(), timeout_s=120):
    """ragws ingest COLLECTION FILES... on database ci, with the OCR pages
    under the test's own directory."""
    args = ["ingest", collection, *[str(f) for f in files], "-c", "ragws.conf",
            "-o", f"postgres.conninfo={ci}", "-o", f"ingest.upload_dir={ctx.tmp / 'uploads'}",
            "-o", "ingest.ocr_language=eng+fra", *extra]
    return await run_cli(args, timeout=timeout_s)


def chunks_of(pg, db, filename):
    """[(page or None, content)] of the document named filename, in order
    (a tab in the content reads as "⇥": psql separates columns with tabs)."""
    rows = pg.psql("SELECT coalesce(c.page::text, ''), replace(c.content, E'\\t', '⇥')"
                   " FROM chunks c JOIN documents d"
                   " ON d.id = c.document_id WHERE d.filename = "
                   f"'{filename.replace(chr(39), chr(39) * 2)}' ORDER BY c.ordinal", db)
    return [(int(p) if p else None, text) for p, text in rows]


def document(pg, db, filename):
    rows = pg.psql("SELECT content_type, size_bytes, metadata->>'pages', metadata->>'sha256'"
                   " FROM documents WHERE filename = "
                   f"'{filename.replace(chr(39), chr(39) * 2)}'", db)
    assert len(rows) == 1, rows
    return rows[0]


def uploads_empty(ctx):
    d = ctx.tmp / "uploads"
    return not d.exists() or list(d.iterdir()) == []


PDF_PAGES = [
    "Première page : les éléphants d'Afrique boivent à la rivière Zambèze.",
    "Deuxième page : the lighthouse keeper counts seventeen ships at dawn.",
    "Troisième page : la crème brûlée du café Mégane est célèbre. 😀",
]


@timeout(120)
async def test_text_pdf_keeps_its_pages(ctx):
    pg, db, ci = await migrated_db()
    pdf = docgen.make_text_pdf(ctx.tmp / "rapport_été.pdf", PDF_PAGES)
    rc, out, err = await ingest(ctx, ci, "docs", pdf)
    assert rc == 0, (rc, out, err)
    assert out.startswith(f"ingested {pdf} into docs: document "), out
    assert ", 3 pages" in out, out
    ctype, size, pages, sha = document(pg, db, "rapport_été.pdf")
    assert ctype == "application/pdf" and pages == "3", (ctype, pages)
    assert int(size) == Path(pdf).stat().st_size
    import hashlib
    assert sha == hashlib.sha256(Path(pdf).read_bytes()).hexdigest()
    got = chunks_of(pg, db, "rapport_été.pdf")
    by_page = {p: t for p, t in got}
    assert sorted(by_page) == [1, 2, 3], got
    assert "éléphants" in by_page[1] and "Zambèze" in by_page[1], by_page
    assert "lighthouse keeper" in by_page[2] and "éléphants" not in by_page[2], by_page
    assert "crème brûlée" in by_page[3], by_page
    # The summary goes to stderr (stdout holds one line per file).
    assert "1 file: 1 indexed, 0 skipped, 0 failed; 3 pages, 3 chunks" in err, err
    assert len(out.strip().splitlines()) == 1, out


@timeout(180)
async def test_images_are_read_by_ocr(ctx):
    pg, db, ci = await migrated_db()
    png = docgen.make_text_png(ctx.tmp / "affiche.png",
                               "Le château de Versailles accueille les élèves en été")
    jpg = docgen.make_jpeg(ctx.tmp / "photo.jpg", "Zebra giraffe kangaroo penguin")
    tif = docgen.make_tiff(ctx.tmp / "scan.tiff", "Octopus lighthouse marmalade")
    rc, out, err = await ingest(ctx, ci, "images", png, jpg, tif)
    assert rc == 0, (rc, out, err)
    want = {"affiche.png": ("image/png", ["château", "Versailles", "élèves"]),
            "photo.jpg": ("image/jpeg", ["Zebra", "kangaroo", "penguin"]),
            "scan.tiff": ("image/tiff", ["Octopus", "lighthouse", "marmalade"])}
    for name, (ctype, words) in want.items():
        assert document(pg, db, name)[0] == ctype, name
        got = chunks_of(pg, db, name)
        assert got and all(p == 1 for p, _ in got), (name, got)
        text = " ".join(t for _, t in got)
        for w in words:
            assert w in text, (name, w, text)


@timeout(180)
async def test_scanned_pdf_is_ocrd_page_by_page(ctx):
    pg, db, ci = await migrated_db()
    pdf = docgen.make_scanned_pdf(ctx.tmp / "scanné.pdf", [
        "Premier chapitre sur les dauphins",
        "Second chapter about whales",
        "Third page about volcanoes",
    ])
    # The scanned pages have no text layer at all.
    txt = subprocess.run(["pdftotext", pdf, "-"], capture_output=True).stdout
    assert txt.replace(b"\f", b"").strip() == b"", txt
    rc, out, err = await ingest(ctx, ci, "scans", pdf, extra=("-o", "ingest.ocr_dpi=150"))
    assert rc == 0, (rc, out, err)
    assert ", 3 pages" in out, out
    by_page = {}
    for p, t in chunks_of(pg, db, "scanné.pdf"):
        by_page.setdefault(p, []).append(t)
    assert sorted(by_page) == [1, 2, 3], by_page
    assert "dauphins" in " ".join(by_page[1]), by_page
    assert "whales" in " ".join(by_page[2]), by_page
    assert "volcanoes" in " ".join(by_page[3]), by_page
    assert uploads_empty(ctx), list((ctx.tmp / "uploads").iterdir())


@timeout(120)
async def test_html_without_scripts_and_styles(ctx):
    pg, db, ci = await migrated_db()
    page = docgen.make_html(ctx.tmp / "page.html", "Guide des volcans d'Auvergne",
                            ["Le puy de Dôme domine Clermont-Ferrand.",
                             "Les coulées de lave ont façonné la Chaîne des Puys.",
                             "Entities &amp; accents: « guillemets » — tiret."],
                            script_text="var zzsecretzz = 'ne pas indexer';")
    rc, out, err = await ingest(ctx, ci, "web", page)
    assert rc == 0, (rc, out, err)
    assert document(pg, db, "page.html")[0] == "text/html"
    got = chunks_of(pg, db, "page.html")
    text = " ".join(t for _, t in got)
    assert all(p is None for p, _ in got), got  # HTML has no pages
    for want in ["Guide des volcans d'Auvergne", "puy de Dôme domine Clermont-Ferrand.",
                 "Chaîne des Puys", "Entities &amp; accents: « guillemets »"]:
        assert want in text, (want, text)
    for never in ["zzsecretzz", "zzstylezz", "zznoscriptzz", "zzscript2zz", "font-family",
                  "document.write"]:
        assert never not in text, (never, text)
    # Paragraphs stay apart (block elements end lines).
    assert "Clermont-Ferrand. Les coulées" not in text, text


@timeout(180)
async def test_mixed_batch_failure_then_second_run_skips(ctx):
    pg, db, ci = await migrated_db()
    notes = ctx.tmp / "notes_français.txt"
    notes.write_text("Les élèves étudient la photosynthèse. Chemin C:\\Users\\élève\tcolonne.\n"
                     "\fLa deuxième page parle de "
                     "l'été à Québec.\r\n", encoding="utf-8")
    md = ctx.tmp / "lisez-moi.md"
    md.write_text("# Titre\n\nDu texte en *Markdown* avec des accents : àéîõü.\n")
    binary = docgen.make_binary(ctx.tmp / "données.bin")
    zipf = ctx.tmp / "archive.dat"
    zipf.write_bytes(b"PK\x03\x04" + os.urandom(200))
    pdf = docgen.make_text_pdf(ctx.tmp / "deux.pdf", PDF_PAGES[:2])
    html = docgen.make_html(ctx.tmp / "p.html", "Titre", ["Un paragraphe sur les castors."])
    files = [notes, binary, md, pdf, zipf, html]
    rc, out, err = await ingest(ctx, ci, "mixed", *files)
    assert rc == 1, (rc, out, err)
    assert f"ragws ingest: {binary}: unsupported file type: application/octet-stream" in err, err
    assert f"ragws ingest: {zipf}: unsupported file type: application/zip" in err, err
    assert "2 of 6 files failed" in err and str(binary) in err.splitlines()[-1], err
    assert "6 files: 4 indexed, 0 skipped, 2 failed" in err, err
    names = {r[0] for r in pg.psql("SELECT filename FROM documents", db)}
    assert names == {"notes_français.txt", "lisez-moi.md", "deux.pdf", "p.html"}, names
    # Text: pages at the form feed, CRLF gone; Markdown: no pages.
    t = chunks_of(pg, db, "notes_français.txt")
    assert [p for p, _ in t] == [1, 2] and "photosynthèse" in t[0][1], t
    assert "Chemin C:\\Users\\élève⇥colonne." in t[0][1], t  # COPY escapes
    assert t[1][1] == "La deuxième page parle de l'été à Québec.", t
    assert document(pg, db, "notes_français.txt")[0] == "text/plain"
    assert document(pg, db, "lisez-moi.md")[0] == "text/markdown"
    assert all(p is None for p, _ in chunks_of(pg, db, "lisez-moi.md"))
    counts = pg.psql("SELECT count(*) FROM chunks", db)

    # Again, without the refused files: nothing new, nothing extracted again.
    good = [notes, md, pdf, html]
    started = time.monotonic()
    rc, out, err = await ingest(ctx, ci, "mixed", *good)
    assert rc == 0, (rc, out, err)
    lines = out.strip().splitlines()
    assert len(lines) == 4 and all(l.startswith("unchanged ") for l in lines), out
    assert "4 files: 0 indexed, 4 skipped, 0 failed; 0 pages, 0 chunks" in err, err
    assert pg.psql("SELECT count(*) FROM chunks", db) == counts
    assert time.monotonic() - started < 30
    # The same bytes under another name are the same content.
    copy = ctx.tmp / "copie.pdf"
    copy.write_bytes(Path(pdf).read_bytes())
    rc, out, err = await ingest(ctx, ci, "mixed", copy)
    assert rc == 0 and out.startswith(f"unchanged {copy} in mixed"), (rc, out, err)
    # With the binary again: it fails again, the others are skipped.
    rc, out, err = await ingest(ctx, ci, "mixed", binary, notes)
    assert rc == 1 and "1 indexed" not in err and "1 skipped, 1 failed" in err, err


def _slow_script(ctx, name, body):
    p = ctx.tmp / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)
    return p


def _gone(pid):
    """The process ended (absent, or a zombie waiting for init)."""
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return st.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@timeout(120)
async def test_hanging_extractor_times_out_and_dies(ctx):
    pg, db, ci = await migrated_db()
    pidfile = ctx.tmp / "sleeper.pid"
    # The extractor starts a grandchild that would outlive it: both must go.
    slow = _slow_script(ctx, "slow-pdftotext.sh",
                        f"echo 'about to hang' >&2\nsleep 60 &\necho $! > {pidfile}\nwait\n")
    pdf = docgen.make_text_pdf(ctx.tmp / "lent.pdf", ["Une page qui ne sera jamais lue."])
    txt = ctx.tmp / "ok.txt"
    txt.write_text("Ce fichier passe quand même.\n")
    started = time.monotonic()
    rc, out, err = await ingest(ctx, ci, "slow", pdf, txt,
                                extra=("-o", f"ingest.pdftotext={slow}",
                                       "-o", "ingest.extract_timeout=1s"))
    took = time.monotonic() - started
    assert rc == 1, (rc, out, err)
    assert f"ragws ingest: {pdf}: slow-pdftotext.sh timed out after 1 s" in err, err
    assert "slow-pdftotext.sh: about to hang" in err, err  # its stderr, as context
    assert f"ingested {txt} into slow" in out, out
    assert took < 20, took
    pid = int(pidfile.read_text())
    for _ in range(100):
        if _gone(pid):
            break
        await asyncio.sleep(0.05)
    assert _gone(pid), f"grandchild {pid} survived the timeout"
    assert [r[0] for r in pg.psql("SELECT filename FROM documents", db)] == ["ok.txt"]


@timeout(60)
async def test_failing_extractor_says_why(ctx):
    pg, db, ci = await migrated_db()
    bad = _slow_script(ctx, "broken.sh", "echo 'Syntax Error: no trailer' >&2\nexit 3\n")
    pdf = docgen.make_text_pdf(ctx.tmp / "cassé.pdf", ["x"])
    rc, out, err = await ingest(ctx, ci, "broken", pdf, extra=("-o", f"ingest.pdftotext={bad}"))
    assert rc == 1, (rc, out, err)
    assert "broken.sh failed (exit status 3): Syntax Error: no trailer" in err, err
    missing = ctx.tmp / "no-such-tool"
    rc, out, err = await ingest(ctx, ci, "broken", pdf,
                                extra=("-o", f"ingest.pdftotext={missing}"))
    assert rc == 1 and f"cannot run {missing}: No such file or directory" in err, err
    assert pg.psql("SELECT count(*) FROM documents", db) == [("0",)]


@timeout(60)
async def test_sigint_kills_the_running_extractor(ctx):
    pg, db, ci = await migrated_db()
    pidfile = ctx.tmp / "hang.pid"
    slow = _slow_script(ctx, "hang.sh", f"echo $$ > {pidfile}\nexec sleep 60\n")
    pdf = docgen.make_text_pdf(ctx.tmp / "a.pdf", ["Page"])
    p = await asyncio.create_subprocess_exec(
        harness.bin_path(), "ingest", "sig", str(pdf), "-c", "ragws.conf",
        "-o", f"postgres.conninfo={ci}", "-o", f"ingest.pdftotext={slow}", cwd=str(REPO),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.05)
    pid = int(pidfile.read_text())
    p.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(p.communicate(), 20)
    assert p.returncode == 130, (p.returncode, out, err)
    assert b"(interrupted)" in err, err
    for _ in range(100):
        if _gone(pid):
            break
        await asyncio.sleep(0.05)
    assert _gone(pid), "the extractor outlived the interrupted CLI"
    assert pg.psql("SELECT count(*) FROM documents", db) == [("0",)]


@timeout(60)
async def test_usage_and_help(ctx):
    rc, out, err = await run_cli(["--help"])
    assert rc == 0 and "ragws ingest COLLECTION FILE..." in out, (rc, out, err)
    assert "extract-html FILE" in out and "internal" in out, out
    for args in (["ingest"], ["ingest", "only-a-collection"]):
        rc, out, err = await run_cli(args + ["-c", "ragws.conf"])
        assert rc == 2 and "usage: ragws ingest COLLECTION FILE..." in err, (args, rc, err)
    rc, out, err = await run_cli(["extract-text"])
    assert rc == 2 and "usage: ragws extract-text FILE" in err, (rc, err)
    # The internal subcommands themselves, on a French file with a BOM and CRLF.
    f = ctx.tmp / "bom.txt"
    f.write_bytes("\ufeffÉté\r\nà Paris\r\n".encode())
    rc, out, err = await run_cli(["extract-text", str(f)])
    assert rc == 0 and out == "Été\nà Paris\n", (rc, out, err)
    f.write_bytes("caf\u00e9".encode("latin-1"))
    rc, out, err = await run_cli(["extract-text", str(f)])
    assert rc == 1 and "not UTF-8 text (invalid byte at offset 3)" in err, (rc, out, err)
    h = docgen.make_html(ctx.tmp / "h.html", "T", ["Un", "Deux"])
    rc, out, err = await run_cli(["extract-html", str(h)])
    assert rc == 0 and out == "T\n\nT\n\nUn\n\nDeux\n", (rc, out, err)


@timeout(120)
async def test_content_hash_column_is_written_and_checked(ctx):
    import hashlib
    pg, db, ci = await migrated_db()
    has = pg.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = "
                  "'documents' AND column_name = 'content_hash'", db)
    if has == [("0",)]:  # before sql/005: the same column, in this test's database only
        pg.psql("ALTER TABLE documents ADD COLUMN content_hash text", db)
        pg.psql("CREATE UNIQUE INDEX ON documents (collection_id, content_hash)"
                " WHERE content_hash IS NOT NULL", db)
    f = ctx.tmp / "résumé.txt"
    f.write_bytes("\ufeffUn résumé avec un BOM.\n".encode())
    rc, out, err = await ingest(ctx, ci, "hashes", f)
    assert rc == 0, (rc, out, err)
    sha = hashlib.sha256(f.read_bytes()).hexdigest()  # of the bytes, BOM included
    assert pg.psql("SELECT content_hash, metadata->>'sha256' FROM documents", db) == [(sha, sha)]
    # A document the server stored (content_hash only, no chunking recorded)
    # is the same content too.
    other = ctx.tmp / "uploaded.txt"
    other.write_text("Téléversé par l'API REST.\n")
    osha = hashlib.sha256(other.read_bytes()).hexdigest()
    pg.psql("INSERT INTO documents (collection_id, filename, status, content_hash) SELECT id,"
            f" 'via-rest.txt', 'indexed', '{osha}' FROM collections WHERE name = 'hashes'", db)
    rc, out, err = await ingest(ctx, ci, "hashes", other)
    assert rc == 0 and out.startswith(f"unchanged {other} in hashes"), (rc, out, err)
    # Chunked otherwise (other rag.chunk_chars): replaced, still one row per hash.
    rc, out, err = await ingest(ctx, ci, "hashes", f, extra=("-o", "rag.chunk_chars=300"))
    assert rc == 0 and "(replaces document " in out, (rc, out, err)
    assert pg.psql("SELECT count(*) FROM documents WHERE content_hash = "
                   f"'{sha}'", db) == [("1",)]
