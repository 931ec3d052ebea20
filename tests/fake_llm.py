#!/usr/bin/python3
"""A scriptable fake LLM backend for the tests (stdlib only).

    /usr/bin/python3 tests/fake_llm.py [PORT] [--max-life SECONDS]

Listens on 127.0.0.1:PORT (0 or absent: any free port) and prints the port
on stdout as its first line once it accepts connections.

Generation requests. The mode and options come from the path prefix, so a
test picks a behaviour through llm.url alone:

    POST /<mode>[/d<ms>][/as-<model>]/v1/chat/completions   OpenAI SSE (stream: true)
    POST /<mode>[/d<ms>][/as-<model>]/api/chat              Ollama NDJSON

    e.g. llm.url = http://127.0.0.1:PORT/ok/d20

Every chunk names the model that answers ("model"): the request's model,
or <model> with /as-<model> (a backend that answers with another model
than the one asked for, e.g. a router falling back).

  ok        stream SCRIPT, one token per write, <ms> apart (default 50),
            then the end marker (data: [DONE] / {"done":true}).
  crlf      like ok, but CRLF line ends, ':' comment lines, every SSE data
            split over two 'data:' lines, and each event sent in two writes
            cut mid-line (NDJSON: CRLF, lines cut in two writes).
  error500  HTTP 500 with {"error":{"message":"fake backend failure",..}}.
  stall     200 and the headers, then nothing until the client leaves.
  inerror   two tokens, then an error object inside the stream.
  drop      three tokens, then the connection closes without an end marker.
  json      like ok, with JSON_SCRIPT: a /ws/conversation suggestion object.

Every streamed response uses chunked encoding on a keep-alive connection.
Between writes the server watches the socket, and a failed write also
counts: a client that closes early is recorded as disconnected.

Control:

    GET  /_script     the scripted tokens, a JSON array of strings
    GET  /_log        {"requests":[{id, method, path, mode, wire, body
                      (parsed JSON or null), authorization, tokens_sent,
                      finished, completed, disconnected}]}
                      completed: the whole answer and its end marker were
                      sent; disconnected: the client left before that.
    GET  /_log?wait=N[&timeout=S]
                      first waits (at most S seconds, default 5) until N
                      generation requests were seen and all have finished.
    POST /_reset      forgets the log.
"""

import json
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SCRIPT = [
    "Hello", ",", " world", "!", " Ünïcødé", " \"quoted\"", " back\\slash",
    " new\nline", " tab\t", " emoji \U0001F642", " and", " some", " more",
    " words", " to", " make", " it", " long", " enough", ".",
]

# mode json: a conversation suggestion as a JSON object (JSON mode), in pieces
JSON_SCRIPT = ['{"questions": ["Quel budget', ' aviez-vous en tête ?"],', ' "signals_detected":',
               ' ["pricing objection"],', ' "recommended_direction":',
               ' "Proposez une formule adaptée au budget."}']

MODES = ("ok", "crlf", "error500", "stall", "inerror", "drop", "json")

log_lock = threading.Condition()
log = []  # one dict per generation request


def log_update(entry, **changes):
    with log_lock:
        entry.update(changes)
        log_lock.notify_all()


class Gone(Exception):
    """The client closed the connection."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the tests print what matters
        pass

    # ---- helpers ---------------------------------------------------------

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def client_gone(self):
        """True when the peer has closed its side (EOF or reset)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def wait(self, seconds):
        """Sleeps, but returns early with Gone when the client leaves."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                r, _, _ = select.select([self.connection], [], [], left)
            except OSError:
                raise Gone()
            if r:
                if self.client_gone():
                    raise Gone()
                time.sleep(min(left, 0.01))  # data we do not read: do not spin

    def chunk(self, data):
        if self.client_gone():
            raise Gone()
        try:
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            raise Gone()

    # ---- control ---------------------------------------------------------

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_script":
            return self.send_json(200, SCRIPT)
        if url.path == "/_log":
            q = parse_qs(url.query)
            want = int(q.get("wait", ["0"])[0])
            timeout = float(q.get("timeout", ["5"])[0])
            end = time.monotonic() + timeout
            with log_lock:
                while True:
                    if len(log) >= want and all(e["finished"] for e in log):
                        break
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    log_lock.wait(left)
                snapshot = json.loads(json.dumps(log))
            return self.send_json(200, {"requests": snapshot})
        self.send_json(404, {"error": {"message": "no such path"}})

    def do_POST(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path == "/_reset":
            with log_lock:
                log.clear()
                log_lock.notify_all()
            return self.send_json(200, {"ok": True})

        parts = [p for p in url.path.split("/") if p]
        if url.path.endswith("/v1/chat/completions"):
            wire, parts = "sse", parts[:-3]
        elif url.path.endswith("/api/chat"):
            wire, parts = "ndjson", parts[:-2]
        else:
            return self.send_json(404, {"error": {"message": "no such endpoint"}})
        mode = parts[0] if parts and parts[0] in MODES else "ok"
        delay = 0.05
        answering = None
        for p in parts[1:]:
            if p.startswith("d") and p[1:].isdigit():
                delay = int(p[1:]) / 1000.0
            elif p.startswith("as-") and len(p) > 3:
                answering = p[3:]
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if answering is None:
            answering = body.get("model") if isinstance(body, dict) and \
                isinstance(body.get("model"), str) else "fake"
        entry = {
            "id": 0, "method": "POST", "path": url.path, "mode": mode,
            "wire": wire, "body": body,
            "authorization": self.headers.get("Authorization"),
            "tokens_sent": 0, "finished": False, "completed": False,
            "disconnected": False,
        }
        with log_lock:
            entry["id"] = len(log) + 1
            log.append(entry)
            log_lock.notify_all()
        try:
            self.generate(entry, mode, wire, delay, answering)
        except Gone:
            self.close_connection = True
            log_update(entry, disconnected=True)
        finally:
            log_update(entry, finished=True)

    # ---- generation ------------------------------------------------------

    def generate(self, entry, mode, wire, delay, model="fake"):
        if mode == "error500":
            self.send_json(500, {"error": {"message": "fake backend failure",
                                           "type": "server_error"}})
            log_update(entry, completed=True)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if wire == "sse"
                         else "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.flush()
        if mode == "stall":
            self.close_connection = True
            self.wait(60)
            return
        crlf = mode == "crlf"
        nl = "\r\n" if crlf else "\n"
        tokens = SCRIPT
        if mode == "json":
            tokens = JSON_SCRIPT
        elif mode == "inerror":
            tokens = SCRIPT[:2]
        elif mode == "drop":
            tokens = SCRIPT[:3]
        if wire == "sse":  # the usual role-only first chunk, without content
            self.send_event(sse_event({"delta": {"role": "assistant"}}, crlf, nl, model), crlf)
        for i, tok in enumerate(tokens):
            self.wait(delay)
            if wire == "sse":
                self.send_event(sse_event({"delta": {"content": tok}}, crlf, nl, model), crlf)
            else:
                line = json.dumps({"model": model, "message": {"role": "assistant",
                                   "content": tok}, "done": False}) + nl
                self.send_event(line, crlf)
            log_update(entry, tokens_sent=i + 1)
        self.wait(delay)
        if mode == "inerror":
            err = {"error": {"message": "fake in-stream failure", "type": "server_error"}}
            self.send_event(("data: " + json.dumps(err) + nl + nl) if wire == "sse"
                            else json.dumps(err) + nl, crlf)
        elif mode == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk
            return
        elif wire == "sse":
            self.send_event(sse_event({"delta": {}, "finish_reason": "stop"}, crlf, nl, model), crlf)
            self.send_event("data: [DONE]" + nl + nl, crlf)
        else:
            self.send_event(json.dumps({"model": model, "message": {"role": "assistant",
                            "content": ""}, "done": True, "done_reason": "stop",
                            "eval_count": len(tokens)}) + nl, crlf)
        self.chunk(b"")
        log_update(entry, completed=True)

    def send_event(self, text, split):
        data = text.encode()
        if split and len(data) > 8:
            cut = len(data) // 2
            self.chunk(data[:cut])
            self.wait(0.002)
            self.chunk(data[cut:])
        else:
            self.chunk(data)


def sse_event(choice, crlf, nl, model="fake"):
    obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
           "model": model, "choices": [dict(index=0, **choice)]}
    text = json.dumps(obj)
    if crlf:
        # A comment, then the JSON over two data lines (joined with "\n").
        cut = text.index('"choices"')
        return ": keep-alive" + nl + "data: " + text[:cut] + nl + "data: " + text[cut:] + nl + nl
    return "data: " + text + nl + nl


def main():
    port = 0
    max_life = 600.0
    args = sys.argv[1:]
    i = 0
    while i < len(args):
        if args[i] == "--max-life":
            max_life = float(args[i + 1])
            i += 2
        else:
            port = int(args[i])
            i += 1
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    # A test that dies without killing us must not leave us running forever.
    timer = threading.Timer(max_life, server.shutdown)
    timer.daemon = True
    timer.start()
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
