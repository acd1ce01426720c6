"""DingTalk Stream mode: the connection-opening API and the WebSocket gateway that pushes events over it.

[PEDIA] = open-dingtalk/developerpedia ``docs/learn/stream/protocol.md`` (the official protocol write-up).

1. ``POST /v1.0/gateway/connections/open`` {clientId, clientSecret, subscriptions, ua, localIp} →
   {endpoint, ticket} ([PEDIA] 步骤一). "ticket的有效期为90秒且只能用来建立一条连接": one connection per
   ticket, ``ticket_ttl`` seconds (90).
2. ``GET <endpoint>?ticket=T`` upgrades to a WebSocket ([PEDIA] 步骤二); a ticket unknown, used or expired
   is refused with HTTP 401 (DingTalk documents no status: assumed).
3. EVENT pushes go to a connection that subscribed EVENT ``*``, "通过随机策略选取一个Stream通道"
   ([PEDIA] 常见问题: a random connection for every push). An event is redelivered while unacknowledged
   ("如果不回复 ACK，会触发服务端的超时重新推送"): at once after LATER or a code other than 200; after
   ``ack_timeout`` (5 s) without an ack, DingTalk does not publish its timeout; given up after
   ``max_attempts`` (20) pushes, DingTalk publishes no limit. A redelivery keeps messageId and eventId.
   Code 200 with no ``status`` (the official Python SDK 0.24.3) counts as consumed, an assumption, and is
   counted as ``ack_without_status``.
4. SYSTEM ``ping`` every ``ping_interval`` s (30); SYSTEM ``disconnect``, then silence and a TCP close
   after ``disconnect_grace`` s ("服务端在静默10s之后会主动断开 tcp 连接", [PEDIA] 系统推送). WebSocket pings
   from the client are answered (the official SDK relies on websockets' keepalive).

Invariants: all state is guarded by ``cond`` (one lock); request threads only queue and return; sockets are
written by each connection's FrameWriter and read (and closed) by its serving thread; a timer thread runs
ack deadlines, pings and disconnect graces. An ``in_flight`` event has exactly one delivery without an ack
(its last); a late ack of an older delivery still counts, the first SUCCESS wins.
"""

import collections
import heapq
import itertools
import json
import random
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from . import api, frames, wsserver
from .errors import ApiError
from .stream_records import Connection, Delivery, StreamEvent

CONNECT_PATH = "/connect"
HANDSHAKE_TIMEOUT = 10.0  # seconds a new socket has to send its opening handshake
DEFAULT_CONFIG = {
    "event_delivery": "http",  # "stream": /_sandbox/mutate publishes its events here instead of HTTP pushes
    "ack_timeout": 5.0,  # not published by DingTalk
    "ping_interval": 30.0,  # 0: no SYSTEM pings
    "ticket_ttl": 90.0,  # [PEDIA] "ticket的有效期为90秒"
    "disconnect_grace": 10.0,  # [PEDIA] "服务端在静默10s之后会主动断开 tcp 连接"
    "max_attempts": 20,  # not published by DingTalk
}
STAT_KEYS = (
    "opened",
    "tickets",
    "refused",
    "published",
    "sent",
    "redelivered",
    "success",
    "later",
    "error_acks",
    "timeouts",
    "ack_without_status",
    "given_up",
    "ignored_acks",
    "bad_frames",
)
# which drop applies to a connection in which state
_DROPPABLE = {"close": ("open", "disconnecting", "silent"), "disconnect": ("open",), "silent": ("open",)}
_SYSTEM_KEPT = 100  # SYSTEM messageIds remembered per connection, for their acks
_IGNORED_KEPT = 50
_REFUSAL = json.dumps({"code": "invalidTicket", "message": "ticket无效、已使用或已过期"}, ensure_ascii=False)


# ----- the opening API ---------------------------------------------------------------------------
def open_connection(sb, request, params, app_key):
    """``POST /v1.0/gateway/connections/open`` ([PEDIA] 步骤一) → ``{"endpoint", "ticket"}``."""
    if request.method != "POST":
        raise ApiError(404, "InvalidAction.NotFound", "Specified api is not found, please check your url.")
    # a wrong clientId or clientSecret: the accessToken API's answer (api._BAD_CLIENT), assumed here as
    # DingTalk documents no error for this call
    api._check_client(sb, params.get("clientId"), params.get("clientSecret"))
    subscriptions = check_subscriptions(params.get("subscriptions"))
    return sb.stream.open_ticket(
        sb.org.app["app_key"], subscriptions, str(params.get("ua") or ""), str(params.get("localIp") or "")
    )


def check_subscriptions(value):
    """The subscriptions, checked ([PEDIA] Body参数: required; type EVENT or CALLBACK; an EVENT topic "仅支持
    星号(*)"); HTTP 400 InvalidParameter otherwise (DingTalk's wording is not published: assumed)."""
    if not isinstance(value, list) or not value:
        raise ApiError(400, "InvalidParameter", "subscriptions 不能为空 (subscriptions is required)")
    out = []
    for sub in value:
        if not isinstance(sub, dict) or sub.get("type") not in ("EVENT", "CALLBACK") or not sub.get("topic"):
            raise ApiError(400, "InvalidParameter", "subscription 需要 type (EVENT|CALLBACK) 和 topic")
        if sub["type"] == "EVENT" and sub["topic"] != frames.EVENT_TOPIC:
            raise ApiError(400, "InvalidParameter", "EVENT 订阅的 topic 仅支持 * (EVENT topic must be *)")
        out.append({"type": sub["type"], "topic": str(sub["topic"])})
    return out


ROUTES = {"/v1.0/gateway/connections/open": (open_connection, "none")}


# ----- the gateway -------------------------------------------------------------------------------
class Gateway:
    """Tickets, connections, events and their deliveries of one sandbox; see the module docstring."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.cond = threading.Condition(threading.Lock())
        self.config = dict(DEFAULT_CONFIG)
        self.listener = None
        self.tickets = {}  # ticket -> {"app_key", "subscriptions", "ua", "local_ip", "issued", "used"}
        self.connections = {}  # id -> Connection, in opening order (closed ones until reset)
        self._seq = itertools.count(1)
        self._random = random.Random()
        self._timer = None
        self._stopped = False
        self._clear()

    def _clear(self):
        """Forget events, deliveries and stats (called with the lock held, or before any thread runs)."""
        self.events = {}  # messageId -> StreamEvent, in publishing order
        self.pending = collections.deque()  # StreamEvents waiting for a connection; stale entries skipped
        self.deadlines = []  # heap of (monotonic deadline, seq, StreamEvent, Delivery)
        self.stats = collections.Counter()
        self.ack_ms = []  # latency of every SUCCESS ack (without-status ones included), in arrival order
        self.ignored = collections.deque(maxlen=_IGNORED_KEPT)

    @property
    def endpoint(self):
        return "ws://%s:%d%s" % (self.host, self.listener.port, CONNECT_PATH) if self.listener else None

    # ----- tickets ---------------------------------------------------------------------------------
    def open_ticket(self, app_key, subscriptions, ua, local_ip):
        """A new single-use ticket (uuid4, as [PEDIA]'s sample); starts the listener on first use."""
        with self.cond:
            self._start()
            now = time.monotonic()
            horizon = max(self.config["ticket_ttl"], 3600.0)
            self.tickets = {
                t: v for t, v in self.tickets.items() if not v["used"] and now - v["issued"] < horizon
            }
            ticket = str(uuid.uuid4())
            self.tickets[ticket] = {
                "app_key": app_key,
                "subscriptions": subscriptions,
                "ua": ua,
                "local_ip": local_ip,
                "issued": now,
                "used": False,
            }
            self.stats["tickets"] += 1
            return {"endpoint": self.endpoint, "ticket": ticket}

    def _start(self):
        if self.listener is None and not self._stopped:
            self.listener = wsserver.Listener(self._serve, self.host, 0, name="dingtalk-stream")
            self._timer = threading.Thread(target=self._timer_loop, name="dingtalk-stream-timer", daemon=True)
            self._timer.start()

    def _take_ticket(self, target):
        """The ticket record for a handshake to ``target``, now used; None when refused (counted)."""
        query = parse_qs(urlsplit(target).query)
        ticket = self.tickets.get((query.get("ticket") or [""])[0])
        expired = ticket is not None and time.monotonic() - ticket["issued"] > self.config["ticket_ttl"]
        if ticket is None or ticket["used"] or expired:
            self.stats["refused"] += 1
            return None
        ticket["used"] = True
        return ticket

    # ----- one WebSocket connection (its own thread) -----------------------------------------------
    def _serve(self, sock, address):
        """Handshake, then read until the connection ends; the Listener closes ``sock`` afterwards."""
        sock.settimeout(HANDSHAKE_TIMEOUT)
        rfile = sock.makefile("rb", buffering=65536)
        try:
            request = wsserver.read_request(rfile)
        except (OSError, wsserver.ProtocolError):
            return
        if request is None:
            return
        try:
            conn = self._handshake(sock, *request)
        except OSError:
            return
        if conn is None:
            return
        reason = "connection lost"
        try:
            reason = self._read_loop(conn, rfile)
        finally:
            self._lost(conn, reason)

    def _handshake(self, sock, method, target, headers):
        """Answer the opening handshake; the new open Connection, or None when refused."""
        problem = wsserver.handshake_problem(method, headers)
        if urlsplit(target).path.rstrip("/") != CONNECT_PATH:
            problem = (404, "unknown path")
        if problem is None:
            with self.cond:
                ticket = self._take_ticket(target)
            if ticket is None:
                problem = (401, _REFUSAL)
        if problem is not None:
            status, text = problem
            body = text if text.startswith("{") else json.dumps({"code": "badRequest", "message": text})
            extra = ("Sec-WebSocket-Version: 13",) if status == 426 else ()
            sock.sendall(wsserver.http_response(status, body.encode("utf-8"), extra=extra))
            return None
        sock.settimeout(None)
        conn = Connection(ticket)
        conn.sock = sock
        conn.writer = wsserver.FrameWriter(sock, "dingtalk-stream-" + conn.id, self._stamp)
        with self.cond:  # the 101 is the writer's first item, and the connection is known once it is read
            conn.writer.put(wsserver.upgrade_response(headers["sec-websocket-key"]))
            self._open(conn)
        return conn

    def _open(self, conn):
        conn.state = "open"
        self.connections[conn.id] = conn
        self.stats["opened"] += 1
        if self.config["ping_interval"]:
            conn.next_ping = time.monotonic() + self.config["ping_interval"]
        self._dispatch()
        self.cond.notify_all()

    def _stamp(self, delivery):
        """In the writer thread, just before an EVENT frame goes out: its true send time."""
        with self.cond:
            delivery.sent_mono = time.monotonic()

    def _read_loop(self, conn, rfile):
        """Read frames until the end; returns why it ended. A silent connection interprets nothing."""
        reader = wsserver.MessageReader(rfile)
        while True:
            if conn.state == "silent":
                return _drain(rfile, "client closed (silent)")
            try:
                message = reader.next()
            except wsserver.ProtocolError as exc:
                conn.writer.put(
                    wsserver.encode_frame(wsserver.OP_CLOSE, wsserver.close_payload(exc.code)),
                    then_shutdown=True,
                )
                return _drain(rfile, "protocol error: %s" % exc.reason)
            except (EOFError, OSError):
                return "connection lost"
            if message is None:
                return "client closed"
            if conn.state != "silent" and self._on_message(conn, *message):
                return _drain(rfile, "client close frame")

    def _on_message(self, conn, opcode, payload):
        """Handle one message; True once the client sent a close frame (answered, then shut down)."""
        if opcode == wsserver.OP_TEXT:
            self._on_text(conn, payload)
        elif opcode == wsserver.OP_PING:
            conn.writer.put(wsserver.encode_frame(wsserver.OP_PONG, payload))
        elif opcode == wsserver.OP_CLOSE:
            code = payload[:2] if len(payload) >= 2 else wsserver.close_payload(1000)
            conn.writer.put(wsserver.encode_frame(wsserver.OP_CLOSE, code), then_shutdown=True)
            return True
        elif opcode == wsserver.OP_BINARY:
            with self.cond:
                self.stats["bad_frames"] += 1
        return False

    def _on_text(self, conn, payload):
        try:
            msg_id, code, data = frames.parse_ack(payload.decode("utf-8"))
        except ValueError:
            with self.cond:
                self.stats["bad_frames"] += 1
            return
        with self.cond:
            if msg_id in conn.system:
                self._system_ack(conn, conn.system.pop(msg_id), code, data)
            elif msg_id in self.events:
                conn.acks += 1
                self._event_ack(conn, self.events[msg_id], code, data)
            else:
                self._ignore(conn, msg_id, code, "unknown messageId")

    def _lost(self, conn, reason):
        with self.cond:
            self._closed(conn, reason)

    def _closed(self, conn, reason):
        """The connection is gone, whatever the cause (lock held; idempotent): its awaited pushes go out again
        at once, as the gateway knows its own socket is gone (chosen: DingTalk publishes nothing on this)."""
        if conn.state == "closed":
            return
        conn.state = "closed"
        conn.closed_at = frames.now_ms()
        conn.close_reason = reason
        conn.writer.stop()
        for rec in sorted(conn.in_flight, key=lambda r: r.deliveries[-1].sent_mono):
            delivery = rec.deliveries[-1]
            if delivery.ack is None and delivery.connection == conn.id:
                delivery.ack = "none"
                self._retry_or_give_up(rec)
        conn.in_flight.clear()
        self.cond.notify_all()

    # ----- acks (lock held) ------------------------------------------------------------------------
    def _system_ack(self, conn, sent, code, data):
        conn.system_acks += 1
        if sent["topic"] == "ping" and code == 200 and data and data.get("opaque") == sent["opaque"]:
            conn.pings_answered += 1

    def _event_ack(self, conn, rec, code, data):
        """Record an ack of ``rec`` on ``conn``; SUCCESS (or no status) consumes, anything else from the
        awaited delivery redelivers at once."""
        delivery = _awaited(rec, conn.id)
        if delivery is None:
            self._ignore(conn, rec.message_id, code, "no push of this message awaits an ack here")
            return
        awaited = delivery.ack is None
        outcome = frames.event_outcome(code, data)
        consumed = outcome in ("SUCCESS", "without_status")
        delivery.ack = "SUCCESS" if consumed else outcome
        delivery.ack_ms = round((time.monotonic() - delivery.sent_mono) * 1000.0, 3)
        delivery.without_status = outcome == "without_status"
        if awaited:
            conn.in_flight.discard(rec)
        if consumed:
            self.ack_ms.append(delivery.ack_ms)
            self._consume(conn, rec, outcome)
            return
        self.stats["later" if outcome == "LATER" else "error_acks"] += 1
        if awaited and rec.state == "in_flight":
            self._retry_or_give_up(rec)

    def _consume(self, conn, rec, outcome):
        if rec.state in ("acked", "given_up"):
            self._ignore(conn, rec.message_id, 200, "message already " + rec.state)
            return
        rec.state = "acked"
        self.stats["success"] += 1
        if outcome == "without_status":
            self.stats["ack_without_status"] += 1

    def _ignore(self, conn, msg_id, code, why):
        self.stats["ignored_acks"] += 1
        self.ignored.append(
            {"connection": conn.id, "message_id": msg_id, "code": code, "why": why, "at": frames.now_ms()}
        )

    # ----- delivery (lock held) --------------------------------------------------------------------
    def publish(self, events, app_key, corp_id):
        """Queue sandbox events (camel dialect) for Stream delivery; ``[{"event_id", "message_id"}]``.
        An event without eventId gets one (uuid4 hex), without EventTime gets now."""
        if any(not isinstance(event, dict) or not event.get("EventType") for event in events):
            raise ValueError("every event needs an EventType")  # nothing queued
        out = []
        with self.cond:
            for event in events:
                event = dict(event, eventId=event.get("eventId") or uuid.uuid4().hex)
                event.setdefault("EventTime", frames.now_ms())
                rec = StreamEvent(event, app_key, corp_id, frames.message_id(next(self._seq)))
                self.events[rec.message_id] = rec
                self.pending.append(rec)
                out.append({"event_id": rec.event_id, "message_id": rec.message_id})
            self.stats["published"] += len(out)
            self._dispatch()
        return out

    def _dispatch(self):
        """Push every pending event whose app has an open EVENT connection, each to a random one."""
        while self.pending:
            rec = self.pending[0]
            if rec.state != "pending":
                self.pending.popleft()
                continue
            choices = [
                c
                for c in self.connections.values()
                if c.state == "open" and c.wants_events and c.app_key == rec.app_key
            ]
            if not choices:
                return  # the sandbox has one app: nothing behind this event can go out either
            self.pending.popleft()
            self._send(rec, self._random.choice(choices))

    def _send(self, rec, conn):
        rec.attempts += 1
        delivery = Delivery(conn.id)
        rec.deliveries.append(delivery)
        rec.state = "in_flight"
        conn.in_flight.add(rec)
        conn.frames_sent += 1
        self.stats["sent"] += 1
        if rec.attempts > 1:
            self.stats["redelivered"] += 1
        text = frames.event_frame(rec.headers, rec.data, delivery.sent_at)
        conn.writer.put(wsserver.encode_frame(wsserver.OP_TEXT, text), delivery)
        deadline = delivery.sent_mono + self.config["ack_timeout"]
        heapq.heappush(self.deadlines, (deadline, next(self._seq), rec, delivery))
        self.cond.notify_all()

    def _retry_or_give_up(self, rec):
        """After a push of ``rec`` failed (its last delivery is settled): again at once, or given up."""
        if rec.attempts >= self.config["max_attempts"]:
            rec.state = "given_up"
            self.stats["given_up"] += 1
            return
        rec.state = "pending"
        self.pending.appendleft(rec)
        self._dispatch()

    # ----- timers (own thread) ---------------------------------------------------------------------
    def _timer_loop(self):
        with self.cond:
            while not self._stopped:
                wake = self._run_due(time.monotonic())
                self.cond.wait(None if wake is None else max(0.0, wake - time.monotonic()))

    def _run_due(self, now):
        """Run what is due (ack deadlines, pings, graces that ended); the next due time, or None."""
        while self.deadlines and self.deadlines[0][0] <= now:
            _, _, rec, delivery = heapq.heappop(self.deadlines)
            self._deadline(rec, delivery)
        wake = [self.deadlines[0][0]] if self.deadlines else []
        for conn in list(self.connections.values()):
            if conn.state == "open" and conn.next_ping is not None:
                if conn.next_ping <= now:
                    self._ping(conn)
                    conn.next_ping = now + self.config["ping_interval"]
                wake.append(conn.next_ping)
            elif conn.state == "disconnecting":
                if conn.close_at <= now:
                    wsserver.shutdown(conn.sock)
                    self._closed(conn, "closed after disconnect")
                else:
                    wake.append(conn.close_at)
        return min(wake) if wake else None

    def _deadline(self, rec, delivery):
        if delivery.ack is not None:
            return
        delivery.ack = "none"
        conn = self.connections.get(delivery.connection)
        if conn is not None:
            conn.in_flight.discard(rec)
        if rec.state == "in_flight" and rec.deliveries[-1] is delivery:
            self.stats["timeouts"] += 1
            self._retry_or_give_up(rec)

    def _system(self, conn, topic, build, **data):
        msg_id = frames.message_id(next(self._seq))
        conn.system[msg_id] = dict(data, topic=topic)
        while len(conn.system) > _SYSTEM_KEPT:
            conn.system.popitem(last=False)
        conn.frames_sent += 1
        text = build(msg_id, sent_ms=frames.now_ms(), **data)
        conn.writer.put(wsserver.encode_frame(wsserver.OP_TEXT, text))

    def _ping(self, conn):
        conn.pings_sent += 1
        self._system(conn, "ping", frames.ping_frame, opaque=str(uuid.uuid4()))

    # ----- control ---------------------------------------------------------------------------------
    def configure(self, body):
        """``POST /_sandbox/stream``: any of DEFAULT_CONFIG's keys; returns the whole config."""
        with self.cond:
            cfg = dict(self.config)
            for key in DEFAULT_CONFIG:
                if key in body:
                    cfg[key] = _config_value(key, body[key])
            ping_changed = cfg["ping_interval"] != self.config["ping_interval"]
            self.config = cfg
            if ping_changed:
                due = time.monotonic() + cfg["ping_interval"] if cfg["ping_interval"] else None
                for conn in self.connections.values():
                    if conn.state == "open":
                        conn.next_ping = due
            self.cond.notify_all()
            return dict(cfg)

    def describe(self):
        """``GET /_sandbox/stream``."""
        with self.cond:
            states = collections.Counter(rec.state for rec in self.events.values())
            return {
                "config": dict(self.config),
                "endpoint": self.endpoint,
                "connections": [c.to_json() for c in self.connections.values()],
                "pending": states["pending"],
                "in_flight": states["in_flight"],
                "stats": {key: self.stats[key] for key in STAT_KEYS},
                "ignored_acks": list(self.ignored),
            }

    def events_json(self, state=None, event_id=None):
        """``GET /_sandbox/stream/events`` (optionally only one state or one eventId)."""
        with self.cond:
            return [
                rec.to_json()
                for rec in self.events.values()
                if (not state or rec.state == state) and (not event_id or rec.event_id == event_id)
            ]

    def acks_json(self):
        with self.cond:
            return list(self.ack_ms)

    def drop(self, how, connection=None):
        """``POST /_sandbox/stream/drop``: ``close`` | ``disconnect`` | ``silent`` one connection (by id) or
        every one it applies to; returns the ids dropped."""
        if how not in _DROPPABLE:
            raise ValueError("how must be close, disconnect or silent")
        with self.cond:
            if connection is not None and connection not in self.connections:
                raise ValueError("no such connection %r" % connection)
            targets = [
                c
                for c in self.connections.values()
                if c.state in _DROPPABLE[how] and connection in (None, c.id)
            ]
            for conn in targets:
                getattr(self, "_drop_" + how)(conn)
            self.cond.notify_all()
        return [c.id for c in targets]

    def _drop_close(self, conn):
        """Abrupt: a TCP close without a close frame (the serving thread sees EOF and closes the socket)."""
        conn.writer.muted = True
        wsserver.shutdown(conn.sock)
        self._closed(conn, "dropped: close")

    def _drop_disconnect(self, conn):
        """SYSTEM disconnect, then nothing (no push, no ping), a TCP close after ``disconnect_grace``."""
        self._system(conn, "disconnect", frames.disconnect_frame)
        conn.state = "disconnecting"
        conn.next_ping = None
        conn.close_at = time.monotonic() + self.config["disconnect_grace"]

    def _drop_silent(self, conn):
        """Send nothing more (queued frames are dropped too) and interpret nothing; TCP stays open."""
        conn.state = "silent"
        conn.next_ping = None
        conn.writer.muted = True

    def reset(self):
        """``/_sandbox/reset``: forget events, deliveries, stats and closed connections; keep the config and
        the live connections (a late ack of a forgotten event is then an unknown messageId)."""
        with self.cond:
            self._clear()
            self.connections = {k: c for k, c in self.connections.items() if c.state != "closed"}
            for conn in self.connections.values():
                conn.in_flight.clear()
            self.cond.notify_all()

    def stop(self):
        """Stop the listener, the timer and every connection (the sandbox is going away)."""
        with self.cond:
            self._stopped = True
            listener, self.listener = self.listener, None
            socks = [c.sock for c in self.connections.values() if c.state != "closed"]
            self.cond.notify_all()
        if listener is not None:
            listener.stop()
        for sock in socks:
            wsserver.shutdown(sock)


# ----- helpers -----------------------------------------------------------------------------------
def _awaited(rec, conn_id):
    """The push of ``rec`` on ``conn_id`` an ack belongs to: the awaited one, else the latest given up as
    unanswered ("none"); None when there is neither (a duplicate ack)."""
    late = None
    for delivery in reversed(rec.deliveries):
        if delivery.connection != conn_id:
            continue
        if delivery.ack is None:
            return delivery
        if delivery.ack == "none" and late is None:
            late = delivery
    return late


def _drain(rfile, reason):
    """Read and discard everything until the peer closes; returns ``reason``."""
    try:
        while rfile.read1(65536):
            pass
    except OSError:
        pass
    return reason


def _config_value(key, value):
    if key == "event_delivery":
        if value not in ("http", "stream"):
            raise ValueError("event_delivery must be http or stream")
        return value
    if key == "max_attempts":
        if int(value) < 1:
            raise ValueError("max_attempts must be at least 1")
        return int(value)
    number = float(value)
    if number < 0 or (number == 0 and key in ("ack_timeout", "ticket_ttl")):
        raise ValueError("%s must be a positive number of seconds" % key)
    return number
