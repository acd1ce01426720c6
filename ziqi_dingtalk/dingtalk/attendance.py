"""DingTalk attendance (考勤) and leave (假期): punch results, their pairing into shifts, leave types and
approved leave (docs/dingtalk-attendance-protocol.md, §n below).

Plain Python over :class:`~dingtalk.client.DingTalkClient` (never imports odoo). Sources: ``[KB:API/0195]``
attendance/list, ``[KB:API/0231]`` getleavestatus, ``[KB:API/0238]`` vacation/type/list; the event helpers
(:mod:`dingtalk.attendance_events`, re-exported here) follow ``[KB:EV/0125, EV/0261, EV/0135]``. API errors
surface as the client's typed :class:`~dingtalk.errors.APIError`.

Every datetime returned is naive UTC (what Odoo stores); work days are dates in the organisation's time
zone (default ``Asia/Shanghai``, §1), as are the request strings of attendance/list.
"""

import collections
import dataclasses
import datetime
import itertools
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from .attendance_events import (
    DEFAULT_TIMEZONE,
    check_record_days,
    leave_event,
    local_date,
    schedule_change_days,
    zone,
)
from .errors import TransportError

__all__ = [
    "AttendanceClient",
    "CheckResult",
    "LeaveStatus",
    "LeaveType",
    "Shift",
    "check_record_days",
    "leave_event",
    "pair_shifts",
    "schedule_change_days",
]

LIST_PATH = "/attendance/list"  # [KB:API/0195]
LIST_USERS, LIST_DAYS, LIST_PAGE = 50, 7, 50  # userIdList ≤50, ≤7 days inclusive, limit ≤50 [KB:API/0195]
LEAVE_STATUS_PATH = "/topapi/attendance/getleavestatus"  # [KB:API/0231]
LEAVE_USERS, LEAVE_DAYS, LEAVE_PAGE = 100, 180, 20  # userid_list ≤100, ≤180 days, size ≤20 [KB:API/0231]
LEAVE_TYPES_PATH = "/topapi/attendance/vacation/type/list"  # [KB:API/0238]
ON_DUTY, OFF_DUTY, NOT_SIGNED = "OnDuty", "OffDuty", "NotSigned"  # checkType / timeResult [KB:API/0195]
IN_FLIGHT_PER_WORKER = 2  # jobs submitted ahead per worker: bounds the results held in memory
_DAY_MS = 86_400_000
_EPOCH = datetime.datetime(1970, 1, 1)


def utc_from_ms(ms):
    """Naive UTC from epoch milliseconds (None stays None)."""
    return None if ms in (None, "") else _EPOCH + datetime.timedelta(milliseconds=int(ms))


def ms_from_utc(moment):
    """Epoch milliseconds of a naive UTC datetime."""
    return (moment - _EPOCH) // datetime.timedelta(milliseconds=1)


def _text(value):
    """Ids as text: DingTalk sends most of them as JSON numbers; "" when absent."""
    return "" if value is None else str(value)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check point (卡点) of a person's plan on a work day, punched or not (§2)."""

    id: str
    userid: str
    work_date: datetime.date  # in the organisation's time zone
    check_type: str  # OnDuty / OffDuty
    time_result: str
    location_result: str
    source_type: str
    base_time: datetime.datetime  # scheduled time, naive UTC
    user_time: datetime.datetime | None  # punch time, naive UTC; None when NotSigned
    plan_id: str
    group_id: str
    record_id: str
    proc_inst_id: str

    @property
    def signed(self):
        """Punched: invariant, ``user_time`` is None exactly when NotSigned or the answer had no time."""
        return self.user_time is not None

    @classmethod
    def from_wire(cls, raw, timezone=DEFAULT_TIMEZONE):
        """From a ``recordresult`` entry; userCheckTime is never read when NotSigned (§2 ASSUMPTION)."""
        time_result = _text(raw.get("timeResult"))
        base_ms = raw.get("baseCheckTime")
        work_ms = raw.get("workDate") if raw.get("workDate") not in (None, "") else base_ms
        return cls(
            id=_text(raw.get("id")),
            userid=_text(raw.get("userId")),
            work_date=local_date(work_ms, timezone),
            check_type=_text(raw.get("checkType")),
            time_result=time_result,
            location_result=_text(raw.get("locationResult")),
            source_type=_text(raw.get("sourceType")),
            base_time=utc_from_ms(base_ms),
            user_time=None if time_result == NOT_SIGNED else utc_from_ms(raw.get("userCheckTime")),
            plan_id=_text(raw.get("planId")),
            group_id=_text(raw.get("groupId")),
            record_id=_text(raw.get("recordId")),
            proc_inst_id=_text(raw.get("procInstId")),
        )


@dataclasses.dataclass(frozen=True)
class Shift:
    """An OnDuty and the OffDuty that closes it (§3); at least one of the two is set."""

    key: str  # the OnDuty's id, or the OffDuty's when there is no OnDuty
    userid: str
    work_date: datetime.date
    on: CheckResult | None
    off: CheckResult | None

    @property
    def missing(self):
        """ "" complete, "on", "off" or "both": which end is unpunched or absent (a gap when not "")."""
        on = self.on is None or not self.on.signed
        off = self.off is None or not self.off.signed
        return {(False, False): "", (True, False): "on", (False, True): "off"}.get((on, off), "both")

    @property
    def check_in(self):
        return self.on.user_time if self.on else None

    @property
    def check_out(self):
        return self.off.user_time if self.off else None

    @property
    def start(self):
        """The scheduled time of the shift's first check point (naive UTC)."""
        return (self.on or self.off).base_time


def pair_shifts(results):
    """Shifts of ``results`` (§3), ordered by (userid, work_date, start, key). Per person and work day,
    by base time, OnDuty first on ties unless a shift is open (back-to-back sections): an OnDuty opens a
    shift and the next OffDuty closes it; an OnDuty followed by another OnDuty stays without OffDuty; an
    OffDuty with no open shift is a shift alone. Night shifts need nothing special (the OffDuty has the
    OnDuty's work_date). Records with the same id count once (the last seen: offset paging may repeat
    one); other check types are ignored."""
    days = collections.defaultdict(dict)
    for result in results:
        if result.check_type in (ON_DUTY, OFF_DUTY):
            days[(result.userid, result.work_date)][result.id] = result
    shifts = [shift for records in days.values() for shift in _pair_day(records.values())]
    return sorted(shifts, key=lambda s: (s.userid, s.work_date, s.start, s.key))


def _pair_day(records):
    """Shifts of one person's one work day."""
    shifts, opened = [], None
    ordered = sorted(records, key=lambda r: (r.base_time, r.check_type != ON_DUTY, r.id))
    # itertools.groupby, not odoo.tools.groupby: this package never imports odoo (adjacent groups wanted)
    for _, tied in itertools.groupby(ordered, key=lambda r: r.base_time):  # pylint: disable=bad-builtin-groupby
        tied = list(tied)
        if opened is not None:
            # back-to-back sections (one ends at 12:00, the next starts at 12:00): close, then open
            tied.sort(key=lambda r: r.check_type == ON_DUTY)
        for record in tied:
            if record.check_type == OFF_DUTY:
                shifts.append(_shift(opened, record))
                opened = None
                continue
            if opened is not None:
                shifts.append(_shift(opened, None))
            opened = record
    if opened is not None:
        shifts.append(_shift(opened, None))
    return shifts


def _shift(on, off):
    first = on or off
    return Shift(key=first.id, userid=first.userid, work_date=first.work_date, on=on, off=off)


@dataclasses.dataclass(frozen=True)
class LeaveType:
    """A leave type (假期类型) [KB:API/0238]."""

    code: str
    name: str
    unit: str  # day / halfDay / hour
    biz_type: str  # general_leave / lieu_leave
    hours_per_day: float
    natural_day: bool  # counted in calendar days, weekends and holidays included

    @classmethod
    def from_wire(cls, raw):
        return cls(
            code=_text(raw.get("leave_code")),
            name=_text(raw.get("leave_name")),
            unit=_text(raw.get("leave_view_unit")),
            biz_type=_text(raw.get("biz_type")),
            hours_per_day=float(raw.get("hours_in_per_day") or 0) / 100,
            natural_day=str(raw.get("natural_day_leave")).lower() == "true",
        )


@dataclasses.dataclass(frozen=True)
class LeaveStatus:
    """An approved leave overlapping the window asked (§6); ``start_ms``/``end_ms`` are the wire values."""

    userid: str
    leave_code: str
    start: datetime.datetime  # naive UTC
    end: datetime.datetime  # naive UTC
    start_ms: int
    end_ms: int
    unit: str  # day / hour
    duration: float  # in ``unit``

    @property
    def key(self):
        """The leave's identity: nothing names its approval (§6), so a changed leave is a new key."""
        return f"{self.userid}|{self.leave_code}|{self.start_ms}|{self.end_ms}"

    @classmethod
    def from_wire(cls, raw):
        start_ms, end_ms = int(raw["start_time"]), int(raw["end_time"])
        return cls(
            userid=_text(raw.get("userid")),
            leave_code=_text(raw.get("leave_code")),
            start=utc_from_ms(start_ms),
            end=utc_from_ms(end_ms),
            start_ms=start_ms,
            end_ms=end_ms,
            unit=_text(raw.get("duration_unit")).removeprefix("percent_"),
            duration=float(raw.get("duration_percent") or 0) / 100,
        )


def _chunks(userids, size):
    """Distinct userids (first-seen order) in lists of at most ``size``."""
    distinct = list(dict.fromkeys(str(u) for u in userids))
    return [distinct[i : i + size] for i in range(0, len(distinct), size)]


def _date_windows(first, last, days):
    """Inclusive (first, last) date windows of at most ``days`` days covering first..last."""
    while first <= last:
        end = min(last, first + datetime.timedelta(days=days - 1))
        yield first, end
        first = end + datetime.timedelta(days=1)


def _ms_windows(low, high, days):
    """(low, high) millisecond windows at most ``days`` days long covering low..high; they touch, so an
    entry at a boundary may be answered twice (the caller de-duplicates)."""
    while low <= high:
        top = min(high, low + days * _DAY_MS)
        yield low, top
        if top >= high:
            return
        low = top


class AttendanceClient:
    """Attendance and leave reads on top of a (thread-safe) :class:`~dingtalk.client.DingTalkClient`;
    ``timezone`` is the organisation's (§1), ``workers`` the threads reading punch results."""

    def __init__(self, client, timezone=DEFAULT_TIMEZONE, workers=4):
        self.client = client
        self.timezone = zone(timezone)
        self.workers = max(1, int(workers))

    # --- punch results (§2) ---

    def iter_results(self, userids, date_from, date_to):
        """Punch results of ``userids`` on the work days ``date_from``..``date_to`` (dates, inclusive):
        one ``list[CheckResult]`` per job (≤50 people × ≤7 days, every page), yielded as jobs complete
        while the others are still fetching. An APIError of one job is raised here once the pool is shut
        down (the jobs not started are cancelled)."""
        chunks = _chunks(userids, LIST_USERS)  # once: ``userids`` may be a one-shot iterator
        jobs = (
            (chunk, window) for window in _date_windows(date_from, date_to, LIST_DAYS) for chunk in chunks
        )
        return self._concurrent(lambda job: self._read_results(job[0], *job[1]), jobs)

    def _read_results(self, userids, first, last):
        """Every page of one job (runs in a pool thread: HTTP and parsing only)."""
        body = {
            "workDateFrom": f"{first:%Y-%m-%d} 00:00:00",
            "workDateTo": f"{last:%Y-%m-%d} 00:00:00",
            "userIdList": userids,
            "offset": 0,
            "limit": LIST_PAGE,
            "isI18n": False,
        }
        results = []
        while True:
            answer = self.client.oapi(LIST_PATH, body)
            records = answer.get("recordresult") or []
            results.extend(CheckResult.from_wire(raw, self.timezone) for raw in records)
            if not records or not answer.get("hasMore"):
                return results
            body = {**body, "offset": body["offset"] + LIST_PAGE}

    def _concurrent(self, work, jobs):
        """Yield ``work(job)`` per job as they complete, at most IN_FLIGHT_PER_WORKER × workers submitted
        at once (later jobs are submitted as earlier ones are taken). The token is read here, in the
        caller's thread, so the pool's threads only do HTTP; a token they had to fetch is settled after."""
        jobs = iter(jobs)
        ahead = list(itertools.islice(jobs, self.workers * IN_FLIGHT_PER_WORKER))
        if not ahead:
            return
        self.client.access_token()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dingtalk-attendance")
        pending = {pool.submit(work, job) for job in ahead}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()  # a job's error ends the whole read
                    pending.update(pool.submit(work, job) for job in itertools.islice(jobs, 1))
                    yield result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.client.settle_token()

    # --- leave (§5, §6) ---

    def leave_types(self, op_userid):
        """The organisation's leave types; ``op_userid`` must be an admin with OA rights (§5)."""
        body = {"op_userid": op_userid, "vacation_source": "all"}
        answer = self.client.oapi(LEAVE_TYPES_PATH, body)
        return [LeaveType.from_wire(raw) for raw in answer.get("result") or ()]

    def iter_leave_status(self, userids, start, end):
        """Approved leave of ``userids`` overlapping ``start``..``end`` (naive UTC), each leave once:
        ≤100 people × ≤180 days per read, pages of 20; a leave seen in two windows is yielded once."""
        seen = set()
        for chunk in _chunks(userids, LEAVE_USERS):
            for low, high in _ms_windows(ms_from_utc(start), ms_from_utc(end), LEAVE_DAYS):
                for status in self._read_leave(chunk, low, high):
                    if status.key not in seen:
                        seen.add(status.key)
                        yield status

    def _read_leave(self, userids, low, high):
        body = {"userid_list": ",".join(userids), "start_time": low, "end_time": high}
        body.update(offset=0, size=LEAVE_PAGE)
        while True:
            answer = self.client.oapi(LEAVE_STATUS_PATH, body)
            result = answer.get("result")
            if not isinstance(result, dict) or answer.get("success") is False:
                # an answer without its result must never read as "no leave": the import would cancel
                raise TransportError(
                    f"DingTalk {LEAVE_STATUS_PATH} answered without a result", api=LEAVE_STATUS_PATH
                )
            entries = result.get("leave_status") or []
            yield from (LeaveStatus.from_wire(raw) for raw in entries)
            if not entries or not result.get("has_more"):
                return
            body = {**body, "offset": body["offset"] + LEAVE_PAGE}
