"""The official OA approval (官方OA审批) of the sandbox: templates, instances, tasks and their events.

Sources are the tags of docs/dingtalk-approval-protocol.md. State lives on ``sb.workflow`` and every method
of :class:`Workflow` expects the caller to hold ``sb.lock``; the methods that change an instance return
the events they produce (camel dialect of events.py, business keys of [KB:EV/0039, EV/0038]).

Flow semantics: an instance walks its steps ``{"actionType": NONE|AND|OR, "userIds"}`` [KB:API/0497]: NONE
one approver, AND (会签) every approver must agree, OR (或签) the first one decides and the others' tasks are
CANCELED with a ``bpms_task_change`` type ``cancel`` [KB:EV/0258]. The last step agreed → COMPLETED/agree;
a refuse anywhere → COMPLETED/refuse (FINISH_PROCESS_INSTANCE) [KB:API/0498].
"""

import datetime
import itertools
import time
import uuid

from . import events
from .errors import ApiError
from .workflow_forms import DEFAULT_TEMPLATES, make_template

CST = datetime.timezone(datetime.timedelta(hours=8))
DEFAULT_CONFIG = {
    "terminate_min_age": 15.0,  # [KB:API/0499] not within 15 s of start
    "hold_events": False,  # events of API calls kept back (GET /_sandbox/approval/events) instead of sent
    "get_success": "string",  # [KB:API/0498] doc example "true"; "bool": true as observed [OBS3]
}
INSTANCE_URL = (
    "https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?corpid={corp}&dd_share=false&showmenu=false"
    "&dd_progress=false&back=native&procInstId={id}&taskId=&swfrom=isv&dinghash=approval&dtaction=os"
    "&dd_from=corp#approval"
)  # the event url as seen in 2023 [OBS2] (docs §8)


def api_time(epoch):
    """v1.0 string time ``2022-08-31T11:52Z``: minute precision, Beijing wall clock despite the ``Z`` — the
    doc's evidence (§2.2, [OBS3]: createTime matches businessId and the UTC+8 clock)."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, CST).strftime("%Y-%m-%dT%H:%MZ")


def ms(epoch):
    return None if epoch is None else int(epoch * 1000)


class Workflow:
    """Templates (process_code → dict), instances (id → dict), settings, and the log of produced events."""

    def __init__(self, next_task_id):
        self.next_task_id = next_task_id  # the Sandbox's task-id sequence (ints, as tasks[].taskId)
        self.config = dict(DEFAULT_CONFIG)
        self._seq = itertools.count(1)
        self.reset()

    def reset(self):
        """Instances and the event log forgotten, templates back to the defaults (settings stay)."""
        self.templates = {t["process_code"]: make_template(t) for t in DEFAULT_TEMPLATES}
        self.instances = {}
        self.log = []

    def configure(self, body):
        for key, default in DEFAULT_CONFIG.items():
            if key in body:
                value = body[key]
                self.config[key] = type(default)(value) if not isinstance(default, str) else str(value)
        if self.config["get_success"] not in ("string", "bool"):
            self.config["get_success"] = "string"
        return dict(self.config)

    # ----- start [KB:API/0497] --------------------------------------------------------------------
    def create(self, org, tpl, user, dept_id, values, steps):
        now = time.time()
        inst_id = str(uuid.uuid4())
        stamp = datetime.datetime.fromtimestamp(now, CST).strftime("%Y%m%d%H%M")
        dept = org.depts.get(1 if dept_id == -1 else dept_id) or {}
        inst = {
            "id": inst_id,
            "process_code": tpl["process_code"],
            "title": "%s提交的%s" % (user.name, tpl["name"]),  # as the client shows it: "<name>提交的<form>"
            "business_id": "%s%06d" % (stamp, next(self._seq)),  # 审批编号: yyyyMMddHHmm + digits [OBS3]
            "originator": user.userid,
            "dept_id": "-1" if dept_id in (-1, 1) else str(dept_id),  # [KB:API/0498] "-1" = root
            "dept_name": dept.get("name", ""),
            "status": "RUNNING",
            "result": "",
            "created": now,
            "finished": None,
            "values": values,
            "steps": steps,
            "step": 0,
            "tasks": [],
            "records": [],
            "biz_category_id": tpl.get("biz_category_id", ""),
        }
        self.instances[inst_id] = inst
        self._record(inst, user.userid, "START_PROCESS_INSTANCE", "NONE", "", now)
        produced = [self.instance_event(inst, "start", org.corp_id)]
        produced += self._open_step(inst, now)
        return inst, produced

    def register(self, org, userid, process_code, title, values, main_id=""):
        """An instance approved outside the templates (a leave of attendance_leave.py), so that GET
        processInstances answers it: COMPLETED/agree, no steps, tasks or bpms events (the attendance app sends
        its own); ``main_id`` is the instance it replaces (mainProcessInstanceId). ASSUMPTION: the approver is
        not modelled, the originator's records only."""
        now = time.time()
        user = org.users[userid]
        dept = org.depts.get(user.dept_id_list[0]) or {}
        inst_id = str(uuid.uuid4())
        stamp = datetime.datetime.fromtimestamp(now, CST).strftime("%Y%m%d%H%M")
        inst = {
            "id": inst_id,
            "process_code": process_code,
            "title": "%s提交的%s" % (user.name, title),
            "business_id": "%s%06d" % (stamp, next(self._seq)),
            "originator": userid,
            "dept_id": "-1" if user.dept_id_list[0] == 1 else str(user.dept_id_list[0]),
            "dept_name": dept.get("name", ""),
            "status": "COMPLETED",
            "result": "agree",
            "created": now,
            "finished": now,
            "values": values,
            "steps": [],
            "step": 0,
            "tasks": [],
            "records": [],
            "biz_category_id": "",
            "main_id": main_id,
        }
        self.instances[inst_id] = inst
        self._record(inst, userid, "START_PROCESS_INSTANCE", "NONE", "", now)
        self._record(inst, userid, "FINISH_PROCESS_INSTANCE", "AGREE", "", now)
        return inst

    def default_flow(self, org, tpl, userid):
        """The template flow; none set: the originator's manager, else the first other active person."""
        if tpl["flow"]:
            return [dict(s, userIds=list(s["userIds"])) for s in tpl["flow"]]
        user = org.active_user(userid)
        manager = user and user.manager_userid and org.active_user(user.manager_userid)
        if manager and manager.userid != userid:
            return [{"actionType": "NONE", "userIds": [manager.userid]}]
        other = next((u for u in org.users.values() if not u.left and u.active and u.userid != userid), None)
        if other is None:
            raise ApiError(400, "processInstanceStartFailed", "没有可用的审批人")
        return [{"actionType": "NONE", "userIds": [other.userid]}]

    def _open_step(self, inst, now):
        step = inst["steps"][inst["step"]]
        produced = []
        for userid in step["userIds"]:
            task = {
                "taskId": self.next_task_id(),
                "userId": userid,
                "status": "RUNNING",
                "result": "NONE",  # [OBS3] open tasks
                "created": now,
                "finished": None,
                "activityId": "node_%d" % (inst["step"] + 1),
                "step": inst["step"],
                "remark": "",
            }
            inst["tasks"].append(task)
            produced.append(self.task_event(inst, task, "start"))
        return produced

    # ----- acting on a task [KB:API/0506] ---------------------------------------------------------------
    def open_task(self, inst, userid, task_id=None):
        for task in inst["tasks"]:
            mine = task["status"] == "RUNNING" and task["userId"] == userid
            if mine and (task_id is None or int(task_id) == task["taskId"]):
                return task
        return None

    def act(self, org, inst, task, result, remark):
        """``task`` agreed or refused (``result`` agree|refuse); the events it produces."""
        now = time.time()
        task.update(status="COMPLETED", result=result.upper(), finished=now, remark=remark or "")
        self._record(inst, task["userId"], "EXECUTE_TASK_NORMAL", result.upper(), remark, now, task)
        produced = [self.task_event(inst, task, "finish", result=result, remark=remark or "")]
        step = inst["steps"][inst["step"]]
        siblings = [t for t in inst["tasks"] if t["step"] == inst["step"] and t["status"] == "RUNNING"]
        if result == "refuse" or step["actionType"] == "OR":
            for other in siblings:  # 或签: the others' tasks are canceled and told so [KB:EV/0258]
                other.update(status="CANCELED", finished=now)
                if step["actionType"] == "OR":
                    produced.append(self.task_event(inst, other, "cancel"))
            siblings = []
        if result == "refuse":
            return produced + self._finish(org, inst, "refuse", now, task["userId"])
        if siblings:  # 会签: others still to agree
            return produced
        if inst["step"] + 1 < len(inst["steps"]):
            inst["step"] += 1
            return produced + self._open_step(inst, now)
        return produced + self._finish(org, inst, "agree", now, task["userId"])

    def _finish(self, org, inst, result, now, userid):
        inst.update(status="COMPLETED", result=result, finished=now)
        self._record(inst, userid, "FINISH_PROCESS_INSTANCE", result.upper(), "", now)
        return [self.instance_event(inst, "finish", org.corp_id, result=result)]

    def terminate(self, org, inst, userid, remark):
        """撤销 [KB:API/0499]: TERMINATED, open tasks CANCELED, ``bpms_instance_change`` type terminate, no
        result [KB:EV/0258]."""
        now = time.time()
        inst.update(status="TERMINATED", finished=now)
        for task in inst["tasks"]:
            if task["status"] == "RUNNING":
                task.update(status="CANCELED", finished=now)
        self._record(inst, userid, "TERMINATE_PROCESS_INSTANCE", "NONE", remark, now)
        return [self.instance_event(inst, "terminate", org.corp_id)]

    def comment(self, inst, userid, text):
        """评论 [KB:API/0500]: an ADD_REMARK operation record; no event (current docs name none)."""
        self._record(inst, userid, "ADD_REMARK", "NONE", text, time.time())

    def _record(self, inst, userid, kind, result, remark, when, task=None):
        inst["records"].append(
            {
                "userId": userid,
                "date": when,
                "type": kind,
                "result": result,
                "remark": remark or "",
                "activityId": task["activityId"] if task else "",
                "showName": _SHOW_NAMES.get(kind, ""),
            }
        )

    # ----- events [KB:EV/0039, EV/0038; docs §7.2] --------------------------------------------------------
    def _event(self, kind, inst, **keys):
        base = {
            "processInstanceId": inst["id"],
            "processCode": inst["process_code"],
            "title": inst["title"],
            "businessId": inst["business_id"],
            "bizCategoryId": inst["biz_category_id"],
            "businessType": "",
        }
        event = events.make_event(kind, **base, **{k: v for k, v in keys.items() if v is not None})
        return event

    def instance_event(self, inst, kind, corp_id, result=None):
        """staffId = the originator; result only on finish; finishTime on finish/terminate."""
        return self._event(
            "bpms_instance_change",
            inst,
            type=kind,
            result=result,
            staffId=inst["originator"],
            url=INSTANCE_URL.format(corp=corp_id, id=inst["id"]),
            createTime=ms(inst["created"]),
            finishTime=ms(inst["finished"]) if kind != "start" else None,
        )

    def task_event(self, inst, task, kind, result=None, remark=None):
        """staffId = the approver; createTime = the task's creation (as the ISV twin documents)."""
        return self._event(
            "bpms_task_change",
            inst,
            type=kind,
            result=result,
            staffId=task["userId"],
            taskId=task["taskId"],
            remark=remark,
            createTime=ms(task["created"]),
            finishTime=ms(task["finished"]) if kind != "start" else None,
        )

    # ----- answers ---------------------------------------------------------------------------------
    def instance_json(self, inst):
        """``result`` of GetProcessInstance [KB:API/0498]."""
        out = {
            "title": inst["title"],
            "businessId": inst["business_id"],
            "bizData": "",
            "originatorUserId": inst["originator"],
            "originatorDeptId": inst["dept_id"],
            "originatorDeptName": inst["dept_name"],
            "status": inst["status"],
            "result": inst["result"],
            "createTime": api_time(inst["created"]),
            "approverUserIds": sorted({u for s in inst["steps"] for u in s["userIds"]}),
            "ccUserIds": [],
            "bizAction": "NONE",
            "attachedProcessInstanceIds": [],
            "mainProcessInstanceId": inst.get("main_id", ""),
            "formComponentValues": [dict(v) for v in inst["values"]],
            "operationRecords": [_record_json(r) for r in inst["records"]],
            "tasks": [_task_json(inst, t) for t in inst["tasks"]],
        }
        if inst["finished"] is not None:
            out["finishTime"] = api_time(inst["finished"])
        return out

    def state_json(self, inst):
        """The control API's view: the GetProcessInstance result plus the sandbox's own bookkeeping."""
        return dict(
            self.instance_json(inst),
            processInstanceId=inst["id"],
            processCode=inst["process_code"],
            steps=inst["steps"],
            currentStep=inst["step"],
        )


_SHOW_NAMES = {"START_PROCESS_INSTANCE": "发起审批", "EXECUTE_TASK_NORMAL": "审批人", "ADD_REMARK": "评论"}


def _record_json(rec):
    out = {k: v for k, v in rec.items() if k != "date"}
    out.update(date=api_time(rec["date"]), attachments=[], ccUserIds=[], images=[])
    if not out["remark"]:
        out.pop("remark")  # remark? [KB:API/0498]
    return out


def _task_json(inst, task):
    url = "aflow.dingtalk.com?procInsId=%s&taskId=%d&businessId=%s" % (  # scheme-less, as observed [OBS3]
        inst["id"],
        task["taskId"],
        inst["business_id"],
    )
    out = {
        "taskId": task["taskId"],
        "userId": task["userId"],
        "status": task["status"],
        "result": task["result"],
        "createTime": api_time(task["created"]),
        "mobileUrl": url,
        "pcUrl": url,
        "processInstanceId": inst["id"],
        "activityId": task["activityId"],
        "taskGroupName": "",
    }
    if task["finished"] is not None:
        out["finishTime"] = api_time(task["finished"])
    return out
