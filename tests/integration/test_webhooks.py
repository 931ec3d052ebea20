"""Outbound webhooks (issue 10, SPEC S4.5, seed 003 "Scénario 2"): events of
real ingestion tasks (REST uploads) committed to the outbox and POSTed to a
local receiver started by the test (asyncio.start_server): retried with
backoff after 500s, signed following Standard Webhooks (checked here with
hmac/hashlib/base64), per-URL event filters, delivered after a restart of
the server that had failed to reach the receiver, dead after
webhook.max_attempts, listed by GET /api/webhooks/deliveries (admin only)
and retried by `ragws webhooks retry ID`."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
import urllib.parse

from harness import eventually, free_port, run_cli, timeout
from ragkit import conninfo

FR_NAME = "Résumé de l'été 🎉.txt"
FR_TEXT = ("L'été à Montréal : crème brûlée, œufs, café ☕ et « guillemets ». "
           "Les châteaux de la Loire furent bâtis à la Renaissance. 🏰\n") * 20


class Receiver:
    """A webhook receiver on 127.0.0.1:port. policy(n, path) gives the status
    of the n-th request (1-based) to path; every request is recorded as
    {"path", "headers" (lower-case), "body" (bytes)}."""

    def __init__(self, port=None, policy=None):
        self.port = port or free_port()
        self.policy = policy or (lambda n, path: 200)
        self.requests = []
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self):
        if self.server:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append({"path": path, "headers": headers, "body": body})
                n = sum(1 for r in self.requests if r["path"] == path)
                status = self.policy(n, path)
                answer = b'{"ok":true}' if status < 300 else b"boom\nretry later"
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(answer)}\r\n"
                             "Content-Type: text/plain\r\n\r\n".encode() + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path):
        return [r for r in self.requests if r["path"] == path]

    def events(self, path):
        return [json.loads(r["body"]) for r in self.at(path)]


def verify_signature(secret, headers, body):
    """The Standard Webhooks check, as a receiver would run it."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(int(ts) - time.time()) < 300, ts
    signed = f"{msg_id}.{ts}.".encode() + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    got = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ")
           if s.startswith("v1,")]
    assert any(hmac.compare_digest(want, g) for g in got), (headers, want)


def fast(**extra):
    o = {"webhook.backoff_base": "100ms", "webhook.backoff_max": "400ms",
         "webhook.poll_interval": "100ms", "webhook.timeout": "3s",
         "ingest.poll_interval": "200ms"}
    o.update({k.replace("__", "."): v for k, v in extra.items()})
    return o


async def upload(s, collection, name, data, ctype="text/plain; charset=utf-8"):
    q = urllib.parse.urlencode({"filename": name}, quote_via=urllib.parse.quote)
    st, _, body = await s.http("POST", f"/api/collections/{collection}/documents?{q}", body=data,
                               headers={"Content-Type": ctype})
    assert st == 202, (st, body)
    return json.loads(body)["task_id"]


async def deliveries(s, status=None, headers=None):
    path = "/api/webhooks/deliveries" + (f"?status={status}" if status else "")
    st, _, body = await s.http("GET", path, headers=headers)
    assert st == 200, (st, body)
    return json.loads(body)["deliveries"]


def cli_args(*words):
    return ["webhooks", *words, "-c", "ragws.conf", "-o", f"postgres.conninfo={conninfo()}"]


def collection(tag):
    return f"wh-{tag}-{os.urandom(4).hex()}"


@timeout(60)
async def test_task_completed_retried_then_signed(ctx):
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    (ctx.tmp / "whsec").write_text(secret + "\n")
    rx = Receiver(policy=lambda n, path: 500 if n <= 2 else 200)
    await rx.start()
    try:
        s = await ctx.server(fast(
            webhook__endpoints=f"{rx.url('/hook')} task_completed task_failed",
            webhook__secret_file=str(ctx.tmp / "whsec"),
            ingest__upload_dir=str(ctx.tmp / "up")))
        col = collection("ok")
        tid = await upload(s, col, FR_NAME, FR_TEXT.encode())
        await eventually(lambda: len(rx.at("/hook")) >= 3, timeout=20,
                         what="three attempts at the receiver")
        await asyncio.sleep(0.5)
        reqs = rx.at("/hook")
        assert len(reqs) == 3, [r["body"] for r in reqs]  # delivered: no fourth
        # the same message on every attempt: same id, same bytes
        assert len({r["headers"]["webhook-id"] for r in reqs}) == 1, reqs
        assert len({r["body"] for r in reqs}) == 1
        for r in reqs:
            assert r["headers"]["content-type"] == "application/json", r["headers"]
            verify_signature(secret, r["headers"], r["body"])
        ev = json.loads(reqs[2]["body"])
        assert set(ev) == {"event", "timestamp", "data"}, ev
        assert ev["event"] == "task_completed", ev
        assert ev["data"] == {"task_id": tid, "filename": FR_NAME, "collection": col,
                              "error": None}, ev
        # a forged body fails the check
        try:
            verify_signature(secret, reqs[2]["headers"], reqs[2]["body"] + b" ")
            raise RuntimeError("forged body verified")
        except AssertionError:
            pass
        wid = int(reqs[0]["headers"]["webhook-id"].removeprefix("msg_"))

        async def delivered():
            return [d for d in await deliveries(s, "delivered") if d["id"] == wid]
        row = (await eventually(delivered, what="the row delivered"))[0]
        assert row["attempts"] == 3 and row["last_status"] == 200, row
        assert row["event"] == "task_completed" and row["url"] == rx.url("/hook"), row
        assert row["delivered_at"] and row["payload"] == ev, row
        assert not [d for d in await deliveries(s, "pending") if d["id"] == wid]
        st, _, body = await s.http("GET", "/api/webhooks/deliveries?status=sent")
        assert st == 400 and json.loads(body)["error"]["code"] == "VALIDATION_ERROR", (st, body)
    finally:
        await rx.stop()


@timeout(60)
async def test_task_failed_and_event_filters(ctx):
    rx = Receiver()
    await rx.start()
    try:
        s = await ctx.server(fast(
            webhook__endpoints=(f"{rx.url('/all')} *, {rx.url('/failures')} task_failed,"
                                f" {rx.url('/objections')} critical_objection"),
            ingest__upload_dir=str(ctx.tmp / "up")))
        col = collection("ko")
        bad = await upload(s, col, "cassé 💥.pdf", b"%PDF-1.4\nce n'est pas un PDF\n",
                           "application/pdf")
        good = await upload(s, col, FR_NAME, FR_TEXT.encode())
        await eventually(lambda: len(rx.at("/all")) >= 2 and len(rx.at("/failures")) >= 1,
                         timeout=30, what="both events at /all, the failure at /failures")
        await asyncio.sleep(0.5)
        byid = {e["data"]["task_id"]: e for e in rx.events("/all")}
        assert set(byid) == {bad, good}, byid
        assert byid[bad]["event"] == "task_failed" and byid[bad]["data"]["error"], byid[bad]
        assert byid[bad]["data"]["filename"] == "cassé 💥.pdf", byid[bad]
        assert byid[good]["event"] == "task_completed", byid[good]
        fails = rx.events("/failures")
        assert [e["event"] for e in fails] == ["task_failed"], fails
        assert fails[0]["data"]["task_id"] == bad
        assert rx.at("/objections") == []
        for r in rx.requests:  # no secret_file: unsigned, still identified
            assert "webhook-signature" not in r["headers"], r["headers"]
            assert r["headers"]["webhook-id"].startswith("msg_"), r["headers"]
    finally:
        await rx.stop()


@timeout(90)
async def test_restart_delivers_undelivered_events(ctx):
    rx = Receiver()  # not listening yet: connections are refused
    conf = fast(webhook__endpoints=f"{rx.url('/later')} task_completed",
                webhook__backoff_base="1s", webhook__backoff_max="1s",
                ingest__upload_dir=str(ctx.tmp / "up"))
    s = await ctx.server(conf)
    col = collection("restart")
    tid = await upload(s, col, "après redémarrage ☕.txt", FR_TEXT.encode())

    async def failed_once():
        rows = [d for d in await deliveries(s, "pending")
                if d["payload"]["data"]["task_id"] == tid]
        return rows if rows and rows[0]["attempts"] >= 1 and rows[0]["last_error"] else None
    row = (await eventually(failed_once, timeout=20, what="a failed attempt"))[0]
    assert row["last_status"] is None, row  # no HTTP answer: refused
    await s.stop()
    await rx.start()
    try:
        s2 = await ctx.server(conf, name="restarted")
        await eventually(lambda: rx.at("/later"), timeout=20, what="delivery after restart")
        ev = rx.events("/later")[0]
        assert ev["event"] == "task_completed" and ev["data"]["task_id"] == tid, ev

        async def delivered():
            return [d for d in await deliveries(s2, "delivered") if d["id"] == row["id"]]
        await eventually(delivered, what="the row delivered")
    finally:
        await rx.stop()


@timeout(90)
async def test_dead_listed_and_retried_by_cli(ctx):
    state = {"ok": False}
    rx = Receiver(policy=lambda n, path: 200 if state["ok"] else 500)
    await rx.start()
    try:
        s = await ctx.server(fast(webhook__endpoints=f"{rx.url('/dead')} task_completed",
                                  webhook__max_attempts="2",
                                  ingest__upload_dir=str(ctx.tmp / "up")))
        tid = await upload(s, collection("dead"), "mort ☠️.txt", FR_TEXT.encode())

        async def dead():
            return [d for d in await deliveries(s, "dead")
                    if d["payload"]["data"]["task_id"] == tid]
        row = (await eventually(dead, timeout=20, what="the delivery dead"))[0]
        assert row["attempts"] == 2 and row["last_status"] == 500, row
        assert "HTTP 500" in row["last_error"] and "boom" in row["last_error"], row
        assert row["next_attempt_at"] is None and row["delivered_at"] is None, row
        await asyncio.sleep(0.5)
        assert len(rx.at("/dead")) == 2  # dead: no more attempts

        rc, out, err = await run_cli(cli_args("list", "--status", "dead"))
        assert rc == 0, (rc, out, err)
        line = next(l for l in out.splitlines() if l.split()[0] == str(row["id"]))
        assert "dead" in line and "task_completed" in line and "500" in line, line
        state["ok"] = True
        rc, out, err = await run_cli(cli_args("retry", str(row["id"])))
        assert rc == 0 and "dead -> pending" in out, (rc, out, err)

        async def delivered():
            return [d for d in await deliveries(s, "delivered") if d["id"] == row["id"]]
        got = (await eventually(delivered, timeout=10, what="delivered after retry"))[0]
        assert got["attempts"] == 1 and got["last_status"] == 200, got
        assert len(rx.at("/dead")) == 3

        rc, out, err = await run_cli(cli_args("retry", str(row["id"])))
        assert rc == 1 and "already delivered" in err, (rc, out, err)
        rc, out, err = await run_cli(cli_args("retry", "999999999"))
        assert rc == 1 and "no delivery" in err, (rc, out, err)
        rc, out, err = await run_cli(cli_args("retry", "abc"))
        assert rc == 2, (rc, out, err)
        rc, out, err = await run_cli(cli_args("list", "--status", "bogus"))
        assert rc == 2 and "usage" in err, (rc, out, err)
        rc, out, err = await run_cli(cli_args("list"))
        assert rc == 0 and out.splitlines()[0].split()[:3] == ["ID", "STATUS", "ATTEMPTS"], out
    finally:
        await rx.stop()


@timeout(40)
async def test_deliveries_route_is_admin_only(ctx):
    (ctx.tmp / "admin").write_text("s3cr3t-admin\n")
    s = await ctx.server({"auth.admin_token_file": str(ctx.tmp / "admin")})
    st, _, body = await s.http("GET", "/api/webhooks/deliveries")
    assert st == 401, (st, body)
    st, _, body = await s.http("GET", "/api/webhooks/deliveries",
                               headers={"Authorization": "Bearer wrong"})
    assert st == 401, (st, body)
    rows = await deliveries(s, "dead", headers={"Authorization": "Bearer s3cr3t-admin"})
    assert isinstance(rows, list)
    st, _, body = await s.http("GET", "/api/webhooks/deliveries",
                               headers={"Authorization": "Bearer s3cr3t-admin",
                                        "Origin": "https://evil.example"})
    assert st == 403, (st, body)
    # without a token file: loopback only, and a forwarded request is not loopback
    s2 = await ctx.server(name="loopback")
    assert isinstance(await deliveries(s2), list)
    st, _, body = await s2.http("GET", "/api/webhooks/deliveries",
                                headers={"X-Forwarded-For": "203.0.113.9"})
    assert st == 401, (st, body)


@timeout(30)
async def test_webhook_config_is_validated(ctx):
    for value, want in (("ftp://x/y task_failed", "http:// or https://"),
                        ("http://x/y task_faild", "unknown webhook event \"task_faild\""),
                        ("http://x/y", "lists no event"),
                        ("http://x/y *,", "empty endpoint")):
        rc, out, err = await run_cli(["check-config", "-c", "ragws.conf", "-o",
                                      f"webhook.endpoints={value}"])
        assert rc == 1 and want in err and "webhook.endpoints" in err, (value, rc, err)
    rc, out, err = await run_cli(["check-config", "-c", "ragws.conf", "-o",
                                  "webhook.secret_file=/nonexistent/whsec"])
    assert rc == 1 and "webhook.secret_file" in err, (rc, err)
    (ctx.tmp / "bad").write_text("whsec_!!notbase64\n")
    rc, out, err = await run_cli(["check-config", "-c", "ragws.conf", "-o",
                                  f"webhook.secret_file={ctx.tmp / 'bad'}"])
    assert rc == 1 and "whsec_" in err, (rc, err)
    rc, out, err = await run_cli(["check-config", "-v", "-c", "ragws.conf", "-o",
                                  "webhook.endpoints=https://a.example/h critical_objection,"
                                  " http://b.example:9/x *"])
    assert rc == 0, (rc, err)
    assert ("endpoints = https://a.example/h critical_objection, http://b.example:9/x *"
            in out), out
