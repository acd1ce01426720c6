"""``/_sandbox/attendance/...`` and ``/_sandbox/leave/...`` control calls: schedules, punches, 补卡, admin
changes, leave approvals (what people and admins do in DingTalk's attendance app). Times are local
``YYYY-MM-DD HH:MM``, dates ``YYYY-MM-DD``. Events are logged, then sent from a thread unless ``push`` is
false (default: not ``hold_events``), like the approvals' (workflow_api.py). Routes in docs/sandbox.md."""

import threading

from . import delivery, events
from .attendance import CHECK_TYPES, GROUP_ID, hhmm, parse_date


def _att(sb):
    return sb.attendance.bind(sb.org)


def _user(sb, userid, active=False):
    user = sb.org.users.get(str(userid or ""))
    if user is None or (active and user.left):
        raise ValueError("no such %suser %r" % ("active " if active else "", userid))
    return user


def _emit(sb, produced, body):
    """Log ``produced`` (held when not pushed) and send it from a thread; call without ``sb.lock``."""
    att = sb.attendance
    with sb.lock:
        push = bool(body["push"]) if "push" in body else not att.config["hold_events"]
        att.log.extend({"event": ev, "held": not push} for ev in produced)
    if produced and push:
        threading.Thread(target=delivery.deliver, args=(sb, produced), daemon=True).start()
    return produced


def _check_event(sb, att, point, by_user, moment=None):
    """attendance_check_record [KB:EV/0125, EV/0261] for ``point``'s current result; at most one per person
    per minute for punches ("同一个人一分钟只能推送一次"); ``moment``: the punch's time (else the result's).
    ASSUMPTION: groupId as a string, bizId the record's recordId (hex), corrections and admin changes told
    with checkByUser false."""
    rec = att.record(point)
    check_time = rec["userCheckTime"] if moment is None else moment
    minute = check_time // 60000
    if by_user and att.last_push.get(rec["userId"]) == minute:
        return []
    att.last_push[rec["userId"]] = minute
    item = {
        "userId": rec["userId"],
        "checkTime": check_time,
        "groupId": str(GROUP_ID),
        "bizId": "%X" % rec.get("recordId", rec["id"]),
        "locationResult": "Normal" if rec["timeResult"] != "NotSigned" else "NotSigned",
        "checkByUser": by_user,
        "corpId": sb.org.corp_id,
        "locationMethod": "MAP",
    }
    return [events.make_event("attendance_check_record", dataList=[item])]


def _point_json(att, point):
    base = att.local(point["base"])
    return {
        "id": point["id"],
        "plan_id": point["plan_id"],
        "check_type": point["check_type"],
        "base": base.strftime("%Y-%m-%d %H:%M"),
    }


def _answer(att, point, produced):
    return {
        "id": point["id"],
        "check_type": point["check_type"],
        "work_date": point["day"].isoformat(),
        "record": att.record(point),
        "events": produced,
    }


# ----- attendance -------------------------------------------------------------------------------------
def config(sb, body):
    """POST ``{"default_schedule", "auto_punch", "missing_rate", "seed", "hold_events"}``; GET reads."""
    with sb.lock:
        return _att(sb).configure(body if isinstance(body, dict) else {})


def schedule(sb, body):
    """``{"userid", "date", "sections": [["09:00", "18:00"], ...], "shift"?}`` (``[]``: a rest day; only a
    known ``shift``: its sections) → ``{"checkpoints": [{id, plan_id, check_type, base}]}``."""
    if body.get("sections") is None and not body.get("shift"):
        raise ValueError("sections (or a known shift) is required")
    with sb.lock:
        att = _att(sb)
        user, day = _user(sb, body.get("userid")), parse_date(body["date"])
        points = att.set_schedule(user, day, body.get("sections"), body.get("shift"))
        answer = {"checkpoints": [_point_json(att, p) for p in points]}
        produced = [_schedule_event(sb, att, user, day, "modify" if points else "delete")]
    answer["events"] = _emit(sb, produced, body)
    return answer


def _schedule_event(sb, att, user, day, kind):
    """attendance_schedule_change [KB:EV/0261]: ``DataList`` of ``{workDateBegin, workDateEnd, userIds,
    type: modify|delete, corpId}``, the work days as their midnights. ASSUMPTION: one event per change of one
    person's day (the page shows one entry, with a list of people and a range)."""
    item = {
        "workDateBegin": att.day_ms(day),
        "workDateEnd": att.day_ms(day),
        "userIds": [user.userid],
        "type": kind,
        "corpId": sb.org.corp_id,
    }
    return events.make_event("attendance_schedule_change", dataList=[item])


def punch(sb, body):
    """``{"userid", "time", "source_type"?: "USER", "push"?}``: the punch goes to the nearest check point of
    that day or the day before (attendance.py); OnDuty keeps the earliest, OffDuty the latest punch."""
    with sb.lock:
        att = _att(sb)
        user = _user(sb, body.get("userid"), active=True)
        moment = att.parse_local(body["time"])
        point = att.nearest_point(user, moment)
        att.punch(point, moment, str(body.get("source_type") or "USER"))
        produced = _check_event(sb, att, point, True, moment)
        answer = _answer(att, point, produced)
    _emit(sb, produced, body)
    return answer


def _point(sb, att, body):
    if body.get("check_type") not in CHECK_TYPES:
        raise ValueError("check_type must be OnDuty or OffDuty")
    user = _user(sb, body.get("userid"))
    return att.find_point(user, parse_date(body["date"]), body["check_type"], body.get("index") or 0)


def correct(sb, body):
    """补卡 ``{"userid", "date", "check_type", "index"?, "time"}``: signed by an approval, same id."""
    with sb.lock:
        att = _att(sb)
        point = _point(sb, att, body)
        att.correct(point, att.parse_local(body["time"]))
        produced = _check_event(sb, att, point, False)
        answer = _answer(att, point, produced)
    _emit(sb, produced, body)
    return answer


def change(sb, body):
    """An admin's change ``{"userid", "date", "check_type", "index"?, "time": "..." | null}`` (BOSS); null:
    back to NotSigned."""
    if "time" not in body:
        raise ValueError("time is required (null clears the result)")
    with sb.lock:
        att = _att(sb)
        point = _point(sb, att, body)
        att.change(point, att.parse_local(body["time"]) if body["time"] else None)
        produced = _check_event(sb, att, point, False)
        answer = _answer(att, point, produced)
    _emit(sb, produced, body)
    return answer


def left(sb, body):
    """``{"userid", "date"}``: the day a leaver left (their first day without results); sandbox-only."""
    with sb.lock:
        user = _user(sb, body.get("userid"))
        if not user.left:
            raise ValueError("%s has not left (POST /_sandbox/mutate remove_user first)" % user.userid)
        _att(sb).left_on[user.userid] = parse_date(body["date"])
        return {"userid": user.userid, "date": body["date"][:10]}


def event_log(sb, body):
    """GET the events attendance and leave produced (``?held=1``: kept back only, ``?held=0``: sent)."""
    held = body.get("held")
    with sb.lock:
        entries = list(_att(sb).log)
    if held not in (None, ""):
        entries = [e for e in entries if e["held"] == (str(held) in ("1", "true"))]
    return {"events": [e["event"] for e in entries]}


def shifts(sb, body):
    with sb.lock:
        known = _att(sb).shifts
    return {"shifts": [dict(s, sections=[[hhmm(a), hhmm(b)] for a, b in s["sections"]]) for s in known]}


# ----- leave ------------------------------------------------------------------------------------------
def leave_types(sb, body):
    """GET ``{"types": [...]}``; POST ``{"types": [{leave_code, leave_name, leave_view_unit, ...}]}``
    replaces them."""
    with sb.lock:
        leave = _att(sb).leave
        if "types" in body and isinstance(body["types"], list):
            leave.set_types(body["types"])
        return {"types": leave.list_types("all")}


def _fmt(att):
    return lambda ms: att.local(ms).strftime("%Y-%m-%d %H:%M")


def _leave_json(att, leave):
    fmt = _fmt(att)
    return dict(leave, start=fmt(leave["start_time"]), end=fmt(leave["end_time"]))


def approve_leave(sb, body):
    """``{"userid", "leave_code", "start", "end", "duration_percent", "duration_unit"?, "push"?}`` →
    ``{"id", "process_instance_id"}``; events start then finish."""
    with sb.lock:
        att = _att(sb)
        spec = {
            "userid": _user(sb, body.get("userid"), active=True).userid,
            "leave_code": body.get("leave_code"),
            "start": att.parse_local(body["start"]),
            "end": att.parse_local(body["end"]),
            "duration_percent": int(body["duration_percent"]),
            "duration_unit": body.get("duration_unit"),
        }
        leave, produced = att.leave.approve(sb.org, sb.workflow, spec, _fmt(att))
    _emit(sb, produced, body)
    return {"id": leave["id"], "process_instance_id": leave["process_instance_id"], "events": produced}


def revoke_leave(sb, body):
    """``{"id", "push"?}``: the instance TERMINATED, the leave no longer listed; event revoke."""
    with sb.lock:
        att = _att(sb)
        leave = att.leave.get(body.get("id"))
        produced = att.leave.revoke(sb.org, sb.workflow, leave)
    _emit(sb, produced, body)
    return {"id": leave["id"], "process_instance_id": leave["process_instance_id"], "events": produced}


def change_leave(sb, body):
    """``{"id", "start"?, "end"?, "duration_percent"?, "leave_code"?, "duration_unit"?, "push"?}``: the old
    leave revoked, a new one approved → its ``{"id", "process_instance_id"}``; events revoke, finish."""
    with sb.lock:
        att = _att(sb)
        leave = att.leave.get(body.get("id"))
        changes = {k: body.get(k) for k in ("leave_code", "duration_percent", "duration_unit")}
        changes.update({k: att.parse_local(body[k]) for k in ("start", "end") if body.get(k)})
        new, produced = att.leave.change(sb.org, sb.workflow, leave, changes, _fmt(att))
    _emit(sb, produced, body)
    return {"id": new["id"], "process_instance_id": new["process_instance_id"], "events": produced}


def leave_list(sb, body):
    with sb.lock:
        att = _att(sb)
        return {"leaves": [_leave_json(att, v) for v in att.leave.leaves.values()]}


ROUTES = {
    ("GET", "/_sandbox/attendance/config"): lambda sb, body: config(sb, {}),
    ("POST", "/_sandbox/attendance/config"): config,
    ("POST", "/_sandbox/attendance/schedule"): schedule,
    ("POST", "/_sandbox/attendance/punch"): punch,
    ("POST", "/_sandbox/attendance/correct"): correct,
    ("POST", "/_sandbox/attendance/change"): change,
    ("POST", "/_sandbox/attendance/left"): left,
    ("GET", "/_sandbox/attendance/events"): event_log,
    ("GET", "/_sandbox/attendance/shifts"): shifts,
    ("GET", "/_sandbox/leave/types"): leave_types,
    ("POST", "/_sandbox/leave/types"): leave_types,
    ("POST", "/_sandbox/leave/approve"): approve_leave,
    ("POST", "/_sandbox/leave/revoke"): revoke_leave,
    ("POST", "/_sandbox/leave/change"): change_leave,
    ("GET", "/_sandbox/leave/list"): leave_list,
}
