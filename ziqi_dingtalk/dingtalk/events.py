"""Parse decrypted DingTalk contact events in both dialects (protocol §2.1).

Observed HTTP-push payloads use PascalCase (``EventType``, ``CorpId``, ``UserId``, ``DeptId``, ``TimeStamp``);
the current docs use camelCase (``userId``, ``deptId``, ``timeStamp``, ``EventTime``, ``eventId``); label
(role) events carry ``userIdList``/``labelIdList``; Stream frames put type, id and corp in headers.
"""

import dataclasses
import json

from .errors import EventError


@dataclasses.dataclass(frozen=True)
class Event:
    """A contact event. ``timestamp`` is epoch milliseconds or None; ``raw`` (left out of repr) is the
    whole decrypted payload, which may hold personal data and must not be logged."""

    type: str
    corp_id: str | None = None
    event_id: str | None = None
    user_ids: tuple = ()
    dept_ids: tuple = ()
    label_ids: tuple = ()
    timestamp: int | None = None
    raw: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)


def _first(payload, *keys):
    for key in keys:
        value = payload.get(key)
        if value not in (None, "", []):
            return value
    return None


def _as_list(value):
    """Ids arrive as a list, a single value or a comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _int_ids(value):
    """Numeric ids as ints (DingTalk mixes 600582447 and "600582447"); other values kept as text."""
    ids = []
    for item in _as_list(value):
        text = str(item).strip()
        ids.append(int(text) if text.lstrip("-").isdigit() else text)
    return tuple(ids)


def _timestamp(value):
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _load(payload):
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except ValueError:
            raise EventError("event payload is not JSON") from None
    if not isinstance(payload, dict):
        raise EventError("event payload is not a JSON object")
    return payload


def parse_event(payload, *, event_type=None, event_id=None, corp_id=None, timestamp=None):
    """Build an :class:`Event` from a decrypted payload (dict or JSON text).

    The keyword arguments supply what the payload lacks (Stream headers); payload values win.
    """
    payload = _load(payload)
    kind = _first(payload, "EventType", "eventType") or event_type
    if not kind:
        raise EventError("event payload has no EventType")
    return Event(
        type=str(kind),
        corp_id=_first(payload, "CorpId", "corpId", "corpid") or corp_id,
        event_id=_first(payload, "eventId", "EventId") or event_id,
        user_ids=tuple(
            str(u) for u in _as_list(_first(payload, "UserId", "userId", "userIdList", "UserIdList"))
        ),
        dept_ids=_int_ids(_first(payload, "DeptId", "deptId")),
        label_ids=_int_ids(_first(payload, "labelIdList", "LabelIdList")),
        timestamp=_timestamp(_first(payload, "TimeStamp", "timeStamp", "EventTime")) or _timestamp(timestamp),
        raw=payload,
    )


def parse_stream_event(headers, data):
    """Build an :class:`Event` from a Stream EVENT frame: ``headers`` dict and ``data`` (JSON text)."""
    return parse_event(
        data,
        event_type=headers.get("eventType"),
        event_id=headers.get("eventId"),
        corp_id=headers.get("eventCorpId"),
        timestamp=headers.get("eventBornTime"),
    )
