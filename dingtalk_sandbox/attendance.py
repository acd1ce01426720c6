"""Attendance (考勤) of the sandbox: schedules, check points, results (docs/dingtalk-attendance-protocol.md).

State lives on ``sb.attendance``; every method expects the caller to hold ``sb.lock``. Invariants:

- A work day's schedule is a list of sections ``(on, off)`` in minutes after local midnight; ``off <= on``
  means the next day (night shift): its OffDuty belongs to the work day it started on [protocol §2].
- A check point is (userid, work day, section index, OnDuty|OffDuty) of one plan; its ``id`` and ``planId``
  are hashes of it and of the section's times, so they are stable without being stored and change when the
  plan changes (ASSUMPTION of protocol §2: a correction keeps the ``id``).
- Only explicit schedules and results (punches, 补卡, admin changes) are stored, keyed by check point id;
  generated schedules (``default_schedule``) and their punches (``auto_punch``) are computed from a hash of
  (seed, userid, date, check point), so 10,000 people × 30 days cost no memory.
- The state belongs to one ``Org`` object: a ``/_sandbox/reset`` (a new Org) forgets it, settings stay.
"""

import datetime
import hashlib
import itertools
import time
import uuid
import zoneinfo

from .attendance_leave import Leave

DEFAULT_TZ = "Asia/Shanghai"  # ASSUMPTION (protocol §1): the organisation's time zone unless org.timezone
GROUP_ID = 685935028  # one attendance group (考勤组) for everyone [KB:API/0195 example groupId]
DEFAULT_CONFIG = {
    "default_schedule": False,  # active people without an explicit schedule work Mon–Fri 09:00–18:00
    "auto_punch": False,  # ... and punch a few minutes around the base times (deterministic)
    "missing_rate": 0.03,  # share of auto check points left NotSigned
    "seed": 0,
    "hold_events": False,  # events kept back (GET /_sandbox/attendance/events?held=1) instead of sent
}
# Shifts (班次) [KB:API/0203]: id, name, sections in minutes after midnight
SHIFTS = [
    {"id": 677995086, "name": "标准班", "sections": [(540, 1080)]},
    {"id": 677995087, "name": "夜班", "sections": [(1320, 360)]},
    {"id": 677995088, "name": "两段班", "sections": [(540, 720), (810, 1080)]},
]
CHECK_TYPES = ("OnDuty", "OffDuty")
_ID_FROM, _ID_SPAN = 10**14, 9 * 10**14  # 15-digit ids: few collisions among millions, below 2**53


def _hash(*parts):
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def hash_id(*parts):
    return _ID_FROM + _hash(*parts) % _ID_SPAN


def minutes(text):
    """``"09:00"`` → 540."""
    hours, mins = str(text).split(":")
    value = int(hours) * 60 + int(mins)
    if not 0 <= value < 1440:
        raise ValueError("time of day out of range: %r" % text)
    return value


def hhmm(value):
    return "%02d:%02d" % divmod(value % 1440, 60)


def parse_date(text):
    return datetime.date.fromisoformat(str(text)[:10])


class Attendance:
    """Config, explicit schedules, stored results, leave dates of leavers, shifts and the event log."""

    def __init__(self):
        self.config = dict(DEFAULT_CONFIG)
        self._org = None
        self._seq = itertools.count(int(time.time()) * 100)  # recordId / approveId of stored results
        self.reset(None)

    def reset(self, org):
        self._org = org
        self.schedules = {}  # (userid, date) -> {"sections": [(on, off)], "shift": name or None}
        self.results = {}  # check point id -> {"time": ms|None, "source", "record_id", ...}
        self.left_on = {}  # userid -> first date without results (the day they left)
        self.shifts = [dict(s) for s in SHIFTS]
        self.last_push = {}  # userid -> minute of the last attendance_check_record (one per minute)
        self.log = []  # produced events: {"event", "held"}
        self.leave = Leave()  # leave types and approved leaves (attendance_leave.py)

    def bind(self, org):
        """Forget everything when the organisation was replaced (``/_sandbox/reset``)."""
        if org is not self._org:
            self.reset(org)
        return self

    def configure(self, body):
        for key, default in DEFAULT_CONFIG.items():
            if key in body and body[key] is not None:
                self.config[key] = type(default)(body[key])
        if not 0.0 <= self.config["missing_rate"] <= 1.0:
            raise ValueError("missing_rate must be within 0..1")
        return dict(self.config)

    # ----- time --------------------------------------------------------------------------------
    def tz(self):
        return zoneinfo.ZoneInfo(getattr(self._org, "timezone", None) or DEFAULT_TZ)  # cached by zoneinfo

    def day_ms(self, day, minute=0):
        """Epoch ms of ``minute`` minutes after local midnight of ``day`` (workDate when 0). ASSUMPTION: no
        clock change inside a work day (Asia/Shanghai has none)."""
        start = datetime.datetime.combine(day, datetime.time(), tzinfo=self.tz())
        return int(start.timestamp() * 1000) + minute * 60000

    def parse_local(self, text):
        """``"YYYY-MM-DD HH:MM[:SS]"`` local → epoch ms."""
        moment = datetime.datetime.fromisoformat(str(text).strip()).replace(tzinfo=self.tz())
        return int(moment.timestamp() * 1000)

    def local(self, epoch_ms):
        return datetime.datetime.fromtimestamp(epoch_ms / 1000, self.tz())

    def today(self):
        return datetime.datetime.now(self.tz()).date()

    # ----- who has results on which days ---------------------------------------------------------------
    def left_date(self, user):
        """ASSUMPTION: a leaver has results only for work days before they left; the day they left is the
        day the sandbox first saw them gone, unless set with ``POST /_sandbox/attendance/left``."""
        if not user.left:
            return None
        return self.left_on.setdefault(user.userid, self.today())

    def schedule(self, user, day):
        """``(sections, generated, shift name)`` of ``user`` on ``day``; no sections: a rest day."""
        left = self.left_date(user)
        if left is not None and day >= left:
            return [], False, None
        explicit = self.schedules.get((user.userid, day))
        if explicit is not None:
            return explicit["sections"], False, explicit["shift"]
        if self.config["default_schedule"] and day.weekday() < 5:
            return SHIFTS[0]["sections"], True, SHIFTS[0]["name"]
        return [], False, None

    def set_schedule(self, user, day, sections, shift=None):
        """An explicit schedule (``[]`` = rest day); a named shift not known yet is added [KB:API/0203]."""
        if shift and sections is None:
            known = next((s for s in self.shifts if s["name"] == shift), None)
            if known is None:
                raise ValueError("unknown shift %r: give its sections" % shift)
            sections = [(hhmm(a), hhmm(b)) for a, b in known["sections"]]
        pairs = [(minutes(on), minutes(off)) for on, off in sections or []]
        if any(on == off for on, off in pairs):
            raise ValueError("a section needs different on and off times")
        if shift and not any(s["name"] == shift for s in self.shifts):
            new_id = max(s["id"] for s in self.shifts) + 1
            self.shifts.append({"id": new_id, "name": shift, "sections": pairs})
        self.schedules[(user.userid, day)] = {"sections": pairs, "shift": shift or None}
        return self.checkpoints(user, day)

    # ----- check points ---------------------------------------------------------------------------
    def checkpoints(self, user, day):
        """The day's check points in order (baseCheckTime, OnDuty before OffDuty)."""
        sections, generated, _shift = self.schedule(user, day)
        midnight, points = self.day_ms(day), []
        for index, (on, off) in enumerate(sections):
            end = off if off > on else off + 1440  # night shift: OffDuty on the next calendar day
            for check_type, minute in zip(CHECK_TYPES, (on, end), strict=True):
                key = (user.userid, day.isoformat(), index, check_type, on, off)
                points.append(
                    {
                        "id": hash_id("id", *key),
                        "plan_id": hash_id("plan", *key),
                        "userid": user.userid,
                        "day": day,
                        "index": index,
                        "check_type": check_type,
                        "base": midnight + minute * 60000,
                        "generated": generated,
                    }
                )
        points.sort(key=lambda p: (p["base"], p["check_type"] != "OnDuty"))
        return points

    def find_point(self, user, day, check_type, index=0):
        for point in self.checkpoints(user, day):
            if point["check_type"] == check_type and point["index"] == int(index or 0):
                return point
        raise ValueError("%s has no %s check point %s on %s" % (user.userid, check_type, index, day))

    def nearest_point(self, user, epoch_ms):
        """The check point a punch at ``epoch_ms`` belongs to: of its local day or the day before (a night
        shift's OffDuty), the nearest base time; a tie goes to OffDuty."""
        day = self.local(epoch_ms).date()
        points = self.checkpoints(user, day - datetime.timedelta(days=1)) + self.checkpoints(user, day)
        if not points:
            raise ValueError("%s has no check point around %s" % (user.userid, self.local(epoch_ms)))
        return min(points, key=lambda p: (abs(epoch_ms - p["base"]), p["check_type"] == "OnDuty"))

    # ----- results -------------------------------------------------------------------------------
    def result(self, point):
        """The effective result ``{"time", "source", "record_id", ...}``; ``time`` None = NotSigned."""
        stored = self.results.get(point["id"])
        if stored is not None:
            return stored
        if point["generated"] and self.config["auto_punch"]:
            return self._auto(point)
        return {"time": None}

    def _auto(self, point):
        """A generated punch: OnDuty 25 min early .. 3 min late, OffDuty 2 min early .. 30 min late; none
        for a ``missing_rate`` share, nor before it happened (ASSUMPTION: results are not known early)."""
        key = (self.config["seed"], point["userid"], point["day"], point["index"], point["check_type"])
        if _hash("miss", *key) / 2**64 < self.config["missing_rate"]:
            return {"time": None}
        low, span = (-1500, 1680) if point["check_type"] == "OnDuty" else (-120, 1920)
        moment = point["base"] + (low + _hash("at", *key) % span) * 1000
        if moment > time.time() * 1000:
            return {"time": None}
        return {"time": moment, "source": "USER", "record_id": hash_id("record", *key)}

    def punch(self, point, epoch_ms, source):
        """A punch on ``point``: OnDuty keeps its earliest punch, OffDuty its latest."""
        current = self.result(point)["time"]
        first = point["check_type"] == "OnDuty"
        if current is None or (epoch_ms < current if first else epoch_ms > current):
            self.results[point["id"]] = {"time": epoch_ms, "source": source, "record_id": next(self._seq)}

    def correct(self, point, epoch_ms):
        """补卡 through an approval: signed, sourceType APPROVE, a new recordId and procInstId."""
        self.results[point["id"]] = {
            "time": epoch_ms,
            "source": "APPROVE",
            "record_id": next(self._seq),
            "proc_inst_id": str(uuid.uuid4()),
            "approve_id": next(self._seq),
        }

    def change(self, point, epoch_ms):
        """An admin's change (老板改签, BOSS); ``None`` clears it back to NotSigned."""
        if epoch_ms is None:
            self.results[point["id"]] = {"time": None}
        else:
            self.results[point["id"]] = {"time": epoch_ms, "source": "BOSS", "record_id": next(self._seq)}

    def record(self, point):
        """One ``recordresult`` entry [KB:API/0195]."""
        res, base = self.result(point), point["base"]
        out = {
            "id": point["id"],
            "userId": point["userid"],
            "workDate": self.day_ms(point["day"]),
            "groupId": GROUP_ID,
            "planId": point["plan_id"],
            "checkType": point["check_type"],
            "baseCheckTime": base,
        }
        if res["time"] is None:  # ASSUMPTION: userCheckTime = baseCheckTime; sourceType SYSTEM (考勤系统)
            out.update(userCheckTime=base, timeResult="NotSigned", locationResult="NotSigned")
            out["sourceType"] = "SYSTEM"
            return out
        out.update(userCheckTime=res["time"], timeResult=time_result(point["check_type"], base, res["time"]))
        out.update(locationResult="Normal", sourceType=res["source"], recordId=res["record_id"])
        if res.get("proc_inst_id"):
            out.update(procInstId=res["proc_inst_id"], approveId=res["approve_id"])
        return out

    def records(self, user, days):
        return [self.record(p) for day in days for p in self.checkpoints(user, day)]

    def page(self, users, days, offset, limit):
        """``(records[offset:offset + limit], total)`` over users × days in order; only the user-days the
        page touches are computed (a client reads 50 people × 8 days in 50-record pages)."""
        out, seen = [], 0
        for user in users:
            for day in days:
                count = 2 * len(self.schedule(user, day)[0])
                if count and seen + count > offset and seen < offset + limit:
                    out += self.records(user, [day])[max(0, offset - seen) : offset + limit - seen]
                seen += count
        return out, seen


def time_result(check_type, base, actual):
    """Late after the base minute (OnDuty), Early before it (OffDuty), else Normal. ASSUMPTION: compared
    at minute precision; SeriousLate / Absenteeism (rules of the attendance group) are not modelled."""
    base_min, actual_min = base // 60000, actual // 60000
    if check_type == "OnDuty" and actual_min > base_min:
        return "Late"
    if check_type == "OffDuty" and actual_min < base_min:
        return "Early"
    return "Normal"
