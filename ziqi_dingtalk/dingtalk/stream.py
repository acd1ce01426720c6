"""DingTalk Stream mode (protocol §7): the app opens an outbound WebSocket and DingTalk pushes its events
over it. Source: DingTalk's protocol description, open-dingtalk/developerpedia
``docs/learn/stream/protocol.md`` [PEDIA], and the official SDK open-dingtalk/dingtalk-stream-sdk-python.

This module speaks the protocol itself rather than through the SDK's client (dingtalk-stream 0.24.3), which
cannot do what the inbox needs:

* its gateway URL is a module constant, so neither a private gateway nor the sandbox can stand in;
* it acknowledges an event when the handler returns, echoing the event's data, where [PEDIA] asks for
  ``{"status": "SUCCESS"|"LATER"}``; here an event is acknowledged only once it is committed, from the
  thread that committed it;
* it never notices a connection that went silent (a NAT that dropped it): it pings, but only the
  WebSocket library's pong timeout would close it, and only in newer SDK versions;
* it runs handlers as asyncio tasks, where Odoo's cursor must stay on one thread.

One reader thread per connection; acknowledgements may be sent from any thread. Nothing here knows Odoo.
"""

import contextlib
import dataclasses
import json
import logging
import random
import threading
import time
from urllib.parse import quote_plus

import websocket

from .errors import EventError
from .events import parse_stream_event

_logger = logging.getLogger(__name__)

OPEN_PATH = "/v1.0/gateway/connections/open"
EVENTS = ({"type": "EVENT", "topic": "*"},)  # events are chosen in DingTalk's console: only "*" [PEDIA]
USER_AGENT = "ziqi-dingtalk-python/1.0"
SUCCESS, LATER = "SUCCESS", "LATER"
HEARTBEAT = 20.0  # seconds between the client's WebSocket pings (websockets' default keepalive interval)
SILENT_BEATS = 3  # nothing received (frame or pong) for this many heartbeats: the connection is dead
DISCONNECT_GRACE = 10.0  # DingTalk closes a connection 10 s after its SYSTEM disconnect [PEDIA]
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0  # seconds between reconnections: doubling, with jitter
RECONNECT_SOON = 0.1  # seconds before replacing a connection that worked (with jitter)
CONNECT_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class StreamMessage:
    """An EVENT frame as received: ``message_id`` is what its acknowledgement repeats; ``event`` the parsed
    event, or None when the frame could not be read (``problem`` says why)."""

    message_id: str
    event: object = None
    problem: str | None = None


def event_message(frame):
    """The :class:`StreamMessage` of an EVENT frame (dict)."""
    headers = frame.get("headers")
    headers = headers if isinstance(headers, dict) else {}
    message_id = str(headers.get("messageId") or "")
    try:
        return StreamMessage(message_id, event=parse_stream_event(headers, frame.get("data") or "{}"))
    except (EventError, RecursionError, TypeError, ValueError, OverflowError, AttributeError) as error:
        return StreamMessage(message_id, problem=f"{type(error).__name__}: {error}"[:300])


def ack_frame(message_id, data, code=200, message="OK"):
    """The answer to a frame: ``data`` (a dict) travels as JSON text [PEDIA]."""
    return json.dumps(
        {
            "code": code,
            "headers": {"messageId": message_id, "contentType": "application/json"},
            "message": message,
            "data": json.dumps(data, ensure_ascii=False),
        },
        ensure_ascii=False,
    )


class StreamConnection:
    """One WebSocket to DingTalk's Stream gateway. :meth:`serve` reads it on the calling thread until it
    ends; :meth:`ack` may be called from any thread."""

    def __init__(self, ws, on_event, *, heartbeat=HEARTBEAT, clock=time.monotonic):
        self.ws = ws
        self.on_event = on_event
        self.heartbeat = heartbeat
        self.clock = clock
        self.opened_at = time.time()
        self.last_received_at = None  # epoch seconds of the last frame or pong
        self.disconnect_asked = False
        self.texts_received = 0  # a connection that got a text frame worked: it is replaced at once
        self._last_rx = clock()
        self._send_lock = threading.Lock()

    def serve(self, stop):
        """Read frames until ``stop`` is set or the connection ends; returns why it ended: ``stopped``,
        ``disconnect`` (DingTalk asked: it closes after DISCONNECT_GRACE), ``silent``, or ``closed``."""
        self.ws.settimeout(min(1.0, self.heartbeat / 2))
        next_ping = self.clock() + self.heartbeat
        while not stop.is_set():
            now = self.clock()
            if now - self._last_rx > self.heartbeat * SILENT_BEATS:
                return "silent"
            if now >= next_ping:
                next_ping = now + self.heartbeat
                if not self._send(self.ws.ping):
                    return "closed"
            try:
                opcode, frame = self.ws.recv_data_frame(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as error:
                if stop.is_set():
                    return "stopped"
                _logger.info("DingTalk Stream connection lost: %s", type(error).__name__)
                return "closed"
            self._last_rx, self.last_received_at = self.clock(), time.time()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return "stopped" if stop.is_set() else "closed"
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self.texts_received += 1
                if self._dispatch(frame.data):
                    return "disconnect"
        return "stopped"

    def _dispatch(self, text):
        """Handle one text frame; True when it is DingTalk's SYSTEM disconnect. Whatever a frame holds, it
        never ends the reader: a frame that cannot be read is logged and skipped."""
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            _logger.warning("DingTalk Stream sent a frame that is not JSON (%s bytes)", len(text))
            return False
        if not isinstance(frame, dict):
            return False
        headers = frame.get("headers")
        if not isinstance(headers, dict):
            _logger.warning("DingTalk Stream sent a frame without headers (%s bytes)", len(text))
            return False
        kind = frame.get("type")
        if kind == "SYSTEM" and headers.get("topic") == "ping":
            self._send_text(ack_frame(headers.get("messageId"), _data(frame)))  # echoes the opaque
        elif kind == "SYSTEM" and headers.get("topic") == "disconnect":
            _logger.info("DingTalk Stream asks to reconnect: %s", _data(frame).get("reason"))
            self.disconnect_asked = True
            return True
        elif kind == "EVENT":
            self.on_event(self, event_message(frame))
        elif kind == "CALLBACK":  # not subscribed: 404 is the protocol's "topic not handled" [PEDIA]
            self._send_text(ack_frame(headers.get("messageId"), {"response": None}, 404, "not subscribed"))
        return False

    def ack(self, message_id, status, message=""):
        """Acknowledge an EVENT: ``SUCCESS`` (stored; DingTalk forgets it) or ``LATER`` (redelivered).
        False when the connection is gone: DingTalk then redelivers the event after its timeout."""
        return self._send_text(ack_frame(message_id, {"status": status, "message": message}))

    def close(self):
        with contextlib.suppress(websocket.WebSocketException, OSError):
            self.ws.close(timeout=1)

    def _send_text(self, text):
        return self._send(self.ws.send, text)

    def _send(self, method, *args):
        with self._send_lock:
            try:
                method(*args)
            except (websocket.WebSocketException, OSError):
                return False
        return True


def _data(frame):
    try:
        data = json.loads(frame.get("data") or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class StreamAgent:
    """Keeps one Stream connection of one app up until stopped, on a thread of its own: a ticket from
    ``open_ticket()`` (-> ``(endpoint, ticket)``; a ticket is valid 90 s for one connection [PEDIA]), a
    WebSocket, served until it ends, then a new ticket. A connection that received a frame and then ended
    is replaced at once (RECONNECT_SOON); a failure to connect waits BACKOFF_FIRST seconds, doubling up to
    BACKOFF_MAX, with jitter, until a connection receives a frame again; a SYSTEM disconnect reconnects at
    once (the old connection is kept DISCONNECT_GRACE seconds for the
    acknowledgements still due on it).

    ``on_event(connection, message)`` runs on the agent's thread and must not block; the state below is
    read by other threads (plain attributes, replaced whole)."""

    def __init__(self, name, open_ticket, on_event, *, heartbeat=HEARTBEAT, connect_timeout=CONNECT_TIMEOUT):
        self.name = name
        self.open_ticket = open_ticket
        self.on_event = on_event
        self.heartbeat = heartbeat
        self.connect_timeout = connect_timeout
        self.connection = None
        self.connected_since = None  # epoch seconds
        self.last_error = None
        self.last_end = None  # why the last connection ended: silent, disconnect, closed or stopped
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"dingtalk-stream-{name}", daemon=True)

    @property
    def last_received_at(self):
        connection = self.connection
        return connection.last_received_at if connection else None

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout=5):
        """Stop reconnecting and close the connection (a WebSocket close frame); waits up to ``timeout`` s
        for the thread (0: not at all; :meth:`join` later)."""
        self._stop.set()
        connection = self.connection
        if connection:
            threading.Thread(target=connection.close, daemon=True).start()  # its close waits for DingTalk
        if timeout:
            self.join(timeout)

    def join(self, timeout):
        self._thread.join(timeout)

    def is_alive(self):
        return self._thread.is_alive()

    def _run(self):
        delay = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                delay = self._turn(delay)
            except Exception as error:  # the thread must outlive anything: log, back off, go on
                self.last_error = _describe(error)
                _logger.exception("DingTalk Stream %s failed; reconnecting", self.name)
                self._wait(delay)
                delay = min(BACKOFF_MAX, delay * 2)
        _logger.info("DingTalk Stream %s stopped", self.name)

    def _turn(self, delay):
        """Connect, serve until the connection ends, and wait before the next; returns the next backoff."""
        connection = self._connect()
        if connection is None:
            self._wait(delay)
            return min(BACKOFF_MAX, delay * 2)
        reason = self._serve(connection)
        # a connection that got a text frame (a ping, an event) worked; one closed at once did not
        worked = connection.texts_received > 0
        delay = BACKOFF_FIRST if worked else delay
        if reason == "disconnect":  # DingTalk closes it after its grace; acks may still go out on it
            grace = threading.Timer(DISCONNECT_GRACE, connection.close)
            grace.daemon = True
            grace.start()
            return delay
        connection.close()
        if reason != "stopped":
            # a connection that worked is replaced at once: what DingTalk queues meanwhile comes in one
            # burst on the next, and each second of it waits for the burst to be stored
            self._wait(RECONNECT_SOON if worked else delay)
            return delay if worked else min(BACKOFF_MAX, delay * 2)
        return delay

    def _connect(self):
        try:
            endpoint, ticket = self.open_ticket()
            ws = websocket.create_connection(
                f"{endpoint}{'&' if '?' in endpoint else '?'}ticket={quote_plus(str(ticket))}",
                timeout=self.connect_timeout,
                enable_multithread=True,
            )
        except Exception as error:  # any failure to connect is retried after a backoff
            self.last_error = _describe(error)
            _logger.warning("DingTalk Stream %s could not connect: %s", self.name, self.last_error)
            return None
        return StreamConnection(ws, self.on_event, heartbeat=self.heartbeat)

    def _serve(self, connection):
        self.connection, self.connected_since, self.last_error = connection, time.time(), None
        _logger.info("DingTalk Stream %s connected", self.name)
        try:
            reason = connection.serve(self._stop)
        finally:
            self.connected_since = None
        self.last_end = reason
        if reason != "stopped":
            self.reconnects += 1
            self.last_error = {
                "silent": f"nothing received for {self.heartbeat * SILENT_BEATS:.0f} s",
                "disconnect": "DingTalk asked to reconnect",
                "closed": "connection closed",
            }[reason]
            _logger.info("DingTalk Stream %s: %s, reconnecting", self.name, self.last_error)
        return reason

    def _wait(self, delay):
        self._stop.wait(delay * random.uniform(1.0, 1.25))


def _describe(error):
    text = str(error) or type(error).__name__
    return text if len(text) < 300 else text[:300] + "…"
