"""Uploads over REST (issue 9, item 1): POST /api/collections/{name}/documents
with a raw body (Content-Length or chunked: http.client, curl -T), multipart
with several files (curl -F), Expect: 100-continue, keep-alive and pipelining
after an upload, the limits (413, nothing left on disk), malformed bodies and
clients that go away (nothing on disk), file names in French and emoji, the
upload events on /ws/upload."""

import asyncio
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import urllib.parse

from harness import build_request, eventually, parse_metrics, read_response, timeout
from ragkit import apsql

ID = re.compile(r"^upload_[0-9a-f]{16}$")
FR_NAME = "Résumé de l'été 🎉.txt"
FR_TEXT = "L'été à Montréal : crème brûlée, œufs, café ☕ et « guillemets ».\n"


async def upload_server(ctx, **opts):
    d = ctx.tmp / "uploads"
    conf = {"ingest.upload_dir": str(d)}
    conf.update(opts)
    return await ctx.server(conf), d


def leftovers(d):
    """Files an upload left behind that no task owns: the .part files."""
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".part")) if d.exists() else []


def files_in(d):
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def path_for(name, filename=None, **q):
    if filename is not None:
        q["filename"] = filename
    qs = urllib.parse.urlencode(q, quote_via=urllib.parse.quote)
    return f"/api/collections/{name}/documents" + (f"?{qs}" if qs else "")


def check_accepted(body, names):
    obj = json.loads(body)
    assert ID.match(obj["upload_id"]), obj
    assert isinstance(obj["task_id"], int) and obj["task_id"] > 0, obj
    assert [u["filename"] for u in obj["uploads"]] == names, obj
    assert obj["filename"] == names[0] and obj["uploads"][0]["upload_id"] == obj["upload_id"]
    assert len({u["upload_id"] for u in obj["uploads"]}) == len(names), obj
    for u in obj["uploads"]:
        assert ID.match(u["upload_id"]) and u["task_id"] > 0, u
    return obj


def stored_content_ok(d, upload_id, data):
    """The stored file, while its task has not removed it yet, is the upload."""
    p = d / upload_id
    return not p.exists() or p.read_bytes() == data


async def raw_exchange(s, raw, timeout_s=5.0):
    reader, writer = await asyncio.open_connection(s.host, s.port)
    try:
        writer.write(raw)
        await writer.drain()
        return await read_response(reader, timeout_s)
    finally:
        writer.close()


def multipart(boundary, parts):
    out = b""
    for name, filename, ctype, data in parts:
        disp = f'form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


async def test_upload_raw_content_length_and_metrics(ctx):
    s, d = await upload_server(ctx)
    data = FR_TEXT.encode() * 300
    st, h, body = await s.http("POST", path_for("docs-fr", FR_NAME), body=data,
                               headers={"Content-Type": "text/plain; charset=utf-8"})
    assert st == 202, (st, body)
    obj = check_accepted(body, [FR_NAME])
    assert stored_content_ok(d, obj["upload_id"], data)
    assert leftovers(d) == []
    assert (d.stat().st_mode & 0o777) == 0o700, oct(d.stat().st_mode)

    async def counted():
        st, _, m = await s.http("GET", "/metrics")
        return sum(v for k, v in parse_metrics(m.decode()).items()
                   if k.startswith("ragws_upload_bytes")) >= len(data)
    await eventually(counted, what="upload_bytes counted in /metrics")


def http_client_chunked(s, path, data):
    conn = http.client.HTTPConnection(s.host, s.port, timeout=10)
    try:
        pieces = (data[i:i + 1000] for i in range(0, len(data), 1000))
        conn.request("POST", path, body=pieces, encode_chunked=True,
                     headers={"Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        body = r.read()
        # keep-alive: the same connection answers the next request
        conn.request("GET", "/health")
        r2 = conn.getresponse()
        return r.status, body, r2.status, json.loads(r2.read())
    finally:
        conn.close()


async def test_upload_chunked_http_client_and_curl(ctx):
    s, d = await upload_server(ctx)
    data = os.urandom(5000) + FR_TEXT.encode() * 50
    st, body, st2, health = await asyncio.to_thread(http_client_chunked, s,
                                                    path_for("docs", "données.bin"), data)
    assert st == 202, (st, body)
    obj = check_accepted(body, ["données.bin"])
    assert stored_content_ok(d, obj["upload_id"], data)
    assert st2 == 200 and health == {"status": "ok"}, (st2, health)

    assert shutil.which("curl"), "curl is needed (Debian package curl)"
    src = ctx.tmp / "big.txt"
    big = (FR_TEXT * 40000).encode()  # ~2.7 MB: curl sends Expect: 100-continue
    src.write_bytes(big)
    # -T - reads stdin: size unknown, so curl sends it chunked
    with open(src, "rb") as f:
        p = await asyncio.to_thread(
            subprocess.run, ["curl", "-sS", "-X", "POST", "-T", "-", "-w", "\n%{http_code}",
                             s.url(path_for("docs", "été.txt"))],
            stdin=f, capture_output=True, timeout=30)
    out, code = p.stdout.rsplit(b"\n", 1)
    assert code == b"202", (p.stdout, p.stderr)
    obj = check_accepted(out, ["été.txt"])
    assert stored_content_ok(d, obj["upload_id"], big)
    # every byte arrived in order, across many reads and the loop's turns
    # between them (a body is read at most 256 KiB per wake-up): the hash
    # the server computed while streaming is the file's
    rows = await apsql(f"SELECT content_hash FROM tasks WHERE id = {int(obj['task_id'])}")
    assert rows[0][0] == hashlib.sha256(big).hexdigest(), rows
    # -T file: Content-Length and Expect: 100-continue
    p = await asyncio.to_thread(
        subprocess.run, ["curl", "-sS", "-X", "POST", "-T", str(src), "-w", "\n%{http_code}",
                         s.url(path_for("docs", FR_NAME))], capture_output=True, timeout=30)
    out, code = p.stdout.rsplit(b"\n", 1)
    assert code == b"202", (p.stdout, p.stderr)
    check_accepted(out, [FR_NAME])
    assert leftovers(d) == []


async def test_upload_multipart_two_files_with_curl(ctx):
    s, d = await upload_server(ctx)
    a, b = ctx.tmp / "a.txt", ctx.tmp / "b.md"
    a.write_text(FR_TEXT * 100)
    b.write_text("# Crème brûlée 🍮\n\nRecette simple.\n")
    p = await asyncio.to_thread(
        subprocess.run,
        ["curl", "-sS", "-w", "\n%{http_code}", "-F", "titre=ignoré",
         "-F", f"file=@{a};filename={FR_NAME}", "-F", f"file=@{b};type=text/markdown",
         s.url(path_for("recettes", project_id="42"))], capture_output=True, timeout=30)
    out, code = p.stdout.rsplit(b"\n", 1)
    assert code == b"202", (p.stdout, p.stderr)
    obj = check_accepted(out, [FR_NAME, "b.md"])
    assert stored_content_ok(d, obj["uploads"][0]["upload_id"], a.read_bytes())
    assert stored_content_ok(d, obj["uploads"][1]["upload_id"], b.read_bytes())
    assert leftovers(d) == []


async def test_upload_expect_continue_and_pipelining(ctx):
    s, d = await upload_server(ctx)
    data = FR_TEXT.encode() * 20
    host = f"{s.host}:{s.port}"
    head = (f"POST {path_for('docs', 'attente.txt')} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Length: {len(data)}\r\nExpect: 100-continue\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection(s.host, s.port)
    try:
        writer.write(head)
        await writer.drain()
        line = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert line == b"HTTP/1.1 100 Continue\r\n\r\n", line
        # the body, and a pipelined request right behind it in one write
        writer.write(data + build_request("GET", "/health", host, close=False))
        await writer.drain()
        st, h, body = await read_response(reader)
        assert st == 202, (st, body)
        assert (h.get("connection") or "").lower() == "keep-alive", h
        check_accepted(body, ["attente.txt"])
        st, h, body = await read_response(reader)
        assert st == 200 and json.loads(body) == {"status": "ok"}, (st, body)
        # chunked upload then a GET, pipelined, on the same connection
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 333]), data[i:i + 333])
                           for i in range(0, len(data), 333)) + b"0\r\n\r\n"
        writer.write((f"POST {path_for('docs', 'deux.txt')} HTTP/1.1\r\nHost: {host}\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n").encode() + chunked
                     + build_request("GET", "/health", host, close=False))
        await writer.drain()
        st, h, body = await read_response(reader)
        assert st == 202, (st, body)
        check_accepted(body, ["deux.txt"])
        st, h, body = await read_response(reader)
        assert st == 200, (st, body)
    finally:
        writer.close()
    assert leftovers(d) == []


async def test_upload_over_the_limit_leaves_nothing(ctx):
    s, d = await upload_server(ctx, **{"limits.max_upload_bytes": "1000"})
    host = f"{s.host}:{s.port}"
    # Content-Length over the limit: refused before the body
    st, h, body = await raw_exchange(s, (
        f"POST {path_for('docs', 'gros.txt')} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Length: 5000\r\n\r\n").encode() + b"x" * 5000)
    assert st == 413 and json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE", (st, body)
    assert (h.get("connection") or "").lower() == "close", h
    # chunked: found out while the bytes arrive
    chunked = b"".join(b"200\r\n" + b"y" * 512 + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
    st, h, body = await raw_exchange(s, (
        f"POST {path_for('docs', 'gros.txt')} HTTP/1.1\r\nHost: {host}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n").encode() + chunked)
    assert st == 413, (st, body)
    assert (h.get("connection") or "").lower() == "close", h
    # multipart: the second file is too big, the first one goes too
    mp = multipart("XyZ", [("file", "petit.txt", "text/plain", b"ok" * 10),
                           ("file", "grand.txt", "text/plain", b"z" * 3000)])
    st, h, body = await s.http("POST", path_for("docs"), body=mp,
                               headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert st == 413, (st, body)
    assert files_in(d) == [], files_in(d)
    # and a fitting upload still works
    st, h, body = await s.http("POST", path_for("docs", "ok.txt"), body=b"a" * 1000)
    assert st == 202, (st, body)


async def test_upload_bad_requests_are_400_and_leave_nothing(ctx):
    s, d = await upload_server(ctx)
    ct = {"Content-Type": "multipart/form-data; boundary=XyZ"}
    good = multipart("XyZ", [("file", "a.txt", None, b"contenu")])
    cases = [
        (path_for("docs"), b"raw without a name", {}),                       # no ?filename=
        (path_for("docs", ""), b"x", {}),                                     # empty name
        (path_for("docs", "a\x01b.txt"), b"x", {}),                           # control character
        (path_for("docs", "é" * 128), b"x", {}),                              # 256 bytes
        ("/api/collections/docs/documents?filename=%FF.txt", b"x", {}),      # not UTF-8
        (path_for("docs", ".."), b"x", {}),
        (path_for("docs"), good[:-10], ct),                                  # no close delimiter
        (path_for("docs"), good.replace(b"Content-Disposition", b"Content-Dispo sition"), ct),
        (path_for("docs"), multipart("XyZ", [("champ", None, None, b"v")]), ct),  # no file
        (path_for("docs"), good, {"Content-Type": "multipart/form-data"}),   # no boundary
        ("/api/collections/a%2Fb/documents?filename=x.txt", b"x", {}),       # collection name
    ]
    for path, body, headers in cases:
        st, h, resp = await s.http("POST", path, body=body, headers=headers)
        assert st == 400, (path, st, resp)
        assert json.loads(resp)["error"]["code"] == "VALIDATION_ERROR", resp
        assert files_in(d) == [], (path, files_in(d))
    # the upload path takes POST only (OPTIONS is the CORS preflight)
    st, h, resp = await s.http("GET", path_for("docs", "a.txt"))
    assert st == 405 and "POST" in h.get("allow", ""), (st, h, resp)
    st, h, resp = await s.http("OPTIONS", path_for("docs", "a.txt"))
    assert st == 204, (st, resp)
    # basename only: a client path is cut
    st, h, resp = await s.http("POST", path_for("docs", "../../etc/passwd"), body=b"x")
    assert st == 202, (st, resp)
    assert json.loads(resp)["filename"] == "passwd"
    # bad chunked framing on an upload: 400, connection closed, nothing kept
    st, h, resp = await raw_exchange(s, (
        f"POST {path_for('docs', 'c.txt')} HTTP/1.1\r\nHost: {s.host}:{s.port}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nzz\r\n").encode())
    assert st == 400 and (h.get("connection") or "").lower() == "close", (st, h, resp)
    assert leftovers(d) == []


async def test_upload_client_gone_mid_body_leaves_nothing(ctx):
    s, d = await upload_server(ctx)
    host = f"{s.host}:{s.port}"
    for framing in (b"Content-Length: 200000\r\n", b"Transfer-Encoding: chunked\r\n"):
        reader, writer = await asyncio.open_connection(s.host, s.port)
        writer.write(f"POST {path_for('docs', 'coupé.txt')} HTTP/1.1\r\nHost: {host}\r\n".encode()
                     + framing + b"\r\n"
                     + (b"1000\r\n" if b"chunked" in framing else b"") + b"q" * 3000)
        await writer.drain()
        await eventually(lambda: len(files_in(d)) == 1, what="the .part file exists")
        writer.close()
        await eventually(lambda: files_in(d) == [], what="the .part file removed")
    st, h, body = await s.http("GET", "/health")
    assert st == 200


@timeout(40)
async def test_upload_events_on_ws_upload(ctx):
    s, d = await upload_server(ctx, **{"ingest.progress_interval": "50ms"})
    ws = await ctx.ws(s, "/ws/upload")
    data = FR_TEXT.encode() * 2000  # ~150 kB, sent slowly
    host = f"{s.host}:{s.port}"
    reader, writer = await asyncio.open_connection(s.host, s.port)
    try:
        writer.write((f"POST {path_for('docs', FR_NAME)} HTTP/1.1\r\nHost: {host}\r\n"
                      f"Content-Length: {len(data)}\r\n\r\n").encode())
        for i in range(0, len(data), 15000):
            writer.write(data[i:i + 15000])
            await writer.drain()
            await asyncio.sleep(0.08)
        st, h, body = await read_response(reader)
    finally:
        writer.close()
    assert st == 202, (st, body)
    uid = check_accepted(body, [FR_NAME])["upload_id"]
    seen = []

    async def until_final():
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if m.get("data", {}).get("upload_id") != uid:
                continue
            seen.append(m)
            if m["type"] == "upload_progress" and m["data"]["bytes_uploaded"] == len(data):
                return
    await asyncio.wait_for(until_final(), 10)
    assert seen[0]["type"] == "upload_started", seen[0]
    assert seen[0]["data"]["filename"] == FR_NAME and seen[0]["data"]["file_size"] == len(data)
    prog = [m["data"] for m in seen if m["type"] == "upload_progress"]
    assert len(prog) >= 2, prog  # some while the bytes came, and the final one
    assert all(p["total_bytes"] == len(data) for p in prog), prog
    assert [p["bytes_uploaded"] for p in prog] == sorted(p["bytes_uploaded"] for p in prog)
    assert prog[-1]["progress"] == 1
    # the filtered endpoint sees the same upload's events
    ws2 = await ctx.ws(s, f"/ws/upload?upload_id={uid}")
    await ws2.close()
