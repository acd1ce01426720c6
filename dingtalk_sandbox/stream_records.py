"""The Stream gateway's records: a Stream connection, an event on its way, and each push of it on a
connection (dingtalk_sandbox.stream.Gateway holds them under its lock)."""

import collections
import itertools
import time

from . import frames


class Delivery:
    """One push of an event on one connection. ``ack``: None while awaited, then "SUCCESS", "LATER",
    "none" (no ack in time, or the connection went away), another status, or the code."""

    __slots__ = ("ack", "ack_ms", "connection", "sent_at", "sent_mono", "without_status")

    def __init__(self, connection):
        self.connection = connection
        self.sent_at = frames.now_ms()
        self.sent_mono = time.monotonic()
        self.ack = None
        self.ack_ms = None
        self.without_status = False

    def to_json(self):
        out = {"connection": self.connection, "sent_at": self.sent_at, "ack": self.ack, "ack_ms": self.ack_ms}
        if self.without_status:
            out["without_status"] = True
        return out


class StreamEvent:
    """An event on its way: its fixed headers and data (one messageId for all its pushes), its state
    (pending → in_flight → acked | given_up; back to pending while no connection can take it)."""

    __slots__ = (
        "app_key",
        "attempts",
        "data",
        "deliveries",
        "event_id",
        "event_type",
        "headers",
        "message_id",
        "state",
    )

    def __init__(self, event, app_key, corp_id, message_id):
        self.headers, self.data = frames.event_parts(event, corp_id, app_key, message_id)
        self.app_key = app_key
        self.event_id = self.headers["eventId"]
        self.event_type = self.headers["eventType"]
        self.message_id = message_id
        self.state = "pending"
        self.attempts = 0
        self.deliveries = []

    def to_json(self):
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "message_id": self.message_id,
            "state": self.state,
            "attempts": self.attempts,
            "deliveries": [d.to_json() for d in self.deliveries],
        }


class Connection:
    """One Stream connection. ``state``: open → disconnecting (SYSTEM disconnect sent) | silent (sends and
    reads nothing) → closed. Only ``open`` connections get pushes and pings."""

    _ids = itertools.count(1)

    def __init__(self, ticket):
        self.id = "c%d" % next(self._ids)
        self.app_key = ticket["app_key"]
        self.ua = ticket["ua"]
        self.local_ip = ticket["local_ip"]
        self.subscriptions = ticket["subscriptions"]
        self.wants_events = any(s["type"] == "EVENT" for s in self.subscriptions)
        self.opened_at = frames.now_ms()
        self.state = "connecting"
        self.sock = self.writer = None
        self.frames_sent = self.acks = self.pings_sent = self.pings_answered = self.system_acks = 0
        self.in_flight = set()
        self.system = collections.OrderedDict()  # SYSTEM messageId -> {"topic", "opaque"}
        self.next_ping = self.close_at = None
        self.closed_at = self.close_reason = None

    def to_json(self):
        return {
            "id": self.id,
            "app_key": self.app_key,
            "ua": self.ua,
            "local_ip": self.local_ip,
            "opened_at": self.opened_at,
            "state": self.state,
            "frames_sent": self.frames_sent,
            "acks": self.acks,
            "pings_sent": self.pings_sent,
            "pings_answered": self.pings_answered,
            "in_flight": len(self.in_flight),
            "subscriptions": self.subscriptions,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason,
        }
