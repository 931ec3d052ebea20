#!/usr/bin/python3
"""Ingestion benchmark driver (scripts/bench-ingest.sh, part of make bench).

    ingest_bench.py gen-pdf PATH PAGES        a text PDF of PAGES pages (docgen)
    ingest_bench.py gen-text PATH MB SEED     ~MB MB of French-looking UTF-8 text, unique per SEED
    ingest_bench.py upload PORT COLLECTION PATH CONTENT_TYPE
        uploads PATH (raw body, Content-Length) to the ragws on 127.0.0.1:PORT
        while watching /ws/upload; prints "UPLOADED t=..." once the 202 came,
        then "RESULT seconds=... status=... chunks=... pages=... bytes=..."
        when its upload_complete arrived (seconds: POST sent -> upload_complete).

Debian's python3-websockets and the standard library only; docgen.py
(tests/integration) makes the PDF with python3-reportlab.
"""

import asyncio
import http.client
import json
import random
import sys
import time
import urllib.parse
from pathlib import Path

import websockets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

WORDS = ("réunion budget équipe été rapport données serveur passerelle client requête réponse "
         "document page collection index chunk recherche texte fichier tâche file attente "
         "progression extraction reconnaissance caractères café crêpe élève forêt château "
         "hôpital naïve cœur garçon déjà voilà ça où là-bas très après").split()


def gen_pdf(path, pages):
    import docgen
    rnd = random.Random(pages)
    texts = [f"Page {i + 1}. " + " ".join(rnd.choice(WORDS) for _ in range(180))
             for i in range(pages)]
    docgen.make_text_pdf(path, texts)


def gen_text(path, mb, seed):
    rnd = random.Random(seed)
    block = []
    size = 0
    while size < 1 << 20:
        line = " ".join(rnd.choice(WORDS) for _ in range(14)) + ".\n"
        block.append(line)
        size += len(line.encode())
    block = "".join(block)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(int(mb)):
            # a distinct first line per MiB: the file's hash and its chunks differ per seed
            f.write(f"Bloc {seed}-{i} ✅\n")
            f.write(block)


def post(port, coll, path, ctype):
    data = Path(path).read_bytes()
    q = urllib.parse.urlencode({"filename": Path(path).name})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", f"/api/collections/{coll}/documents?{q}", body=data,
                     headers={"Content-Type": ctype, "Content-Length": str(len(data))})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    if r.status != 202:
        raise SystemExit(f"RESULT error=upload_answered_{r.status} {body[:200]!r}")
    return json.loads(body), len(data)


async def upload(port, coll, path, ctype):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/upload", max_size=2 ** 24,
                                  max_queue=None) as ws:
        t0 = time.monotonic()
        accepted, nbytes = await asyncio.to_thread(post, port, coll, path, ctype)
        uid = accepted["upload_id"]
        print(f"UPLOADED t={time.monotonic() - t0:.3f} upload_id={uid} task_id={accepted['task_id']}",
              flush=True)
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 600))
            if m.get("type") == "upload_complete" and m["data"].get("upload_id") == uid:
                break
        took = time.monotonic() - t0
    # pages of the task (REST)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/api/tasks/{accepted['task_id']}")
    task = json.loads(conn.getresponse().read())
    conn.close()
    d = m["data"]
    print(f"RESULT seconds={took:.3f} status={d['status']} chunks={d['chunks_created']} "
          f"pages={task.get('pages') or 0} bytes={nbytes}", flush=True)


def main():
    mode, *args = sys.argv[1:]
    if mode == "gen-pdf":
        gen_pdf(args[0], int(args[1]))
    elif mode == "gen-text":
        gen_text(args[0], float(args[1]), args[2])
    elif mode == "upload":
        asyncio.run(upload(int(args[0]), args[1], args[2], args[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
