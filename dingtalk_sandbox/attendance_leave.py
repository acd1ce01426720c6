"""Leave (假期) of the sandbox: leave types [KB:API/0238] and approved leaves [KB:API/0231], each backed by an
approval instance of the sandbox's workflow state (GET /v1.0/workflow/processInstances answers it) and told
by ``attendance_approve_status_change`` events [KB:EV/0135]. Held on ``sb.attendance.leave``; callers hold
``sb.lock``. Invariants: a leave is ``approved`` or ``revoked``; only approved ones are listed by
getleavestatus; a change revokes the leave and approves a new one (new id, new instance whose
mainProcessInstanceId is the old instance)."""

import itertools
import json

from . import events

PROCESS_CODE = "PROC-SANDBOX-LEAVE"
UNITS = {"day": "percent_day", "halfDay": "percent_day", "hour": "percent_hour"}
DEFAULT_TYPES = [  # leave_code: ASSUMPTION (real ones are opaque ids such as 037477sdfsxxxx)
    {"leave_code": "LEAVE-ANNUAL", "leave_name": "年假", "leave_view_unit": "day"},
    {"leave_code": "LEAVE-PERSONAL", "leave_name": "事假", "leave_view_unit": "hour"},
    {"leave_code": "LEAVE-SICK", "leave_name": "病假", "leave_view_unit": "halfDay"},
    {"leave_code": "LEAVE-LIEU", "leave_name": "调休", "leave_view_unit": "hour", "biz_type": "lieu_leave"},
]
TYPE_DEFAULTS = {
    "leave_view_unit": "day",
    "biz_type": "general_leave",
    "hours_in_per_day": 800,  # hours × 100: a day of 8 hours
    "natural_day_leave": "false",
    "source": "inner",  # inner: made in the OA admin; external: by the open API
    "validity_type": "absolute_time",
    "validity_value": "12-31",
}


def make_type(vals):
    """A leave type with the fields of [KB:API/0238]; ``leave_code`` and ``leave_name`` required."""
    if not vals.get("leave_code") or not vals.get("leave_name"):
        raise ValueError("a leave type needs leave_code and leave_name")
    out = dict(TYPE_DEFAULTS, **{k: v for k, v in vals.items() if v is not None})
    if out["leave_view_unit"] not in UNITS:
        raise ValueError("leave_view_unit must be day, halfDay or hour")
    out["hours_in_per_day"] = int(out["hours_in_per_day"])
    return out


class Leave:
    """Leave types (in order) and leaves (id → dict)."""

    def __init__(self):
        self.types = [make_type(t) for t in DEFAULT_TYPES]
        self.leaves = {}
        self._ids = itertools.count(1)

    def set_types(self, types):
        made = [make_type(dict(t)) for t in types]
        if len({t["leave_code"] for t in made}) != len(made):
            raise ValueError("leave_code must be unique")
        self.types = made

    def type_of(self, code):
        found = next((t for t in self.types if t["leave_code"] == code), None)
        if found is None:
            raise ValueError("unknown leave_code %r" % code)
        return found

    def list_types(self, source):
        """vacation_source "all": every type; "": those the open API made (source external) [KB:API/0238]."""
        return [dict(t) for t in self.types if source == "all" or t["source"] == "external"]

    # ----- approving, revoking, changing -----------------------------------------------------------
    def approve(self, org, wf, spec, fmt, main=None):
        """``spec``: userid, leave_code, start, end (ms), duration_percent, duration_unit|None. Returns the
        leave and its events (start then finish [KB:EV/0135])."""
        kind = self.type_of(spec["leave_code"])
        if spec["end"] <= spec["start"]:
            raise ValueError("a leave ends after it starts")
        unit = spec.get("duration_unit") or UNITS[kind["leave_view_unit"]]
        if unit not in ("percent_day", "percent_hour"):
            raise ValueError("duration_unit must be percent_day or percent_hour")
        values = [_holiday_field(spec, kind, unit, fmt)]
        main_id = main["process_instance_id"] if main else ""
        inst = wf.register(org, spec["userid"], PROCESS_CODE, kind["leave_name"] + "申请", values, main_id)
        leave = {
            "id": next(self._ids),
            "userid": spec["userid"],
            "leave_code": kind["leave_code"],
            "start_time": spec["start"],
            "end_time": spec["end"],
            "duration_percent": int(spec["duration_percent"]),
            "duration_unit": unit,
            "state": "approved",
            "process_instance_id": inst["id"],
            "main_process_instance_id": main_id or inst["id"],
        }
        self.leaves[leave["id"]] = leave
        statuses = ("finish",) if main else ("start", "finish")  # a change: only the new one's finish
        return leave, [self.event(leave, s, org.corp_id) for s in statuses]

    def get(self, leave_id):
        leave = self.leaves.get(int(leave_id))
        if leave is None or leave["state"] != "approved":
            raise ValueError("no approved leave %r" % leave_id)
        return leave

    def revoke(self, org, wf, leave):
        """撤销: the instance TERMINATED (ASSUMPTION: its result stays agree), the leave no longer listed."""
        leave["state"] = "revoked"
        inst = wf.instances.get(leave["process_instance_id"])
        if inst is not None:
            wf.terminate(org, inst, leave["userid"], "")  # its bpms event is not sent: not an OA form
        return [self.event(leave, "revoke", org.corp_id)]

    def change(self, org, wf, leave, changes, fmt):
        """DingTalk changes an approved leave by a new approval (请假变更): the old one revoked, a new one."""
        kind_changed = changes.get("leave_code") not in (None, leave["leave_code"])
        keep_unit = None if kind_changed else leave["duration_unit"]  # a new type: its own unit
        spec = {
            "userid": leave["userid"],
            "leave_code": changes.get("leave_code") or leave["leave_code"],
            "start": changes.get("start") or leave["start_time"],
            "end": changes.get("end") or leave["end_time"],
            "duration_percent": changes.get("duration_percent") or leave["duration_percent"],
            "duration_unit": changes.get("duration_unit") or keep_unit,
        }
        self.type_of(spec["leave_code"])  # refuse before revoking anything
        produced = self.revoke(org, wf, leave)
        new, more = self.approve(org, wf, spec, fmt, main=leave)
        return new, produced + more

    # ----- answers -------------------------------------------------------------------------------
    def status(self, userids, start, end):
        """Approved leaves of ``userids`` overlapping [start, end], by (userid, start_time, id)."""
        wanted = set(userids)
        found = [
            v
            for v in self.leaves.values()
            if v["state"] == "approved" and v["userid"] in wanted and v["start_time"] <= end
            if v["end_time"] >= start
        ]
        found.sort(key=lambda v: (v["userid"], v["start_time"], v["id"]))
        keys = ("userid", "start_time", "end_time", "duration_unit", "duration_percent", "leave_code")
        return [{k: v[k] for k in keys} for v in found]

    @staticmethod
    def event(leave, status, corp_id):
        """attendance_approve_status_change [KB:EV/0135]; ASSUMPTION (protocol §4): status start|finish|
        revoke|delete; a fresh leave's mainProcessInstanceId is its own instance (as in the page's sample)."""
        return events.make_event(
            "attendance_approve_status_change",
            approveType="LEAVE",
            processInstanceId=leave["process_instance_id"],
            mainProcessInstanceId=leave["main_process_instance_id"],
            processCode=PROCESS_CODE,
            status=status,
            corpId=corp_id,
        )


def _holiday_field(spec, kind, unit, fmt):
    """The leave form's DDHolidayField. ASSUMPTION: value ``[start, end, duration, unit, leave name, label]``
    as OA leave forms show it (not on the KB pages)."""
    amount = int(spec["duration_percent"]) / 100
    value = [fmt(spec["start"]), fmt(spec["end"]), amount, unit[len("percent_") :], kind["leave_name"]]
    value.append("请假类型")
    return {
        "id": "DDHolidayField-sandbox",
        "name": '["开始时间","结束时间"]',
        "value": json.dumps(value, ensure_ascii=False),
        "componentType": "DDHolidayField",
        "bizAlias": "",
    }
