"""What a DingTalk attendance event asks the addons to re-read (docs/dingtalk-attendance-protocol.md §4).

Plain Python (never imports odoo); :mod:`dingtalk.attendance` re-exports these helpers. ``data`` is an
inbox event's payload (``Event.raw`` of :mod:`dingtalk.events`, a dict or its JSON text) in any of the
shapes DingTalk sends:

* HTTP push, legacy page: ``{"EventType", "DataList": [...]}`` [KB:EV/0261];
* HTTP push, current page: ``{"EventType", "EventTime", "CorpId", "dataList": [...]}`` [KB:EV/0125];
* Stream: the frame's data at the top level (as ``parse_stream_event`` stores it), or the whole frame
  sample with the event under ``data`` [KB:EV/0125, EV/0135].

Times are epoch milliseconds; work days are dates in the organisation's time zone (§1).
"""

import datetime
import json
import zoneinfo

from .events import json_object

DEFAULT_TIMEZONE = "Asia/Shanghai"  # §1 ASSUMPTION: the organisation's zone unless configured
SCHEDULE_MAX_DAYS = 31  # §4: a schedule change re-imports at most this many days
_LIST_KEYS = ("dataList", "DataList")
_ONE_DAY = datetime.timedelta(days=1)

__all__ = ["check_record_days", "leave_event", "local_date", "schedule_change_days", "zone"]


def zone(timezone):
    """A tzinfo from a zone name (``"Asia/Shanghai"``) or a tzinfo."""
    return zoneinfo.ZoneInfo(timezone) if isinstance(timezone, str) else timezone


def local_date(ms, timezone=DEFAULT_TIMEZONE):
    """The date in ``timezone`` of an epoch-milliseconds time."""
    return datetime.datetime.fromtimestamp(int(ms) / 1000, zone(timezone)).date()


def _ms(value):
    """Epoch milliseconds from a number or a numeric string; None for anything else."""
    try:
        return int(value) if value not in (None, "") and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _body(data):
    """The event's fields: a nested ``data`` object merged under the top level (top-level keys win)."""
    data = json_object(data)
    nested = json_object(data.get("data"))
    return {**nested, **{key: value for key, value in data.items() if key != "data"}}


def _entries(data):
    """The ``dataList`` / ``DataList`` entries (dicts only) of an event."""
    body = _body(data)
    value = next((body[key] for key in _LIST_KEYS if body.get(key)), [])
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, dict):
        value = [value]
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _userids(value):
    """Userids from a list, one id or comma-separated text."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(item) for item in value if item not in (None, "")]
    return [str(value)]


def check_record_days(data, timezone=DEFAULT_TIMEZONE):
    """``attendance_check_record``: ``{(userid, work day)}`` to re-import, i.e. the local date of each
    ``checkTime`` and the day before it (a punch after midnight may be a night shift's OffDuty, which
    belongs to the work day the shift started on, §2). Entries without a person or a time are skipped."""
    days = set()
    for entry in _entries(data):
        userid, ms = entry.get("userId") or entry.get("userid"), _ms(entry.get("checkTime"))
        if userid and ms is not None:
            day = local_date(ms, timezone)
            days.update({(str(userid), day), (str(userid), day - _ONE_DAY)})
    return days


def schedule_change_days(data, timezone=DEFAULT_TIMEZONE, max_days=SCHEDULE_MAX_DAYS):
    """``attendance_schedule_change``: ``{(userid, work day)}`` for every person of each entry and every
    day from ``workDateBegin`` to ``workDateEnd`` (inclusive, either order), at most ``max_days`` days
    per entry counted from the earlier one. ``type`` (modify / delete) does not matter: both re-import."""
    days = set()
    for entry in _entries(data):
        begin, end = _ms(entry.get("workDateBegin")), _ms(entry.get("workDateEnd"))
        if begin is None and end is None:
            continue
        first = local_date(begin if begin is not None else end, timezone)
        last = local_date(end if end is not None else begin, timezone)
        first, last = min(first, last), max(first, last)
        count = min((last - first).days + 1, max_days)
        for userid in _userids(entry.get("userIds") or entry.get("userIdList") or entry.get("userid")):
            days.update((userid, first + _ONE_DAY * n) for n in range(count))
    return days


def leave_event(data):
    """``attendance_approve_status_change`` [KB:EV/0135]: ``(process_instance_id, status, approve_type)``
    as text ("" when absent); the instance falls back to ``mainProcessInstanceId``. Status is ``start``,
    ``finish``, ``revoke`` or ``delete`` (§4 ASSUMPTION), approve type ``LEAVE`` for leave."""
    body = _body(data)
    instance = body.get("processInstanceId") or body.get("mainProcessInstanceId") or ""
    return str(instance), str(body.get("status") or ""), str(body.get("approveType") or "")
