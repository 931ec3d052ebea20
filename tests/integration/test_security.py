"""Security rules of SPEC S7 on REST and the admin paths (issue 7):

- auth.mode = jwt guards every non-admin REST route but /health, /ready and
  /metrics (401 + WWW-Authenticate: Bearer), and a user reads only the
  conversations stored with their sub (another user's answers 404);
- auth.endpoints may name REST paths and prefixes, and what check-config
  accepts is what the server enforces;
- admin calls refuse an Origin not listed by name (403), a body that is not
  application/json (415), and /ws/publish never accepts an Origin by "*";
- server.trusted_proxies: forwarded requests are never loopback-trusted
  unless the proxy is listed and the client it names is on loopback;
- auth.algorithms (RS384 refused by default, accepted when listed) and
  auth.leeway.

REST requests go over one keep-alive connection (http.client) where a test
makes several, the way browsers and SDKs send them."""

import asyncio
import http.client
import json
import socket
import subprocess
import time
from urllib.parse import quote

import websockets

from harness import expect_closed, free_port, recv_json, recv_until, run_cli, timeout
from ragkit import QueryStream, _b64url, apsql, ensure_samples, make_jwt, sql_literal
from rawws import HandshakeRejected, RawWS

SECRET = "security-secret-for-ragws-tests"
QUESTION = "How do workers share broadcasts?"


class Client:
    """One keep-alive HTTP/1.1 connection (http.client), used from a thread."""

    def __init__(self, host, port):
        self.conn = http.client.HTTPConnection(host, port, timeout=15)

    def _do(self, method, path, body, headers):
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            hdrs.setdefault("Content-Type", "application/json")
        self.conn.request(method, path, body=data, headers=hdrs)
        r = self.conn.getresponse()
        raw = r.read()
        assert not r.will_close or "close" in (r.getheader("Connection") or ""), r.headers
        return r.status, {k.lower(): v for k, v in r.getheaders()}, raw

    async def req(self, method, path, body=None, headers=None):
        return await asyncio.to_thread(self._do, method, path, body, headers)

    def close(self):
        self.conn.close()


def error_body(body):
    obj = json.loads(body)
    assert set(obj) == {"error"} and set(obj["error"]) == {"code", "message"}, obj
    assert obj["error"]["code"] and obj["error"]["message"], obj
    return obj["error"]


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


async def jwt_server(ctx, extra=None, **kw):
    path = ctx.tmp / "jwt.secret"
    path.write_text(SECRET + "\n")
    o = {"auth.mode": "jwt", "auth.jwt_secret_file": str(path)}
    o.update(extra or {})
    return await ctx.server(o, **kw)


def assert_401(status, h, body, why=None, had_token=True):
    assert status == 401, (status, body)
    e = error_body(body)
    assert e["code"] == "UNAUTHORIZED" and e["message"].startswith("Authentication failed"), e
    if why:
        assert why in e["message"], (why, e)
    www = h.get("www-authenticate", "")
    assert www.startswith("Bearer realm=\"ragws\""), h
    assert ("error=\"invalid_token\"" in www) == had_token, www


# ---- REST under auth.mode = jwt ----

@timeout(60)
async def test_rest_needs_a_valid_token(ctx):
    await ensure_samples()
    s = await jwt_server(ctx)
    cl = Client(s.host, s.port)
    now = int(time.time())
    good = make_jwt(SECRET, {"sub": "alice"})
    cases = [
        ({}, None, False),
        (bearer(make_jwt(SECRET, {"exp": now - 3600})), "token expired", True),
        (bearer(make_jwt("not-the-secret")), "bad signature", True),
        (bearer(make_jwt(SECRET, alg="none")), "algorithm not allowed", True),
        (bearer(make_jwt(SECRET, {"nbf": now + 3600})), "not yet valid", True),
        (bearer("not.a.jwt"), "malformed", True),
        ({"Authorization": f"Basic {good}"}, "missing token", False),
    ]
    for hdrs, why, had in cases:
        st, h, b = await cl.req("POST", "/api/query", {"query": QUESTION}, hdrs)
        assert_401(st, h, b, why, had)
        st, h, b = await cl.req("GET", "/api/collections", None, hdrs)
        assert_401(st, h, b, why, had)
        st, h, b = await cl.req("GET", "/api/conversations/1/messages", None, hdrs)
        assert_401(st, h, b, why, had)
    # REST takes the header only: ?token= is not a carrier here (URLs get logged)
    st, h, b = await cl.req("GET", f"/api/collections?token={quote(good)}")
    assert_401(st, h, b, "missing token", had_token=False)
    # an unknown path asks for the token before it says 404
    st, h, b = await cl.req("GET", "/api/nothing-here")
    assert_401(st, h, b, had_token=False)
    st, _, b = await cl.req("GET", "/api/nothing-here", None, bearer(good))
    assert st == 404 and error_body(b)["code"] == "NOT_FOUND", (st, b)

    # a good token is served, on the same keep-alive connection
    st, _, b = await cl.req("GET", "/api/collections", None, bearer(good))
    assert st == 200 and "collections" in json.loads(b), (st, b)
    st, _, b = await cl.req("POST", "/api/query", {"query": QUESTION, "max_results": 2},
                            bearer(good))
    assert st == 200, (st, b)
    r = json.loads(b)
    assert "architecture.md" in r["answer"] and r["conversation_id"] > 0, r

    # health, readiness and metrics stay open
    for path in ("/health", "/ready", "/metrics"):
        st, _, b = await cl.req("GET", path)
        assert st == 200, (path, st, b)
    cl.close()


@timeout(60)
async def test_conversations_belong_to_their_sub(ctx):
    await ensure_samples()
    s = await jwt_server(ctx)
    alice, bob = make_jwt(SECRET, {"sub": "alice"}), make_jwt(SECRET, {"sub": "bob"})
    cl = Client(s.host, s.port)

    # created over REST: the owner is stored, only alice reads it
    st, _, b = await cl.req("POST", "/api/query", {"query": QUESTION}, bearer(alice))
    assert st == 200, (st, b)
    cid = json.loads(b)["conversation_id"]
    rows = await apsql(f"SELECT owner FROM conversations WHERE id = {int(cid)}")
    assert rows == [("alice",)], rows
    st, _, b = await cl.req("GET", f"/api/conversations/{cid}/messages", None, bearer(alice))
    assert st == 200, (st, b)
    conv = json.loads(b)
    assert [m["role"] for m in conv["messages"]] == ["user", "assistant"], conv
    for probe in (cid, cid - 1, cid + 1000):  # another's, or none at all: the same 404
        st, _, b = await cl.req("GET", f"/api/conversations/{probe}/messages", None, bearer(bob))
        assert st == 404 and error_body(b)["code"] == "NOT_FOUND", (probe, st, b)

    # created over /ws/query (token at the upgrade): same rule
    ws = await ctx.ws(s, "/ws/query", headers=bearer(bob))
    qs = QueryStream(ws)
    await qs.query("b1", QUESTION, max_results=2)
    final = await qs.final("b1")
    assert final["type"] == "complete", final
    rows = await apsql("SELECT id FROM conversations WHERE owner = 'bob' AND kind = 'query'")
    assert len(rows) == 1, rows
    bob_cid = int(rows[0][0])
    st, _, b = await cl.req("GET", f"/api/conversations/{bob_cid}/messages", None, bearer(bob))
    assert st == 200 and json.loads(b)["conversation_id"] == bob_cid, (st, b)
    st, _, b = await cl.req("GET", f"/api/conversations/{bob_cid}/messages", None, bearer(alice))
    assert st == 404, (st, b)

    # /chat/ws: bob cannot continue (nor read) alice's chat by its id
    chat = await ctx.ws(s, "/chat/ws", headers=bearer(alice))
    await chat.send(json.dumps({"message": QUESTION}))
    m, _ = await recv_until(chat, lambda m: m["type"] in ("complete", "error"), 15)
    assert m["type"] == "complete", m
    ext = m["conversation_id"]
    chat_b = await ctx.ws(s, "/chat/ws", headers=bearer(bob))
    await chat_b.send(json.dumps({"message": "show me", "conversation_id": ext}))
    m, _ = await recv_until(chat_b, lambda m: m["type"] in ("complete", "error"), 15)
    assert m["type"] == "error" and m.get("code") == "FORBIDDEN", m
    n = await apsql("SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                    f" WHERE c.external_id = {sql_literal(ext)} AND m.content = 'show me'")
    assert n == [("0",)], n
    st, _, b = await cl.req("GET", f"/api/conversations/{quote(ext)}/messages", None, bearer(bob))
    assert st == 404, (st, b)
    st, _, b = await cl.req("GET", f"/api/conversations/{quote(ext)}/messages", None,
                            bearer(alice))
    assert st == 200 and json.loads(b)["kind"] == "chat", (st, b)
    cl.close()


@timeout(60)
async def test_auth_endpoints_rest_paths_enforced_as_checked(ctx):
    # check-config refuses what the server could not enforce ...
    base = ["check-config", "-c", "ragws.conf", "-o", "auth.mode=jwt"]
    secret = ctx.tmp / "s"
    secret.write_text(SECRET)
    base += ["-o", f"auth.jwt_secret_file={secret}"]
    for bad, msg in (("/api/querry", "matches no"), ("/health", "always public"),
                     ("/api/broadcast", "admin path"), ("/ws/publish", "admin path"),
                     ("api/query", "must start with /"), ("/api/*/x", "only at the end")):
        rc, out, err = await run_cli(base + ["-o", f"auth.endpoints={bad}"])
        assert rc != 0 and msg in err, (bad, rc, out, err)
    rc, out, err = await run_cli(base + ["-o", "auth.endpoints=/api/query, /api/conversations/*"])
    assert rc == 0, (rc, out, err)

    # ... and enforces what it accepts: listed REST paths need the token,
    # the others (REST and WebSocket) do not
    s = await jwt_server(ctx, {"auth.endpoints": "/api/query, /api/conversations/*"})
    cl = Client(s.host, s.port)
    st, h, b = await cl.req("POST", "/api/query", {"query": QUESTION})
    assert_401(st, h, b, had_token=False)
    st, h, b = await cl.req("GET", "/api/conversations/1/messages")
    assert_401(st, h, b, had_token=False)
    st, _, b = await cl.req("GET", "/api/collections")
    assert st == 200, (st, b)
    ws = await ctx.ws(s, "/ws/query")
    await QueryStream(ws).alive()
    cl.close()


# ---- admin: Origin, content type, /ws/publish ----

async def no_message(ws, seconds=0.5):
    try:
        m = await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected message {m!r}")


@timeout(60)
async def test_admin_rest_origin_and_json(ctx):
    s = await ctx.server({"cors.allowed_origins": "https://ok.example"})
    sub = await ctx.ws(s, "/api/v1/ws")
    cl = Client(s.host, s.port)
    body = json.dumps({"channel": "global", "message": {"n": 1}})

    st, _, b = await cl.req("POST", "/api/broadcast", body,
                            {"Origin": "https://evil.example", "Content-Type": "text/plain"})
    assert st == 403 and error_body(b)["code"] == "ORIGIN_NOT_ALLOWED", (st, b)
    st, _, b = await cl.req("POST", "/api/broadcast", body,
                            {"Origin": "https://evil.example", "Content-Type": "application/json"})
    assert st == 403, (st, b)
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                  "application/jsonp"):
        st, _, b = await cl.req("POST", "/api/broadcast", body, {"Content-Type": ctype})
        assert st == 415 and error_body(b)["code"] == "UNSUPPORTED_MEDIA_TYPE", (ctype, st, b)
    st, _, b = await cl.req("POST", "/api/projects/p1/broadcast",
                            json.dumps({"event": "e", "data": {}}), {"Content-Type": "text/plain"})
    assert st == 415, (st, b)
    st, _, b = await cl.req("POST", "/api/projects/p1/broadcast",
                            json.dumps({"event": "e", "data": {}}),
                            {"Origin": "https://evil.example"})
    assert st == 403, (st, b)
    await no_message(sub)

    st, _, b = await cl.req("POST", "/api/broadcast", body,
                            {"Content-Type": "application/json; charset=utf-8"})
    assert st == 202, (st, b)
    assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": 1}
    st, _, b = await cl.req("POST", "/api/broadcast", json.dumps({"channel": "global",
                                                                  "message": {"n": 2}}),
                            {"Origin": "https://ok.example"})
    assert st == 202, (st, b)
    assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": 2}

    # /ws/publish: an Origin must be listed by name
    try:
        await RawWS.connect(s.host, s.port, "/ws/publish", headers={"Origin": "https://evil.example"})
        raise AssertionError("foreign Origin accepted on /ws/publish")
    except HandshakeRejected as e:
        assert e.status == 403, e.status
    pub = await ctx.ws(s, "/ws/publish", origin="https://ok.example")
    await pub.send(json.dumps({"channel": "global", "message": {"n": 3}}))
    assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": 3}
    cl.close()


@timeout(40)
async def test_admin_never_by_star(ctx):
    s = await ctx.server()  # the shipped cors.allowed_origins = *
    sub = await ctx.ws(s, "/api/v1/ws", origin="https://any.example")  # users: * works
    cl = Client(s.host, s.port)
    st, _, b = await cl.req("POST", "/api/broadcast",
                            json.dumps({"channel": "global", "message": {"n": 1}}),
                            {"Origin": "https://evil.example"})
    assert st == 403 and error_body(b)["code"] == "ORIGIN_NOT_ALLOWED", (st, b)
    for origin in ("https://evil.example", "null", "http://127.0.0.1:1"):
        try:
            await RawWS.connect(s.host, s.port, "/ws/publish", headers={"Origin": origin})
            raise AssertionError(f"/ws/publish accepted Origin {origin} by *")
        except HandshakeRejected as e:
            assert e.status == 403 and error_body(e.body)["code"] == "ORIGIN_NOT_ALLOWED", e.status
    try:
        await ctx.ws(s, "/ws/publish", origin="https://evil.example")
        raise AssertionError("websockets client with a foreign Origin accepted")
    except websockets.InvalidStatusCode as e:
        assert e.status_code == 403
    await no_message(sub)
    # no Origin (a back-end producer on loopback): accepted
    pub = await ctx.ws(s, "/ws/publish")
    await pub.send(json.dumps({"channel": "global", "message": {"n": 2}}))
    assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": 2}
    cl.close()


# ---- server.trusted_proxies ----

def local_non_loopback_ip():
    """An address of this host that is not loopback, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.connect(("192.0.2.1", 9))  # no packet is sent
            ip = u.getsockname()[0]
        return None if ip.startswith("127.") else ip
    except OSError:
        return None


async def broadcast_status(host, port, headers, n):
    cl = Client(host, port)
    st, _, b = await cl.req("POST", "/api/broadcast",
                            json.dumps({"channel": "global", "message": {"n": n}}), headers)
    cl.close()
    return st, b


@timeout(60)
async def test_forwarded_requests_are_not_loopback(ctx):
    s = await ctx.server()  # no trusted proxy, no admin token
    sub = await ctx.ws(s, "/api/v1/ws")
    for hdrs in ({"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "127.0.0.1"},
                 {"Forwarded": "for=203.0.113.9;proto=https"}, {"Forwarded": "for=127.0.0.1"}):
        st, b = await broadcast_status(s.host, s.port, hdrs, 0)
        assert st == 401 and error_body(b)["code"] == "UNAUTHORIZED", (hdrs, st, b)
        try:
            await RawWS.connect(s.host, s.port, "/ws/publish", headers=hdrs)
            raise AssertionError(f"/ws/publish accepted a forwarded request {hdrs}")
        except HandshakeRejected as e:
            assert e.status == 401, e.status
    await no_message(sub)
    st, b = await broadcast_status(s.host, s.port, {}, 1)  # the host's own call
    assert st == 202, (st, b)
    assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": 1}


@timeout(60)
async def test_trusted_proxy_names_the_client(ctx):
    s = await ctx.server({"server.trusted_proxies": "127.0.0.1, 10.0.0.0/8"})
    sub = await ctx.ws(s, "/api/v1/ws")
    refused = ({"X-Forwarded-For": "203.0.113.9"},
               {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"},  # client-made part on the left
               {"X-Forwarded-For": "203.0.113.9, 10.1.2.3"},  # through two listed proxies
               {"Forwarded": "for=\"[2001:db8::1]:4711\""},
               {"X-Forwarded-For": "unknown"})
    for hdrs in refused:
        st, b = await broadcast_status(s.host, s.port, hdrs, 0)
        assert st == 401, (hdrs, st, b)
    try:
        await RawWS.connect(s.host, s.port, "/ws/publish",
                            headers={"X-Forwarded-For": "203.0.113.9"})
        raise AssertionError("/ws/publish accepted a remote client through the proxy")
    except HandshakeRejected as e:
        assert e.status == 401, e.status
    await no_message(sub)
    # a loopback client through the listed proxy, or the proxy itself
    for n, hdrs in enumerate(({"X-Forwarded-For": "127.0.0.1"},
                              {"X-Forwarded-For": "127.0.0.1, 10.0.0.7"},
                              {"Forwarded": "for=\"[::1]\""}, {}), 1):
        st, b = await broadcast_status(s.host, s.port, hdrs, n)
        assert st == 202, (hdrs, st, b)
        assert json.loads(await asyncio.wait_for(sub.recv(), 5)) == {"n": n}


@timeout(60)
async def test_forwarding_headers_of_untrusted_peer_ignored(ctx):
    ip = local_non_loopback_ip()
    assert ip, "this test needs an address of the host that is not loopback"
    port = free_port()
    for trusted in ("", "127.0.0.1"):
        s = await ctx.server({"server.listen": f"0.0.0.0:{port}",
                              "server.trusted_proxies": trusted}, port=port)
        # from a non-loopback peer, a claimed loopback client changes nothing
        for hdrs in ({}, {"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"}):
            st, b = await broadcast_status(ip, port, hdrs, 0)
            assert st == 401, (trusted, hdrs, st, b)
        await s.stop()


@timeout(60)
async def test_trusted_proxy_has_no_per_ip_limit(ctx):
    s = await ctx.server({"limits.max_connections_per_ip": "1"}, workers=1)
    a = await ctx.ws(s, "/api/v1/ws")
    try:
        await RawWS.connect(s.host, s.port, "/api/v1/ws")
        raise AssertionError("second connection from one IP accepted")
    except HandshakeRejected as e:
        assert e.status == 503, e.status
    await a.close()
    s2 = await ctx.server({"limits.max_connections_per_ip": "1",
                           "server.trusted_proxies": "127.0.0.0/8"}, workers=1)
    conns = [await ctx.ws(s2, "/api/v1/ws") for _ in range(3)]
    for c in conns:
        await c.send('{"type":"ping"}')
        assert json.loads(await asyncio.wait_for(c.recv(), 5)) == {"type": "pong"}


async def test_trusted_proxies_checked(ctx):
    for bad in ("localhost", "10.0.0.0/33", "::1/129", "1.2.3.4,", "1.2.3.4/x"):
        rc, out, err = await run_cli(["check-config", "-c", "ragws.conf", "-o",
                                      f"server.trusted_proxies={bad}"])
        assert rc != 0 and "server.trusted_proxies" in err, (bad, rc, out, err)
    rc, out, err = await run_cli(["check-config", "-v", "-c", "ragws.conf", "-o",
                                  "server.trusted_proxies=127.0.0.1, 10.0.0.0/8, ::1, fd00::/8"])
    assert rc == 0 and "trusted_proxies = 127.0.0.1, 10.0.0.0/8, ::1, fd00::/8" in out, (rc, out)


# ---- auth.algorithms and auth.leeway ----

def rsa_keys(tmp):
    priv, pub = tmp / "rsa.key", tmp / "rsa.pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(priv)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)], check=True,
                   capture_output=True)
    return priv, pub


def rs_jwt(priv, alg, claims=None):
    """RS256/384/512 (RSASSA-PKCS1-v1_5) signed by the openssl CLI."""
    now = int(time.time())
    c = {"sub": "rsa-user", "iat": now, "exp": now + 600}
    c.update(claims or {})
    signing = (_b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." +
               _b64url(json.dumps(c).encode()))
    sig = subprocess.run(["openssl", "dgst", "-sha" + alg[2:], "-sign", str(priv)],
                         input=signing.encode(), check=True, capture_output=True).stdout
    return signing + "." + _b64url(sig)


async def ws_auth_error(ctx, s, tok):
    ws = await ctx.ws(s, "/ws/query", headers=bearer(tok))
    m = await recv_json(ws, 5)
    assert m["type"] == "auth_error", m
    code, _ = await expect_closed(ws, 5)
    assert code == 1008, code
    return m["data"]["message"]


@timeout(90)
async def test_algorithms_default_and_listed(ctx):
    priv, pub = rsa_keys(ctx.tmp)
    s = await ctx.server({"auth.mode": "jwt", "auth.jwt_public_key_file": str(pub)})
    cl = Client(s.host, s.port)
    st, _, b = await cl.req("GET", "/api/collections", None, bearer(rs_jwt(priv, "RS256")))
    assert st == 200, (st, b)
    for alg in ("RS384", "RS512"):
        st, h, b = await cl.req("GET", "/api/collections", None, bearer(rs_jwt(priv, alg)))
        assert_401(st, h, b, "algorithm not allowed")
        assert "algorithm not allowed" in await ws_auth_error(ctx, s, rs_jwt(priv, alg))
    # HS256 signed with the public key PEM as secret: never
    st, h, b = await cl.req("GET", "/api/collections", None, bearer(make_jwt(pub.read_bytes())))
    assert_401(st, h, b, "algorithm not allowed")
    cl.close()
    await s.stop()

    s = await ctx.server({"auth.mode": "jwt", "auth.jwt_public_key_file": str(pub),
                          "auth.algorithms": "RS256, RS384"})
    cl = Client(s.host, s.port)
    st, _, b = await cl.req("GET", "/api/collections", None, bearer(rs_jwt(priv, "RS384")))
    assert st == 200, (st, b)
    st, h, b = await cl.req("GET", "/api/collections", None, bearer(rs_jwt(priv, "RS512")))
    assert_401(st, h, b, "algorithm not allowed")
    ws = await ctx.ws(s, "/ws/query", headers=bearer(rs_jwt(priv, "RS384")))
    await QueryStream(ws).alive()
    cl.close()

    # check-config: names and key types
    base = ["check-config", "-c", "ragws.conf", "-o", "auth.mode=jwt"]
    for algs, keyfile, msg in (("none", f"auth.jwt_public_key_file={pub}", "never accepted"),
                               ("RS256,PS256", f"auth.jwt_public_key_file={pub}", "unknown"),
                               ("ES256", f"auth.jwt_public_key_file={pub}", "cannot be verified"),
                               ("HS256", f"auth.jwt_public_key_file={pub}", "cannot be verified"),
                               ("RS256", f"auth.jwt_secret_file={pub}", "cannot be verified")):
        rc, out, err = await run_cli(base + ["-o", keyfile, "-o", f"auth.algorithms={algs}"])
        assert rc != 0 and msg in err, (algs, rc, out, err)


@timeout(60)
async def test_leeway(ctx):
    now = int(time.time())
    just_expired = make_jwt(SECRET, {"exp": now - 5})
    long_expired = make_jwt(SECRET, {"exp": now - 90})
    soon_valid = make_jwt(SECRET, {"nbf": now + 10})
    s = await jwt_server(ctx)  # default auth.leeway = 30s
    cl = Client(s.host, s.port)
    for tok in (just_expired, soon_valid):
        st, _, b = await cl.req("GET", "/api/collections", None, bearer(tok))
        assert st == 200, (st, b)
    st, h, b = await cl.req("GET", "/api/collections", None, bearer(long_expired))
    assert_401(st, h, b, "token expired")
    cl.close()
    await s.stop()

    s = await jwt_server(ctx, {"auth.leeway": "0"})
    cl = Client(s.host, s.port)
    st, h, b = await cl.req("GET", "/api/collections", None, bearer(just_expired))
    assert_401(st, h, b, "token expired")
    st, h, b = await cl.req("GET", "/api/collections", None, bearer(soon_valid))
    assert_401(st, h, b, "not yet valid")
    assert "expired" in await ws_auth_error(ctx, s, just_expired)
    cl.close()
    await s.stop()

    s = await jwt_server(ctx, {"auth.leeway": "2m"})
    cl = Client(s.host, s.port)
    st, _, b = await cl.req("GET", "/api/collections", None, bearer(long_expired))
    assert st == 200, (st, b)
    ws = await ctx.ws(s, "/ws/query", headers=bearer(long_expired))
    await QueryStream(ws).alive()
    cl.close()
    rc, out, err = await run_cli(["check-config", "-c", "ragws.conf", "-o", "auth.leeway=10m"])
    assert rc != 0 and "auth.leeway" in err, (rc, out, err)
