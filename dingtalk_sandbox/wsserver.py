"""A minimal RFC 6455 WebSocket server on raw sockets, for the Stream gateway (stream.py).

Hand-written on purpose: the gateway must be able to stop answering WebSocket pings (the "silent" drop),
which no ready-made server lets it do. What it does, per RFC 6455 (https://www.rfc-editor.org/rfc/rfc6455):

* handshake (§4.2): ``GET`` with ``Upgrade: websocket``, ``Connection: Upgrade``, ``Sec-WebSocket-Version:
  13`` and a ``Sec-WebSocket-Key``; answered ``101`` with ``Sec-WebSocket-Accept`` = base64(SHA-1(key +
  GUID)). No extension and no subprotocol is negotiated (a client offering permessage-deflate gets none);
* frames (§5.2): client frames must be masked (an unmasked one closes with 1002, §5.1); server frames are
  never masked; payload lengths of 7, 16 and 64 bits; fragmented messages (continuation frames, §5.4) are
  reassembled, control frames may come between the fragments; control frames carry at most 125 bytes and
  are never fragmented (§5.5);
* text, binary, ping, pong and close opcodes (§5.6, §5.5.1-3); what to answer is the caller's choice.

Threads: ``Listener`` accepts in a daemon thread and hands each socket to its own daemon thread;
``FrameWriter`` owns the writing side of one socket (one daemon thread, a FIFO queue), so a slow client never
blocks whoever sends. Only the thread that serves a socket closes it; everyone else uses ``shutdown``.
"""

import base64
import contextlib
import hashlib
import logging
import queue
import socket
import struct
import threading

_logger = logging.getLogger(__name__)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)
MAX_MESSAGE = 16 * 1024 * 1024  # bytes of one (reassembled) message; larger closes with 1009
MAX_REQUEST_LINE = 8192
MAX_HEADERS = 100
_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 426: "Upgrade Required"}


class ProtocolError(Exception):
    """The peer broke RFC 6455; ``code`` is the close status to send (§7.4.1)."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


# ----- handshake ---------------------------------------------------------------------------------
def accept_key(key):
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2 step 5.4)."""
    digest = hashlib.sha1((key.strip() + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def read_request(rfile):
    """``(method, target, headers)`` of the HTTP request at the start of ``rfile`` (header names lower-case),
    or None when the peer closed first. Raises ProtocolError on a malformed request."""
    line = rfile.readline(MAX_REQUEST_LINE + 1)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(line) > MAX_REQUEST_LINE or len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ProtocolError(1002, "malformed request line")
    headers = {}
    for _ in range(MAX_HEADERS):
        raw = rfile.readline(MAX_REQUEST_LINE + 1)
        if not raw:
            raise ProtocolError(1002, "connection closed inside the request")
        text = raw.decode("latin-1").rstrip("\r\n")
        if not text:
            return parts[0], parts[1], headers
        name, sep, value = text.partition(":")
        if not sep:
            raise ProtocolError(1002, "malformed header line")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = headers[name] + ", " + value if name in headers else value
    raise ProtocolError(1002, "too many headers")


def handshake_problem(method, headers):
    """None when the request is a WebSocket opening handshake (RFC 6455 §4.2.1), else ``(status, text)``."""
    if method != "GET":
        return 400, "the opening handshake is a GET"
    if "websocket" not in headers.get("upgrade", "").lower():
        return 400, "Upgrade: websocket is required"
    if "upgrade" not in [t.strip() for t in headers.get("connection", "").lower().split(",")]:
        return 400, "Connection: Upgrade is required"
    if headers.get("sec-websocket-version", "").strip() != "13":
        return 426, "Sec-WebSocket-Version 13 is required"
    try:
        if len(base64.b64decode(headers.get("sec-websocket-key", ""), validate=True)) != 16:
            return 400, "Sec-WebSocket-Key must be 16 bytes, base64"
    except ValueError:
        return 400, "Sec-WebSocket-Key must be 16 bytes, base64"
    return None


def upgrade_response(key):
    """The ``101 Switching Protocols`` answer to a handshake with ``Sec-WebSocket-Key`` = ``key``."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: %s\r\n\r\n" % accept_key(key)
    ).encode("ascii")


def http_response(status, body=b"", content_type="application/json;charset=utf-8", extra=()):
    """A complete HTTP/1.1 answer that refuses the upgrade; the caller closes the socket after it."""
    head = ["HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Error"))]
    head += ["Content-Type: " + content_type, "Content-Length: %d" % len(body), "Connection: close"]
    head += list(extra)
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


# ----- frames ------------------------------------------------------------------------------------
def encode_frame(opcode, payload=b"", fin=True):
    """One unmasked server frame (RFC 6455 §5.2)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + payload


def close_payload(code=1000, reason=""):
    """Body of a close frame: the status code, then a UTF-8 reason (RFC 6455 §5.5.1)."""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


def _read_exact(rfile, size):
    data = rfile.read(size) if size else b""
    if len(data) != size:
        raise EOFError("connection closed inside a frame")
    return data


def _unmask(payload, mask):
    """XOR with the 4-byte mask, as one big integer (fast enough for any frame the gateway takes)."""
    if not payload:
        return payload
    repeat = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeat, "big")
    return value.to_bytes(len(payload), "big")


def read_frame(rfile):
    """``(fin, opcode, payload)`` of the next client frame, or None at a clean end of stream (EOF between
    frames). Raises ProtocolError on a frame RFC 6455 forbids, EOFError when the stream ends mid-frame."""
    head = rfile.read(2)
    if not head:
        return None
    if len(head) < 2:
        raise EOFError("connection closed inside a frame")
    first, second = head
    fin, opcode = bool(first & 0x80), first & 0x0F
    if first & 0x70:
        raise ProtocolError(1002, "reserved bits set without a negotiated extension")
    if not second & 0x80:
        raise ProtocolError(1002, "client frames must be masked")
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", _read_exact(rfile, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _read_exact(rfile, 8))[0]
    if opcode in CONTROL_OPS and (size > 125 or not fin):
        raise ProtocolError(1002, "control frames are at most 125 bytes and never fragmented")
    if opcode not in (OP_CONT, OP_TEXT, OP_BINARY, *CONTROL_OPS):
        raise ProtocolError(1002, "unknown opcode %d" % opcode)
    if size > MAX_MESSAGE:
        raise ProtocolError(1009, "frame too big")
    mask = _read_exact(rfile, 4)
    return fin, opcode, _unmask(_read_exact(rfile, size), mask)


class MessageReader:
    """Whole messages from a client stream: ``next()`` answers ``(opcode, payload)`` for each control frame
    and each complete text or binary message (fragments reassembled, RFC 6455 §5.4), None at EOF."""

    def __init__(self, rfile):
        self.rfile = rfile
        self._opcode = None  # opcode of the fragmented message being assembled
        self._parts = []
        self._size = 0

    def next(self):
        while True:
            frame = read_frame(self.rfile)
            if frame is None:
                return None
            fin, opcode, payload = frame
            if opcode in CONTROL_OPS:
                return opcode, payload
            message = self._assemble(fin, opcode, payload)
            if message is not None:
                return message

    def _assemble(self, fin, opcode, payload):
        if opcode == OP_CONT:
            if self._opcode is None:
                raise ProtocolError(1002, "continuation frame without a message to continue")
        elif self._opcode is not None:
            raise ProtocolError(1002, "new message inside a fragmented one")
        else:
            self._opcode = opcode
        self._size += len(payload)
        if self._size > MAX_MESSAGE:
            raise ProtocolError(1009, "message too big")
        self._parts.append(payload)
        if not fin:
            return None
        message = (self._opcode, b"".join(self._parts))
        self._opcode, self._parts, self._size = None, [], 0
        return message


# ----- sockets -----------------------------------------------------------------------------------
def shutdown(sock):
    """End both directions of ``sock`` now (wakes a thread blocked reading it); never raises."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class FrameWriter:
    """The writing side of one socket: ``put`` queues bytes (never blocks), a daemon thread sends them in
    order. ``before_send(item)`` runs in that thread just before an item with a ``tag`` goes out (the gateway
    stamps send times there). Once ``muted``, queued and later items are dropped unsent."""

    _STOP = object()

    def __init__(self, sock, name, before_send=None):
        self.sock = sock
        self.muted = False
        self._before_send = before_send
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, data, tag=None, then_shutdown=False):
        self._queue.put((data, tag, then_shutdown))

    def stop(self):
        """Let the thread end after what is queued (items after this are not sent)."""
        self._queue.put(self._STOP)

    def _run(self):
        while True:
            item = self._queue.get()
            if item is self._STOP:
                return
            data, tag, then_shutdown = item
            if self.muted:
                continue
            if tag is not None and self._before_send is not None:
                self._before_send(tag)
            try:
                self.sock.sendall(data)
            except OSError:
                self.muted = True  # the peer is gone: the reading side will notice and clean up
                continue
            if then_shutdown:
                shutdown(self.sock)


class Listener:
    """Accepts TCP connections on ``host:port`` (port 0: a free one) in a daemon thread and runs
    ``serve(sock, address)`` for each in its own daemon thread; ``serve`` owns and closes the socket."""

    ACCEPT_WAKE = 0.25  # seconds: how soon ``stop`` is noticed (accepting itself is immediate)

    def __init__(self, serve, host="127.0.0.1", port=0, name="ws"):
        self._serve = serve
        self._name = name
        self._stopped = threading.Event()
        self.sock = socket.create_server((host, port))
        self.sock.settimeout(self.ACCEPT_WAKE)
        self.host, self.port = self.sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept_loop, name=name + "-accept", daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                conn, address = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one frame = one segment, no Nagle
            threading.Thread(
                target=self._run, args=(conn, address), name=self._name + "-conn", daemon=True
            ).start()
        self.sock.close()

    def _run(self, conn, address):
        try:
            self._serve(conn, address)
        except Exception:  # a broken connection must never take the listener down
            _logger.exception("WebSocket connection from %s failed", address)
        finally:
            conn.close()

    def stop(self):
        self._stopped.set()
        self._thread.join(self.ACCEPT_WAKE * 4)
