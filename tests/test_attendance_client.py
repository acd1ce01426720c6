"""The attendance protocol client (ziqi_dingtalk/dingtalk/attendance.py) per
docs/dingtalk-attendance-protocol.md: parsing, shift pairing and the event helpers as plain unit tests;
chunking, paging and leave against the sandbox."""

import datetime
import json
import random
import threading
import time
import zoneinfo

import pytest
import requests

from dingtalk import attendance
from dingtalk.attendance import (
    AttendanceClient,
    CheckResult,
    LeaveStatus,
    LeaveType,
    check_record_days,
    leave_event,
    pair_shifts,
    schedule_change_days,
)
from dingtalk.client import DingTalkClient
from dingtalk.errors import APIError, TransportError
from dingtalk.events import parse_event, parse_stream_event

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
D = datetime.date
DT = datetime.datetime


def ms(local):
    """Epoch ms of a ``YYYY-MM-DD HH:MM`` wall time in Shanghai."""
    moment = DT.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)
    return int(moment.timestamp() * 1000)


def utc(local):
    """Naive UTC of a Shanghai wall time."""
    return DT.strptime(local, "%Y-%m-%d %H:%M") - datetime.timedelta(hours=8)


def wire(rid, check_type, base, punched=None, day=None, userid="alice", result=None):
    """A recordresult entry: ``base``/``punched`` Shanghai wall times, ``day`` the work day."""
    day = day or base[:10]
    return {
        "id": rid,
        "userId": userid,
        "workDate": ms(day + " 00:00"),
        "checkType": check_type,
        "baseCheckTime": ms(base),
        "userCheckTime": ms(punched or base),
        "timeResult": result or ("Normal" if punched else "NotSigned"),
        "locationResult": "Normal" if punched else "NotSigned",
        "sourceType": "USER" if punched else "SYSTEM",
        "groupId": 685935028,
        "planId": 145583519353,
        "recordId": 42833709096,
    }


def rec(*args, **kwargs):
    return CheckResult.from_wire(wire(*args, **kwargs))


# --- parsing ---


def test_parse_the_documented_record():
    raw = {  # [KB:API/0195] answer sample
        "checkType": "OnDuty",
        "locationResult": "Normal",
        "baseCheckTime": 1599372300000,
        "groupId": 685935028,
        "timeResult": "Normal",
        "userId": "manager4220",
        "recordId": 42833709096,
        "workDate": 1599321600000,
        "sourceType": "APPROVE",
        "userCheckTime": 1599372300000,
        "planId": 145583519353,
        "id": 100068640553,
    }
    result = CheckResult.from_wire(raw)
    assert result.id == "100068640553" and result.plan_id == "145583519353" and result.group_id == "685935028"
    assert result.record_id == "42833709096" and result.proc_inst_id == ""
    assert result.work_date == D(2020, 9, 6)  # midnight +08:00, the previous day in UTC
    assert result.base_time == DT(2020, 9, 6, 6, 5) and result.user_time == result.base_time
    assert result.signed and result.source_type == "APPROVE" and result.userid == "manager4220"
    assert CheckResult.from_wire(raw, "UTC").work_date == D(2020, 9, 5)


def test_parse_not_signed_has_no_user_time():
    result = rec(7, "OffDuty", "2024-03-04 18:00")
    assert result.time_result == "NotSigned" and result.user_time is None and not result.signed
    assert result.id == "7" and result.base_time == DT(2024, 3, 4, 10, 0)
    with_approval = CheckResult.from_wire({**wire(8, "OnDuty", "2024-03-04 09:00"), "procInstId": "p-1"})
    assert with_approval.proc_inst_id == "p-1"


def test_leave_wire_shapes():
    kind = LeaveType.from_wire(
        {
            "leave_code": "LEAVE-ANNUAL",
            "leave_name": "年假",
            "leave_view_unit": "halfDay",
            "biz_type": "general_leave",
            "hours_in_per_day": 750,
            "natural_day_leave": "false",
        }
    )
    assert kind == LeaveType("LEAVE-ANNUAL", "年假", "halfDay", "general_leave", 7.5, False)
    assert LeaveType.from_wire({"leave_code": "x", "natural_day_leave": "true"}).natural_day
    status = LeaveStatus.from_wire(  # [KB:API/0231] answer sample
        {
            "duration_percent": 650,
            "duration_unit": "percent_hour",
            "end_time": 1599465600000,
            "start_time": 1599372000000,
            "leave_code": "16f856xxxx09aa16",
            "userid": "user123",
        }
    )
    assert status.unit == "hour" and status.duration == 6.5 and status.start == DT(2020, 9, 6, 6, 0)
    assert status.end == DT(2020, 9, 7, 8, 0)
    assert status.key == "user123|16f856xxxx09aa16|1599372000000|1599465600000"


# --- pairing ---


def test_pair_normal_day():
    [shift] = pair_shifts(
        [
            rec(2, "OffDuty", "2024-03-04 18:00", "2024-03-04 18:05"),
            rec(1, "OnDuty", "2024-03-04 09:00", "2024-03-04 08:55"),
        ]
    )
    assert shift.key == "1" and shift.missing == "" and shift.work_date == D(2024, 3, 4)
    assert shift.check_in == utc("2024-03-04 08:55") and shift.check_out == utc("2024-03-04 18:05")
    assert shift.start == utc("2024-03-04 09:00") and shift.userid == "alice"


def test_pair_missing_ends():
    on, off = ("OnDuty", "2024-03-04 09:00"), ("OffDuty", "2024-03-04 18:00")
    missing = {
        "on": [rec(1, *on), rec(2, *off, "2024-03-04 18:01")],
        "off": [rec(1, *on, "2024-03-04 09:00"), rec(2, *off)],
        "both": [rec(1, *on), rec(2, *off)],
    }
    for kind, records in missing.items():
        [shift] = pair_shifts(records)
        assert shift.missing == kind and shift.key == "1"
    [alone] = pair_shifts([rec(1, *on, "2024-03-04 09:00")])  # OffDuty absent from the answer
    assert alone.missing == "off" and alone.off is None and alone.check_out is None
    assert alone.check_in == utc("2024-03-04 09:00")
    [shift] = pair_shifts(missing["on"])
    assert shift.check_in is None and shift.check_out == utc("2024-03-04 18:01")


def test_pair_night_shift():
    records = [
        rec(1, "OnDuty", "2024-03-04 22:00", "2024-03-04 21:58"),
        rec(2, "OffDuty", "2024-03-05 06:00", "2024-03-05 06:02", day="2024-03-04"),
        rec(3, "OnDuty", "2024-03-05 22:00", "2024-03-05 22:00"),
        rec(4, "OffDuty", "2024-03-06 06:00", day="2024-03-05"),
    ]
    first, second = pair_shifts(records)
    assert (first.key, first.work_date, first.missing) == ("1", D(2024, 3, 4), "")
    assert first.check_out == utc("2024-03-05 06:02")
    assert (second.key, second.work_date, second.missing) == ("3", D(2024, 3, 5), "off")


def test_pair_two_sections_and_back_to_back():
    day = [
        rec(1, "OnDuty", "2024-03-04 09:00", "2024-03-04 09:00"),
        rec(2, "OffDuty", "2024-03-04 12:00", "2024-03-04 12:00"),
        rec(3, "OnDuty", "2024-03-04 13:00", "2024-03-04 13:00"),
        rec(4, "OffDuty", "2024-03-04 18:00"),
    ]
    morning, afternoon = pair_shifts(day)
    assert (morning.on.id, morning.off.id, morning.missing) == ("1", "2", "")
    assert (afternoon.on.id, afternoon.off.id, afternoon.missing) == ("3", "4", "off")
    # one section ends when the next starts: the open shift closes before the next opens
    back_to_back = [
        day[0],
        rec(2, "OffDuty", "2024-03-04 12:00"),
        rec(3, "OnDuty", "2024-03-04 12:00"),
        day[3],
    ]
    assert [(s.on.id, s.off.id) for s in pair_shifts(back_to_back)] == [("1", "2"), ("3", "4")]


def test_pair_onduty_twice_and_offduty_alone():
    records = [
        rec(1, "OnDuty", "2024-03-04 09:00", "2024-03-04 09:00"),
        rec(3, "OnDuty", "2024-03-04 13:00", "2024-03-04 13:00"),
        rec(4, "OffDuty", "2024-03-04 18:00", "2024-03-04 18:00"),
        rec(9, "OffDuty", "2024-03-05 18:00", "2024-03-05 18:00"),
    ]
    first, second, lone = pair_shifts(records)
    assert (first.key, first.off, first.missing) == ("1", None, "off")
    assert (second.key, second.off.id) == ("3", "4")
    assert (lone.key, lone.on, lone.missing, lone.start) == ("9", None, "on", utc("2024-03-05 18:00"))
    assert lone.check_in is None and lone.check_out == utc("2024-03-05 18:00")


def test_pair_tie_without_open_shift_puts_onduty_first():
    records = [rec(2, "OffDuty", "2024-03-04 12:00"), rec(1, "OnDuty", "2024-03-04 12:00")]
    [shift] = pair_shifts(records)
    assert (shift.on.id, shift.off.id) == ("1", "2")


def test_pair_order_is_deterministic_and_repeats_count_once():
    records = [
        rec(i, kind, f"2024-03-0{day} {hour}", f"2024-03-0{day} {hour}", userid=user)
        for i, (user, day, kind, hour) in enumerate(
            (user, day, kind, hour)
            for user in ("bob", "alice")
            for day in (5, 4)
            for kind, hour in (
                ("OnDuty", "09:00"),
                ("OffDuty", "12:00"),
                ("OnDuty", "13:00"),
                ("OffDuty", "18:00"),
            )
        )
    ]
    expected = pair_shifts(records)
    assert [(s.userid, s.work_date, s.start.hour) for s in expected] == [
        (user, D(2024, 3, day), hour) for user in ("alice", "bob") for day in (4, 5) for hour in (1, 5)
    ]
    shuffled = records * 2  # a record answered twice (offset paging) is one record
    random.Random(7).shuffle(shuffled)
    assert pair_shifts(shuffled) == expected


# --- event helpers (§4), with the pages' samples ---

CHECK_ENTRY = {  # [KB:EV/0125], [KB:EV/0261]
    "address": "中国科学院工程热物理研究所(浙江海外高层次人才创新园7幢东)",
    "checkTime": 1570791880000,
    "corpId": "dingxxxx",
    "groupId": "4C63xxxx",
    "bizId": "FF62xxxx",
    "locationMethod": "MAP",
    "userId": "0126xxxx",
    "locationResult": "Normal",
    "checkByUser": True,
}
SCHEDULE_ENTRY = {  # [KB:EV/0261]
    "workDateEnd": 1571328000000,
    "corpId": "dingxxxx",
    "userIds": ["0126xxxx"],
    "type": "modify",
    "workDateBegin": 1571328000000,
}
APPROVE = {  # [KB:EV/0135]
    "approveType": "LEAVE",
    "processInstanceId": "xxxx-fdr-3423-casdfasg-xxx",
    "mainProcessInstanceId": "xxxx-fdr-3423-casdfasg-xxx",
    "corpId": "dingxxxx",
    "processCode": "xxxx",
    "status": "start",
}
STREAM_HEADERS = {
    "eventType": "",
    "eventId": "c7c7120f2c07419",
    "eventCorpId": "ding9f5",
    "eventBornTime": "1",
}


def dialects(event_type, list_key_payload):
    """The same event as a legacy push, a current push, a parsed Stream frame and a whole Stream sample."""
    data_list = list_key_payload
    headers = {**STREAM_HEADERS, "eventType": event_type}
    return [
        parse_event({"DataList": data_list, "EventType": event_type}).raw,
        parse_event({"EventType": event_type, "EventTime": 1663143335567, "dataList": data_list}).raw,
        parse_stream_event(headers, json.dumps({"dataList": data_list})).raw,
        {"eventType": event_type, "data": {"dataList": data_list}},
        json.dumps({"eventType": event_type, "data": json.dumps({"dataList": data_list})}),
    ]


def test_check_record_days_in_every_dialect():
    # 1570791880000 = 2019-10-11 19:04:40 +08:00: that work day and the day before (a night shift)
    expected = {("0126xxxx", D(2019, 10, 11)), ("0126xxxx", D(2019, 10, 10))}
    for data in dialects("attendance_check_record", [CHECK_ENTRY]):
        assert check_record_days(data, "Asia/Shanghai") == expected
    after_midnight = {**CHECK_ENTRY, "checkTime": ms("2024-03-05 00:30"), "userId": "bob"}
    assert check_record_days({"dataList": [CHECK_ENTRY, after_midnight, {"checkTime": 1}]}) == expected | {
        ("bob", D(2024, 3, 5)),
        ("bob", D(2024, 3, 4)),
    }
    assert check_record_days({"dataList": [CHECK_ENTRY]}, "UTC") == {
        ("0126xxxx", D(2019, 10, 11)),
        ("0126xxxx", D(2019, 10, 10)),
    }
    assert check_record_days({}) == set() and check_record_days("not json") == set()


def test_schedule_change_days():
    for data in dialects("attendance_schedule_change", [SCHEDULE_ENTRY]):
        assert schedule_change_days(data, "Asia/Shanghai") == {("0126xxxx", D(2019, 10, 18))}
    week = {
        **SCHEDULE_ENTRY,
        "userIds": "a,b",
        "workDateBegin": ms("2024-03-07 00:00"),
        "workDateEnd": ms("2024-03-01 00:00"),
    }
    days = schedule_change_days({"DataList": [week]})
    assert days == {(u, D(2024, 3, d)) for u in "ab" for d in range(1, 8)}
    year = {**SCHEDULE_ENTRY, "workDateEnd": ms("2020-10-18 00:00")}
    capped = schedule_change_days({"DataList": [year]})
    assert len(capped) == 31 and min(capped)[1] == D(2019, 10, 18) and max(capped)[1] == D(2019, 11, 17)
    assert len(schedule_change_days({"DataList": [year]}, max_days=3)) == 3


def test_leave_event_in_every_dialect():
    expected = ("xxxx-fdr-3423-casdfasg-xxx", "start", "LEAVE")
    http = {"EventType": "attendance_approve_status_change", "EventTime": 1663143335567, **APPROVE}
    headers = {**STREAM_HEADERS, "eventType": "attendance_approve_status_change"}
    for data in (
        parse_event(http).raw,
        parse_stream_event(headers, json.dumps(APPROVE)).raw,
        {"eventType": "attendance_approve_status_change", "data": APPROVE},
        json.dumps(http),
    ):
        assert leave_event(data) == expected
    main_only = {**APPROVE, "processInstanceId": "", "status": "revoke"}
    assert leave_event(main_only) == ("xxxx-fdr-3423-casdfasg-xxx", "revoke", "LEAVE")
    assert leave_event({}) == ("", "", "")


# --- against the sandbox (dingtalk_sandbox/attendance_api.py) ---

APP_KEY, APP_SECRET = "dingsandboxappkey0001", "sandbox-app-secret"
PEOPLE = [f"u{n:03d}" for n in range(101)]
ORG = {
    "departments": [{"dept_id": 1, "name": "公司"}],
    "users": [{"userid": "boss", "name": "老板", "admin": True}]
    + [{"userid": u, "name": f"员工{u}"} for u in PEOPLE],
}


def ctl(url, path, body):
    answer = requests.post(f"{url}/_sandbox/{path}", json=body, timeout=10)
    assert answer.ok, answer.text
    return answer.json()


@pytest.fixture
def client(sandbox):
    ctl(sandbox, "reset", {"org": ORG})
    return DingTalkClient(APP_KEY, APP_SECRET, oapi_url=sandbox, api_url=sandbox)


def pool_threads():
    return [t for t in threading.enumerate() if t.name.startswith("dingtalk-attendance")]


def test_iter_results_chunks_windows_and_pages(client, sandbox):
    ctl(sandbox, "attendance/config", {"default_schedule": True, "auto_punch": False})
    att = AttendanceClient(client, workers=3)
    client.reset_stats()
    # 51 people × 8 days (Mon 4 .. Mon 11 March: 6 work days) = 2 chunks × 2 windows = 4 jobs
    jobs = list(att.iter_results(iter(PEOPLE[:51]), D(2024, 3, 4), D(2024, 3, 11)))
    assert sorted(len(job) for job in jobs) == [2, 10, 100, 500]  # check points: people × work days × 2
    # pages of 50: 500 → 10 calls, 100 → 2, 10 → 1, 2 → 1
    assert client.stats[attendance.LIST_PATH] == 14
    for job in jobs:
        days = {r.work_date for r in job}
        assert days <= {D(2024, 3, d) for d in (4, 5, 6, 7, 8)} or days == {D(2024, 3, 11)}
    shifts = pair_shifts(r for job in jobs for r in job)
    assert len(shifts) == 51 * 6 and {s.missing for s in shifts} == {"both"}
    assert len({s.key for s in shifts}) == len(shifts) and not pool_threads()
    assert list(att.iter_results([], D(2024, 3, 4), D(2024, 3, 11))) == []


def test_iter_results_keeps_few_jobs_in_flight(client, sandbox):
    ctl(sandbox, "attendance/config", {"default_schedule": True})
    att = AttendanceClient(client, workers=1)
    client.reset_stats()
    results = att.iter_results(["u000"], D(2024, 1, 1), D(2024, 3, 10))  # 10 windows of 7 days
    first = next(results)
    time.sleep(0.3)  # the pool finishes what was submitted, and submits nothing while the caller works
    assert len(first) == 10 and client.stats[attendance.LIST_PATH] == 3  # 2 ahead + 1 refilled
    results.close()
    assert not pool_threads()


def test_iter_results_error_propagates_after_shutdown(client, sandbox, monkeypatch):
    monkeypatch.setattr(attendance, "LIST_USERS", 51)  # the sandbox refuses more than 50 people
    att = AttendanceClient(client, workers=2)
    with pytest.raises(APIError) as caught:
        list(att.iter_results(PEOPLE[:51], D(2024, 3, 4), D(2024, 3, 31)))
    assert caught.value.errcode == 400002 and not pool_threads()


def test_results_of_punches_pair_into_shifts(client, sandbox):
    schedules = {
        "u000": [["09:00", "18:00"]],
        "u001": [["22:00", "06:00"]],  # night shift
        "u002": [["09:00", "12:00"], ["13:30", "18:00"]],  # two sections
    }
    for userid, sections in schedules.items():
        ctl(sandbox, "attendance/schedule", {"userid": userid, "date": "2024-03-04", "sections": sections})
    punches = [
        ("u000", "2024-03-04 08:55"),
        ("u000", "2024-03-04 18:10"),
        ("u001", "2024-03-04 21:50"),
        ("u001", "2024-03-05 06:05"),
        ("u002", "2024-03-04 09:01"),
        ("u002", "2024-03-04 12:00"),
        ("u002", "2024-03-04 18:00"),
    ]
    for userid, moment in punches:
        ctl(sandbox, "attendance/punch", {"userid": userid, "time": moment, "push": False})
    att = AttendanceClient(client)
    results = [r for job in att.iter_results(list(schedules), D(2024, 3, 4), D(2024, 3, 5)) for r in job]
    assert all(r.id.isdigit() and r.plan_id.isdigit() and r.group_id == "685935028" for r in results)
    day, night, morning, afternoon = pair_shifts(results)
    assert (day.userid, day.missing, day.check_in, day.check_out) == (
        "u000",
        "",
        utc("2024-03-04 08:55"),
        utc("2024-03-04 18:10"),
    )
    assert day.on.time_result == "Normal" and day.on.source_type == "USER" and day.on.record_id
    assert (night.userid, night.work_date, night.missing) == ("u001", D(2024, 3, 4), "")
    assert night.check_out == utc("2024-03-05 06:05") and night.off.base_time == utc("2024-03-05 06:00")
    assert (morning.missing, morning.on.time_result) == ("", "Late")
    assert (afternoon.missing, afternoon.start, afternoon.key) == (
        "on",
        utc("2024-03-04 13:30"),
        afternoon.on.id,
    )
    assert afternoon.on.source_type == "SYSTEM" and afternoon.on.user_time is None


def test_leave_types(client):
    att = AttendanceClient(client)
    types = {t.code: t for t in att.leave_types("boss")}
    assert list(types) == ["LEAVE-ANNUAL", "LEAVE-PERSONAL", "LEAVE-SICK", "LEAVE-LIEU"]
    assert types["LEAVE-ANNUAL"] == LeaveType("LEAVE-ANNUAL", "年假", "day", "general_leave", 8.0, False)
    assert types["LEAVE-LIEU"].biz_type == "lieu_leave" and types["LEAVE-SICK"].unit == "halfDay"
    with pytest.raises(APIError) as caught:
        att.leave_types("u000")  # not an admin
    assert caught.value.errcode == 400002


def approve(url, userid, code, start, end, percent):
    body = {"userid": userid, "leave_code": code, "start": start, "end": end, "duration_percent": percent}
    return ctl(url, "leave/approve", {**body, "push": False})


def test_iter_leave_status_chunks_windows_pages_once(client, sandbox):
    start = DT(2024, 1, 1)
    end = start + datetime.timedelta(days=400)  # windows of 180, 180 and 40 days
    # across the first boundary (2024-06-29 00:00 UTC): answered by two windows, yielded once
    approve(sandbox, "u000", "LEAVE-ANNUAL", "2024-06-28 09:00", "2024-07-01 18:00", 350)
    for day in range(2, 27):  # 25 leaves in the last window: two pages of 20
        approve(
            sandbox, "u000", "LEAVE-PERSONAL", f"2025-01-{day:02d} 09:00", f"2025-01-{day:02d} 10:30", 150
        )
    approve(sandbox, "u100", "LEAVE-SICK", "2024-08-01 09:00", "2024-08-01 13:00", 50)  # second chunk
    approve(sandbox, "u050", "LEAVE-LIEU", "2023-12-01 09:00", "2023-12-01 10:00", 100)  # before the range
    att = AttendanceClient(client)
    client.reset_stats()
    leaves = list(att.iter_leave_status(PEOPLE, start, end))
    # chunk of 100: 1 + 1 + 2 calls; chunk of 1: 3 calls
    assert client.stats[attendance.LEAVE_STATUS_PATH] == 7
    assert len(leaves) == 27 and len({s.key for s in leaves}) == 27
    annual = next(s for s in leaves if s.leave_code == "LEAVE-ANNUAL")
    assert (annual.userid, annual.unit, annual.duration) == ("u000", "day", 3.5)
    assert annual.start == utc("2024-06-28 09:00") and annual.end == utc("2024-07-01 18:00")
    assert annual.start_ms == ms("2024-06-28 09:00") and annual.key.endswith(f"|{ms('2024-07-01 18:00')}")
    personal = [s for s in leaves if s.leave_code == "LEAVE-PERSONAL"]
    assert len(personal) == 25 and {(s.unit, s.duration) for s in personal} == {("hour", 1.5)}
    [sick] = [s for s in leaves if s.userid == "u100"]
    assert (sick.leave_code, sick.unit, sick.duration) == ("LEAVE-SICK", "day", 0.5)


def test_leave_status_without_its_result_is_an_error(client, sandbox):
    """An errcode-0 answer missing ``result`` must not read as "nobody has leave" (the import would cancel
    everyone's time off)."""
    ctl(sandbox, "faults", {"path": "/topapi/attendance/getleavestatus", "body": {"errcode": 0}, "count": 1})
    att = AttendanceClient(client)
    with pytest.raises(TransportError):
        list(att.iter_leave_status(["u000"], DT(2024, 1, 1), DT(2024, 2, 1)))
