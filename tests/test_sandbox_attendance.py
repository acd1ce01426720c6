"""The sandbox's attendance and leave (dingtalk_sandbox/attendance*.py) against
docs/dingtalk-attendance-protocol.md.

Each test runs ``python -m dingtalk_sandbox`` (conftest's ``sandbox`` fixture), loads a small organisation
through ``/_sandbox/reset`` and calls the oapi paths with an app token, as the addon does.
"""

import datetime
import time

import pytest
import requests
from fakes import CallbackReceiver as Receiver

APP_KEY, APP_SECRET, CORP_ID = "dingsandboxappkey0001", "sandbox-app-secret", "dingsandboxcorp0001"
CST = datetime.timezone(datetime.timedelta(hours=8))
MONDAY = "2024-03-04"  # a Monday in the past
PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
ORG = {
    "departments": [{"dept_id": 1, "name": "公司"}, {"dept_id": 2, "name": "研发部", "parent_id": 1}],
    "users": [{"userid": "boss", "unionid": "unboss", "name": "Boss", "dept_id_list": [1], "admin": True}]
    + [{"userid": u, "unionid": "un" + u, "name": u.title(), "dept_id_list": [2]} for u in PEOPLE],
}


def ctl(url, path, body=None, params=None):
    if body is None:
        return requests.get(f"{url}/_sandbox/{path}", params=params, timeout=10).json()
    return requests.post(f"{url}/_sandbox/{path}", json=body, timeout=10).json()


class Oapi:
    def __init__(self, url):
        self.url = url
        answer = requests.get(
            f"{url}/gettoken", params={"appkey": APP_KEY, "appsecret": APP_SECRET}, timeout=5
        )
        self.token = answer.json()["access_token"]

    def __call__(self, path, body):
        return requests.post(
            self.url + path, params={"access_token": self.token}, json=body, timeout=10
        ).json()

    def records(self, users, first, last=None, offset=0, limit=50, **extra):
        body = {"workDateFrom": first + " 00:00:00", "workDateTo": (last or first) + " 00:00:00"}
        body.update({"userIdList": users, "offset": offset, "limit": limit, "isI18n": False, **extra})
        return self("/attendance/list", body)

    def leaves(self, users, start, end, offset=0, size=20):
        body = {"userid_list": ",".join(users), "start_time": start, "end_time": end}
        return self("/topapi/attendance/getleavestatus", dict(body, offset=offset, size=size))

    def instance(self, inst_id):
        token = requests.post(
            self.url + "/v1.0/oauth2/accessToken",
            json={"appKey": APP_KEY, "appSecret": APP_SECRET},
            timeout=10,
        ).json()["accessToken"]
        return requests.get(
            self.url + "/v1.0/workflow/processInstances",
            params={"processInstanceId": inst_id},
            headers={"x-acs-dingtalk-access-token": token},
            timeout=10,
        ).json()


@pytest.fixture
def oapi(sandbox):
    assert ctl(sandbox, "reset", {"org": ORG})["ok"]
    return Oapi(sandbox)


def ms(text):
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=CST).timestamp() * 1000)


def schedule(url, userid, date, sections, **extra):
    answer = ctl(url, "attendance/schedule", dict(userid=userid, date=date, sections=sections, **extra))
    return answer["checkpoints"]


def punch(url, userid, when, **extra):
    answer = ctl(url, "attendance/punch", dict(userid=userid, time=when, push=False, **extra))
    assert "id" in answer, answer
    return answer


def brief(records):
    return [(r["checkType"], r["timeResult"], r["userCheckTime"]) for r in records]


# ----- punch results [KB:API/0195] -----------------------------------------------------------------
def test_normal_day_and_missing_off_duty(oapi):
    url = oapi.url
    points = schedule(url, "alice", MONDAY, [["09:00", "18:00"]])
    assert [(p["check_type"], p["base"]) for p in points] == [
        ("OnDuty", MONDAY + " 09:00"),
        ("OffDuty", MONDAY + " 18:00"),
    ]
    assert punch(url, "alice", MONDAY + " 08:55")["id"] == points[0]["id"]
    assert punch(url, "alice", MONDAY + " 08:50")["check_type"] == "OnDuty"  # earlier: kept
    answer = oapi.records(["alice", "nobody"], MONDAY)
    assert answer["errcode"] == 0 and answer["hasMore"] is False
    on, off = answer["recordresult"]
    assert on["id"] == points[0]["id"] and on["planId"] == points[0]["plan_id"] != off["planId"]
    assert on["workDate"] == ms(MONDAY + " 00:00") == 1709481600000
    assert (on["timeResult"], on["userCheckTime"], on["sourceType"]) == (
        "Normal",
        ms(MONDAY + " 08:50"),
        "USER",
    )
    assert on["baseCheckTime"] == ms(MONDAY + " 09:00") and on["locationResult"] == "Normal"
    assert off["timeResult"] == "NotSigned" and off["userCheckTime"] == off["baseCheckTime"]
    assert off["locationResult"] == "NotSigned" and "recordId" not in off
    assert set(on) >= {"id", "userId", "workDate", "groupId", "planId", "checkType", "recordId", "sourceType"}
    punch(url, "alice", MONDAY + " 17:50")
    punch(url, "alice", MONDAY + " 17:30")  # OffDuty keeps its latest punch
    off = oapi.records(["alice"], MONDAY)["recordresult"][1]
    assert (off["timeResult"], off["userCheckTime"], off["id"]) == (
        "Early",
        ms(MONDAY + " 17:50"),
        points[1]["id"],
    )


def test_punch_without_schedule_is_refused(oapi):
    answer = ctl(oapi.url, "attendance/punch", {"userid": "bob", "time": MONDAY + " 09:00"})
    assert answer["ok"] is False and "check point" in answer["error"]
    assert oapi.records(["bob"], MONDAY)["recordresult"] == []


def test_correction_keeps_id_and_flips_result(oapi):
    url = oapi.url
    schedule(url, "alice", MONDAY, [["09:00", "18:00"]])
    punch(url, "alice", MONDAY + " 09:20")
    before = oapi.records(["alice"], MONDAY)["recordresult"]
    assert brief(before)[0][:2] == ("OnDuty", "Late") and before[1]["timeResult"] == "NotSigned"
    fixed = ctl(
        url,
        "attendance/correct",
        {"userid": "alice", "date": MONDAY, "check_type": "OffDuty", "time": MONDAY + " 18:00"},
    )
    assert fixed["id"] == before[1]["id"]
    after = oapi.records(["alice"], MONDAY)["recordresult"][1]
    assert (
        after["id"] == before[1]["id"]
        and after["timeResult"] == "Normal"
        and after["sourceType"] == "APPROVE"
    )
    assert after["procInstId"] and after["approveId"] and after["recordId"]
    body = {"userid": "alice", "date": MONDAY, "check_type": "OnDuty", "time": MONDAY + " 09:00"}
    changed = ctl(url, "attendance/change", body)["record"]
    assert (changed["id"], changed["sourceType"], changed["timeResult"]) == (
        before[0]["id"],
        "BOSS",
        "Normal",
    )
    assert changed["recordId"] != before[0]["recordId"]
    cleared = ctl(url, "attendance/change", dict(body, time=None))["record"]
    assert cleared["timeResult"] == "NotSigned" and cleared["id"] == before[0]["id"]


def test_night_shift_off_duty_next_day_same_work_date(oapi):
    url = oapi.url
    points = schedule(url, "carol", "2024-03-05", [["22:00", "06:00"]], shift="夜班")
    assert [p["base"] for p in points] == ["2024-03-05 22:00", "2024-03-06 06:00"]
    punch(url, "carol", "2024-03-05 21:58")
    off = punch(url, "carol", "2024-03-06 06:03")
    assert (off["check_type"], off["work_date"]) == ("OffDuty", "2024-03-05")
    records = oapi.records(["carol"], "2024-03-05")["recordresult"]
    assert {r["workDate"] for r in records} == {ms("2024-03-05 00:00")}
    assert records[1]["baseCheckTime"] == ms("2024-03-06 06:00") and records[1]["timeResult"] == "Normal"
    assert oapi.records(["carol"], "2024-03-06")["recordresult"] == []
    shifts = oapi("/topapi/attendance/shift/list", {"op_user_id": "boss", "cursor": 0})["result"]
    assert [s["name"] for s in shifts["result"]] == ["标准班", "夜班", "两段班"] and shifts[
        "has_more"
    ] is False


def test_two_sections_give_four_records_in_order(oapi):
    url = oapi.url
    schedule(url, "dave", MONDAY, [["13:30", "18:00"], ["09:00", "12:00"]])
    for when in ("08:58", "12:01", "13:25", "18:10"):
        punch(url, "dave", MONDAY + " " + when)
    records = oapi.records(["dave"], MONDAY)["recordresult"]
    assert [(r["checkType"], r["timeResult"]) for r in records] == [
        ("OnDuty", "Normal"),
        ("OffDuty", "Normal"),
        ("OnDuty", "Normal"),
        ("OffDuty", "Normal"),
    ]
    assert [r["baseCheckTime"] for r in records] == sorted(r["baseCheckTime"] for r in records)
    assert len({r["id"] for r in records}) == 4
    assert schedule(url, "dave", MONDAY, []) == [] and oapi.records(["dave"], MONDAY)["recordresult"] == []


def test_paging_and_limits(oapi):
    ctl(oapi.url, "attendance/config", {"default_schedule": True})
    pages, offset = [], 0
    while True:
        answer = oapi.records(PEOPLE, MONDAY, "2024-03-10", offset=offset)  # Mon..Sun: 5 work days
        pages.append(answer["recordresult"])
        if not answer["hasMore"]:
            break
        offset += 50
    assert [len(p) for p in pages] == [50, 50]
    flat = [r for p in pages for r in p]
    assert len({r["id"] for r in flat}) == 100
    keys = [(r["userId"], r["workDate"], r["baseCheckTime"]) for r in flat]
    assert keys == sorted(keys) and flat[0]["userId"] == "alice"
    assert oapi.records(PEOPLE, MONDAY, "2024-03-11")["errcode"] == 0  # 7 days apart: allowed
    for answer in (
        oapi.records(PEOPLE, MONDAY, "2024-03-12"),  # 8 days apart
        oapi.records(["u%d" % n for n in range(51)], MONDAY),
        oapi.records(PEOPLE, MONDAY, limit=51),
        oapi.records(PEOPLE, "2024-13-01"),
        oapi.records(PEOPLE, "2024-03-08", MONDAY),
    ):
        assert answer["errcode"] == 400002 and "recordresult" not in answer
    assert oapi.records(PEOPLE, MONDAY, isI18n=True)["recordresult"] == []  # [KB:API/0243]


def test_leaver_has_no_results_after_leaving(oapi):
    url = oapi.url
    for day in ("2024-03-04", "2024-03-06"):
        schedule(url, "erin", day, [["09:00", "18:00"]])
    assert ctl(url, "mutate", {"op": "remove_user", "userid": "erin"})["ok"]
    days = {r["workDate"] for r in oapi.records(["erin"], "2024-03-04", "2024-03-06")["recordresult"]}
    assert days == {ms("2024-03-04 00:00"), ms("2024-03-06 00:00")}  # left today: earlier days stay
    assert ctl(url, "attendance/left", {"userid": "erin", "date": "2024-03-05"})["date"] == "2024-03-05"
    days = {r["workDate"] for r in oapi.records(["erin"], "2024-03-04", "2024-03-06")["recordresult"]}
    assert days == {ms("2024-03-04 00:00")}
    assert ctl(url, "attendance/punch", {"userid": "erin", "time": "2024-03-04 09:00"})["ok"] is False


def test_generated_schedules_with_auto_punch_are_deterministic(oapi):
    url = oapi.url
    cfg = ctl(url, "attendance/config", {"default_schedule": True, "auto_punch": True, "seed": 7})
    assert cfg == {
        "default_schedule": True,
        "auto_punch": True,
        "missing_rate": 0.03,
        "seed": 7,
        "hold_events": False,
    }
    first = oapi.records(PEOPLE[:5], MONDAY, "2024-03-10")["recordresult"]
    assert first == oapi.records(PEOPLE[:5], MONDAY, "2024-03-10")["recordresult"]
    assert len(first) == 50 and {r["workDate"] for r in first} == {
        ms("2024-03-%02d 00:00" % d) for d in range(4, 9)
    }
    signed = [r for r in first if r["timeResult"] != "NotSigned"]
    assert len(signed) >= 40 and all(abs(r["userCheckTime"] - r["baseCheckTime"]) < 1_800_000 for r in signed)
    ctl(url, "attendance/config", {"seed": 8})
    assert brief(oapi.records(PEOPLE[:5], MONDAY, "2024-03-10")["recordresult"]) != brief(first)
    ctl(url, "attendance/config", {"missing_rate": 1.0})
    assert {r["timeResult"] for r in oapi.records(PEOPLE[:5], MONDAY)["recordresult"]} == {"NotSigned"}
    schedule(url, "alice", MONDAY, [["10:00", "19:00"]])  # explicit overrides generated (and no auto punch)
    alice = oapi.records(["alice"], MONDAY)["recordresult"]
    assert alice[0]["baseCheckTime"] == ms(MONDAY + " 10:00") and alice[0]["timeResult"] == "NotSigned"
    assert ctl(url, "attendance/config")["missing_rate"] == 1.0


# ----- leave [KB:API/0238, 0231; EV/0135] ------------------------------------------------------------
def test_vacation_types_need_an_admin(oapi):
    answer = oapi("/topapi/attendance/vacation/type/list", {"op_userid": "boss", "vacation_source": "all"})
    assert answer["errcode"] == 0 and answer["success"] is True
    types = {t["leave_name"]: t for t in answer["result"]}
    assert list(types) == ["年假", "事假", "病假", "调休"]
    assert types["年假"]["leave_view_unit"] == "day" and types["调休"]["biz_type"] == "lieu_leave"
    assert types["病假"]["leave_view_unit"] == "halfDay" and types["事假"]["hours_in_per_day"] == 800
    denied = oapi("/topapi/attendance/vacation/type/list", {"op_userid": "alice", "vacation_source": "all"})
    assert denied["errcode"] == 400002
    new = [{"leave_code": "LEAVE-X", "leave_name": "婚假", "leave_view_unit": "day", "source": "external"}]
    assert [t["leave_code"] for t in ctl(oapi.url, "leave/types", {"types": new})["types"]] == ["LEAVE-X"]
    mine = oapi("/topapi/attendance/vacation/type/list", {"op_userid": "boss", "vacation_source": ""})
    assert [t["leave_name"] for t in mine["result"]] == ["婚假"]


def test_leave_approve_revoke_change(oapi):
    url = oapi.url
    window = (ms("2024-03-01 00:00"), ms("2024-03-31 23:59"))
    body = {
        "userid": "alice",
        "leave_code": "LEAVE-ANNUAL",
        "start": "2024-03-04 09:00",
        "end": "2024-03-05 18:00",
    }
    first = ctl(url, "leave/approve", dict(body, duration_percent=200, push=False))
    answer = oapi.leaves(["alice", "bob"], *window)
    assert answer["success"] is True and answer["result"]["has_more"] is False
    assert answer["result"]["leave_status"] == [
        {
            "userid": "alice",
            "start_time": ms("2024-03-04 09:00"),
            "end_time": ms("2024-03-05 18:00"),
            "duration_unit": "percent_day",
            "duration_percent": 200,
            "leave_code": "LEAVE-ANNUAL",
        }
    ]
    inst = oapi.instance(first["process_instance_id"])["result"]
    assert (inst["originatorUserId"], inst["status"], inst["result"]) == ("alice", "COMPLETED", "agree")
    hours = ctl(
        url, "leave/approve", {**body, "leave_code": "LEAVE-PERSONAL", "duration_percent": 350, "push": False}
    )
    assert [s["duration_unit"] for s in oapi.leaves(["alice"], *window)["result"]["leave_status"]] == [
        "percent_day",
        "percent_hour",
    ]
    assert ctl(url, "leave/revoke", {"id": hours["id"], "push": False})["id"] == hours["id"]
    assert len(oapi.leaves(["alice"], *window)["result"]["leave_status"]) == 1
    assert oapi.instance(hours["process_instance_id"])["result"]["status"] == "TERMINATED"
    changed = ctl(
        url,
        "leave/change",
        {"id": first["id"], "end": "2024-03-04 18:00", "duration_percent": 100, "push": False},
    )
    assert changed["id"] != first["id"] and changed["process_instance_id"] != first["process_instance_id"]
    (entry,) = oapi.leaves(["alice"], *window)["result"]["leave_status"]
    assert (entry["end_time"], entry["duration_percent"]) == (ms("2024-03-04 18:00"), 100)
    new_inst = oapi.instance(changed["process_instance_id"])["result"]
    assert new_inst["mainProcessInstanceId"] == first["process_instance_id"]
    assert oapi.instance(first["process_instance_id"])["result"]["status"] == "TERMINATED"
    states = {v["id"]: v["state"] for v in ctl(url, "leave/list")["leaves"]}
    assert states == {first["id"]: "revoked", hours["id"]: "revoked", changed["id"]: "approved"}
    statuses = [e["status"] for e in ctl(url, "attendance/events", params={"held": 1})["events"]]
    assert statuses == ["start", "finish", "start", "finish", "revoke", "revoke", "finish"]


def test_leave_status_paging_and_limits(oapi):
    url = oapi.url
    for day in range(4, 9):
        start, end = "2024-03-%02d 09:00" % day, "2024-03-%02d 18:00" % day
        body = {
            "userid": "bob",
            "leave_code": "LEAVE-SICK",
            "start": start,
            "end": end,
            "duration_percent": 100,
        }
        ctl(url, "leave/approve", dict(body, push=False))
    start, end = ms("2024-03-01 00:00"), ms("2024-03-31 00:00")
    page = oapi.leaves(["bob"], start, end, offset=0, size=3)["result"]
    rest = oapi.leaves(["bob"], start, end, offset=3, size=3)["result"]
    assert (len(page["leave_status"]), page["has_more"], len(rest["leave_status"]), rest["has_more"]) == (
        3,
        True,
        2,
        False,
    )
    assert oapi.leaves(["bob"], ms("2024-03-06 00:00"), ms("2024-03-06 23:59"))["result"]["leave_status"][0][
        "start_time"
    ] == ms("2024-03-06 09:00")
    for answer in (
        oapi.leaves(["u%d" % n for n in range(101)], start, end),
        oapi.leaves(["bob"], start, start + 181 * 86_400_000),
        oapi.leaves(["bob"], start, end, size=21),
    ):
        assert answer["errcode"] == 400002


# ----- events [KB:EV/0125, EV/0261, EV/0135] ----------------------------------------------------------
def test_events_held_with_their_fields(oapi):
    url = oapi.url
    assert ctl(url, "attendance/config", {"hold_events": True})["hold_events"] is True
    schedule(url, "alice", MONDAY, [["09:00", "18:00"]])
    ctl(url, "attendance/punch", {"userid": "alice", "time": MONDAY + " 08:59"})
    ctl(url, "attendance/punch", {"userid": "alice", "time": MONDAY + " 08:59"})  # same minute: one event
    ctl(
        url,
        "attendance/correct",
        {"userid": "alice", "date": MONDAY, "check_type": "OffDuty", "time": MONDAY + " 18:00"},
    )
    leave = ctl(
        url,
        "leave/approve",
        {
            "userid": "bob",
            "leave_code": "LEAVE-LIEU",
            "start": MONDAY + " 09:00",
            "end": MONDAY + " 12:00",
            "duration_percent": 300,
        },
    )
    held = ctl(url, "attendance/events", params={"held": 1})["events"]
    assert ctl(url, "attendance/events", params={"held": 0})["events"] == []
    checks = [e for e in held if e["EventType"] == "attendance_check_record"]
    assert [e["dataList"][0]["checkByUser"] for e in checks] == [True, False]
    item = checks[0]["dataList"][0]
    assert set(item) >= {"userId", "checkTime", "groupId", "bizId", "locationResult", "checkByUser", "corpId"}
    assert (item["userId"], item["checkTime"], item["corpId"]) == ("alice", ms(MONDAY + " 08:59"), CORP_ID)
    approvals = [e for e in held if e["EventType"] == "attendance_approve_status_change"]
    assert [e["status"] for e in approvals] == ["start", "finish"]
    assert all(
        (e["approveType"], e["processCode"], e["processInstanceId"], e["mainProcessInstanceId"], e["corpId"])
        == (
            "LEAVE",
            "PROC-SANDBOX-LEAVE",
            leave["process_instance_id"],
            leave["process_instance_id"],
            CORP_ID,
        )
        for e in approvals
    )


def test_events_pushed_to_the_callback(oapi):
    url = oapi.url
    receiver = Receiver(APP_KEY)
    try:
        cfg = {"url": receiver.url, "token": receiver.TOKEN, "aes_key": receiver.AES_KEY, "auto_push": True}
        assert ctl(url, "callback", cfg)["ok"]
        schedule(url, "alice", MONDAY, [["09:00", "18:00"]])
        ctl(url, "attendance/punch", {"userid": "alice", "time": MONDAY + " 09:01"})
        deadline = time.monotonic() + 5
        while len(receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        pushed = {p["EventType"]: p for _q, p in receiver.received}
        assert set(pushed) == {"attendance_schedule_change", "attendance_check_record"}
        payload = pushed["attendance_check_record"]
        assert payload["CorpId"] == CORP_ID
        assert payload["dataList"][0]["checkTime"] == ms(MONDAY + " 09:01")
        change = pushed["attendance_schedule_change"]["dataList"][0]
        assert change["userIds"] == ["alice"] and change["type"] == "modify"
        assert change["workDateBegin"] == change["workDateEnd"] == ms(MONDAY + " 00:00")
    finally:
        receiver.close()


def test_reset_forgets_attendance(oapi):
    schedule(oapi.url, "alice", MONDAY, [["09:00", "18:00"]])
    assert ctl(oapi.url, "reset", {"org": ORG})["ok"]
    assert oapi.records(["alice"], MONDAY)["recordresult"] == []
