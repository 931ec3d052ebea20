"""A deliberately low-level WebSocket client for malformed input.

It does the opening handshake by hand, sends arbitrary frames (opcode, FIN,
RSV bits, masking and payload chosen by the test, invalid UTF-8 included),
reads frames one by one, parses close frames, and answers pings only when
asked to. The socket is a plain non-blocking socket driven with the event
loop's sock_* calls, so nothing reads from it unless the test does (a slow
consumer stays slow), and SO_RCVBUF can be set before connecting.
"""

import asyncio
import base64
import hashlib
import os
import socket
import struct
import time

from harness import Headers, parse_head

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


class HandshakeRejected(Exception):
    def __init__(self, status, headers, body):
        super().__init__(f"handshake answered {status}: {body[:200]!r}")
        self.status, self.headers, self.body = status, headers, body


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "payload", "masked")

    def __init__(self, fin, rsv, opcode, payload, masked):
        self.fin, self.rsv, self.opcode, self.payload, self.masked = fin, rsv, opcode, payload, masked

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self):
        return self.payload[2:].decode("utf-8", "replace")

    def __repr__(self):
        return (f"Frame(fin={self.fin}, rsv={self.rsv}, opcode={self.opcode:#x}, "
                f"len={len(self.payload)}, payload={self.payload[:60]!r})")


def apply_mask(data, key):
    """XOR data with the 4-byte key (RFC 6455 5.3), fast for large payloads."""
    if not data:
        return b""
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None,
                 length_override=None):
    """Bytes of one frame. rsv is the 3-bit RSV1..3 field (RSV1 = 4)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload) if length_override is None else length_override
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return head + key + apply_mask(payload, key)
    return head + payload


def close_payload(code=1000, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class RawWS:
    def __init__(self, sock, buf=b""):
        self.sock = sock
        self.buf = bytearray(buf)
        self.loop = asyncio.get_running_loop()
        self.eof = False
        self.response_headers = Headers()
        self.status = None

    # -- connecting

    @staticmethod
    async def open_socket(host, port, rcvbuf=None, timeout=5.0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    @classmethod
    async def connect(cls, host, port, path="/api/v1/ws", headers=None, rcvbuf=None,
                      timeout=5.0, key=None):
        """Handshake; returns a RawWS, or raises HandshakeRejected."""
        sock = await cls.open_socket(host, port, rcvbuf, timeout)
        self = cls(sock)
        key = key or base64.b64encode(os.urandom(16)).decode()
        hdrs = {
            "Host": f"{host}:{port}",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
        }
        for k, v in (headers or {}).items():
            for d in list(hdrs):
                if d.lower() == k.lower():
                    del hdrs[d]
            if v is not None:
                hdrs[k] = v
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        try:
            await self.send_raw((req + "\r\n").encode("latin-1"))
            status, h, body = await self.read_http_response(timeout)
        except BaseException:
            self.close()
            raise
        self.status, self.response_headers = status, h
        if status != 101:
            self.close()
            raise HandshakeRejected(status, h, body)
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        if h.get("sec-websocket-accept") != want:
            self.close()
            raise AssertionError(f"bad Sec-WebSocket-Accept {h.get('sec-websocket-accept')!r}, "
                                 f"expected {want!r}")
        return self

    async def read_http_response(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            await self._fill(deadline)
        i = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:i])
        del self.buf[:i + 4]
        status, h = parse_head(head)
        body = b""
        if status != 101 and "content-length" in h:
            n = int(h["content-length"])
            while len(self.buf) < n:
                await self._fill(deadline)
            body = bytes(self.buf[:n])
            del self.buf[:n]
        return status, h, body

    # -- low-level IO

    async def send_raw(self, data):
        await self.loop.sock_sendall(self.sock, data)

    async def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError()
        if self.eof:
            raise EOFError("connection closed by the server")
        try:
            chunk = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), left)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise EOFError("connection closed by the server")
        self.buf += chunk

    async def _need(self, n, deadline):
        while len(self.buf) < n:
            await self._fill(deadline)

    # -- frames

    async def send_frame(self, opcode, payload=b"", fin=True, rsv=0, mask=True):
        await self.send_raw(encode_frame(opcode, payload, fin, rsv, mask))

    async def send_text(self, text):
        await self.send_frame(OP_TEXT, text)

    async def send_binary(self, data):
        await self.send_frame(OP_BINARY, data)

    async def send_ping(self, data=b""):
        await self.send_frame(OP_PING, data)

    async def send_pong(self, data=b""):
        await self.send_frame(OP_PONG, data)

    async def send_close(self, code=1000, reason=b""):
        await self.send_frame(OP_CLOSE, close_payload(code, reason))

    async def recv_frame(self, timeout=5.0):
        """Next frame (raises EOFError on a closed connection, TimeoutError)."""
        deadline = time.monotonic() + timeout
        await self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            await self._need(4, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            await self._need(10, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        masked = bool(b1 & 0x80)
        key = b""
        if masked:
            await self._need(off + 4, deadline)
            key = bytes(self.buf[off:off + 4])
            off += 4
        await self._need(off + n, deadline)
        payload = bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        if masked:
            payload = apply_mask(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload, masked)

    async def recv_message(self, timeout=5.0, answer_pings=True):
        """Next data message as (opcode, payload bytes), reassembling
        fragments; a close frame is returned as (OP_CLOSE, frame). Pings are
        answered when answer_pings, else skipped."""
        deadline = time.monotonic() + timeout
        parts, op = [], None
        while True:
            f = await self.recv_frame(max(0.0, deadline - time.monotonic()))
            if f.opcode == OP_PING:
                if answer_pings:
                    await self.send_pong(f.payload)
                continue
            if f.opcode == OP_PONG:
                continue
            if f.opcode == OP_CLOSE:
                return OP_CLOSE, f
            if f.opcode != OP_CONT:
                op = f.opcode
            parts.append(f.payload)
            if f.fin:
                return op, b"".join(parts)

    async def expect_close(self, timeout=5.0, answer_pings=False, reply=True):
        """Read (and discard) until the server's close frame; returns
        (code, reason, data messages seen before it). Raises EOFError if the
        TCP connection ends without a close frame."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            op, data = await self.recv_message(max(0.0, deadline - time.monotonic()),
                                               answer_pings)
            if op == OP_CLOSE:
                if reply:
                    try:
                        await self.send_close(data.close_code or 1000)
                    except OSError:
                        pass
                return data.close_code, data.close_reason, seen
            seen.append((op, data))

    async def wait_eof(self, timeout=5.0):
        """Read and discard until the server closes TCP; returns the frames
        seen (parsed while possible)."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            try:
                frames.append(await self.recv_frame(max(0.0, deadline - time.monotonic())))
            except EOFError:
                return frames

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
