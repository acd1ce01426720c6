"""Parse decrypted DingTalk contact events in both dialects (protocol §2.1).

Observed HTTP-push payloads use PascalCase (``EventType``, ``CorpId``, ``UserId``, ``DeptId``, ``TimeStamp``);
the current docs use camelCase (``userId``, ``deptId``, ``timeStamp``, ``EventTime``, ``eventId``); label
(role) events carry ``userIdList``/``labelIdList``; Stream frames put type, id and corp in headers.
"""

import dataclasses
import hashlib
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
    except (TypeError, ValueError, OverflowError):
        return None


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def _load(payload):
    """The payload as a dict, in what PostgreSQL's jsonb can store: strict JSON (no NaN or Infinity, which
    Python's json accepts) without NUL characters; EventError otherwise."""
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload, parse_constant=_not_json)
        except (ValueError, RecursionError):
            raise EventError("event payload is not JSON") from None
    if not isinstance(payload, dict):
        raise EventError("event payload is not a JSON object")
    if "\\u0000" in json.dumps(payload):
        raise EventError("event payload holds a NUL character")
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
    """Build an :class:`Event` from a Stream EVENT frame: ``headers`` dict and ``data`` (JSON text) [PEDIA
    in protocol §7]. Its ``raw`` is the data in the camel dialect of an HTTP push, with the type, id, corp
    and time the headers carry (headers win), so the inbox stores both deliveries alike."""
    payload = _load(data)
    from_headers = {
        "EventType": headers.get("eventType"),
        "eventId": headers.get("eventId"),
        "CorpId": headers.get("eventCorpId"),
        "EventTime": _timestamp(headers.get("eventBornTime")),
    }
    payload = {**payload, **{key: value for key, value in from_headers.items() if value not in (None, "")}}
    return parse_event(payload, timestamp=headers.get("eventBornTime"))


# --- pushes DingTalk gave up on (protocol §2.3): call_back/get_call_back_failed_result ---

# where an entry of ``failed_list`` may nest its data: role events, approval events, other callbacks
# [KB:API/0015-obtain-the-event-list-of-failed-push-messages]
_FAILED_NESTED = ("roleLabelChange", "bpmsCallBackData", "callbackData")
# the times an event carries: a push's EventTime (current docs) or TimeStamp/timeStamp, an entry's event_time
_TIME_KEYS = ("event_time", "EventTime", "TimeStamp", "timeStamp")


def json_object(value):
    """A dict from a dict or JSON object text; {} for anything else (events nest objects either way)."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def parse_failed_event(entry):
    """Build an :class:`Event` from one ``failed_list`` entry: ``{"<call_back_tag>": {"userid": [...],
    "corpid": ...}, "call_back_tag": ..., "event_time": ms}``, role data nested under ``roleLabelChange``
    (JSON object or text). It has no eventId: ``event_id`` is None, and :func:`fingerprints` names it."""
    entry = _load(entry)
    kind = entry.get("call_back_tag")
    if not kind or not isinstance(kind, str):
        raise EventError("failed-push entry has no call_back_tag")
    body = json_object(entry.get(kind))
    data = {}
    for key in _FAILED_NESTED:
        data.update(json_object(body.get(key)))
    data.update({key: value for key, value in body.items() if key not in _FAILED_NESTED})
    return Event(
        type=kind,
        corp_id=_first(data, "corpid", "CorpId", "corpId"),
        user_ids=tuple(
            str(u) for u in _as_list(_first(data, "userid", "UserId", "userId", "userIdList", "UserIdList"))
        ),
        dept_ids=_int_ids(_first(data, "deptid", "DeptId", "deptId", "dept_id")),
        label_ids=_int_ids(_first(data, "labelIdList", "LabelIdList")),
        timestamp=_timestamp(entry.get("event_time")),
        raw=entry,
    )


def fingerprints(event):
    """Names of ``event`` that a push and the same event pulled from the failed list share: its type, ids
    and time. A failed-list entry has no eventId, only ``event_time``, and which of a push's times it
    repeats is not documented (``EventTime``, else ``TimeStamp``/``timeStamp``): one name per time the
    payload carries. Two events are the same when their sets meet."""
    stamps = {_timestamp(event.raw.get(key)) for key in _TIME_KEYS} - {None}
    base = [
        event.type,
        sorted(map(str, event.user_ids)),
        sorted(map(str, event.dept_ids)),
        sorted(map(str, event.label_ids)),
    ]
    return {
        hashlib.sha1(json.dumps([*base, stamp]).encode()).hexdigest() for stamp in stamps or {event.timestamp}
    }


def manager_changes(diff_info):
    """userid → direct manager ("" for none) that a user_modify_org ``diffInfo`` shows: ``prev`` and
    ``curr`` carry ``managerUserid`` when the person has one, changed or not; in ``prev`` only when it was
    removed [KB:EV/0086] (protocol §9.2)."""
    diffs = diff_info if isinstance(diff_info, list) else [diff_info] if isinstance(diff_info, dict) else []
    changes = {}
    for diff in diffs:
        prev, curr = diff.get("prev") or {}, diff.get("curr") or {}
        if diff.get("userid") and ("managerUserid" in curr or "managerUserid" in prev):
            changes[str(diff["userid"])] = str(curr.get("managerUserid") or "")
    return changes
