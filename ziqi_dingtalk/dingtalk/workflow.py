"""DingTalk official OA approval (官方OA审批) v1.0: templates, form schemas, process instances.

Plain Python over :class:`~dingtalk.client.DingTalkClient` (never imports odoo). Facts and their source
tags are in docs/dingtalk-approval-protocol.md (§n below). API errors surface as the client's typed
:class:`~dingtalk.errors.APIError` with ``errcode`` = the DingTalk ``code`` string (§3).

Every datetime returned is naive UTC: v1.0 string times such as ``2022-08-31T11:52Z`` carry Beijing wall
time despite the ``Z`` (§2.2 and §10 point 3, evidence [OBS3]), so 8 hours are taken off; event
millisecond timestamps are true epoch times.
"""

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Iterator
from urllib.parse import quote

from .workflow_forms import FormValueError, encode_form_values

__all__ = [
    "Component",
    "FormSchema",
    "FormValueError",
    "OperationRecord",
    "ProcessInstance",
    "Task",
    "Template",
    "WorkflowClient",
    "encode_form_values",
    "instance_url",
]

TEMPLATES_PATH = "/v1.0/workflow/processes/userVisibilities/templates"  # [KB:API/0494]
SCHEMA_PATH = "/v1.0/workflow/forms/schemas/processCodes"  # [KB:API/0492]
INSTANCES_PATH = "/v1.0/workflow/processInstances"  # start POST [KB:API/0497], get GET [KB:API/0498]
TERMINATE_PATH = "/v1.0/workflow/processInstances/terminate"  # [KB:API/0499]
COMMENTS_PATH = "/v1.0/workflow/processInstances/comments"  # [KB:API/0500]
TEMPLATES_PAGE = 100  # [KB:API/0494] maxResults ≤100
BEIJING = datetime.timedelta(hours=8)
INSTANCE_URL = (
    "https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?corpid={corp}&dd_share=false&showmenu=false"
    "&dd_progress=false&back=native&procInstId={id}&taskId=&swfrom=isv&dinghash=approval&dtaction=os"
    "&dd_from=corp#approval"
)  # §8, the event url seen in 2023 [OBS2]


@dataclasses.dataclass(frozen=True)
class Component:
    id: str
    label: str
    type: str
    required: bool
    options: tuple[str, ...]
    format: str
    children: tuple["Component", ...]


@dataclasses.dataclass(frozen=True)
class Template:
    process_code: str
    name: str
    icon_url: str
    dir_name: str
    url: str


@dataclasses.dataclass(frozen=True)
class FormSchema:
    process_code: str
    name: str
    status: str
    components: tuple[Component, ...]

    @property
    def enabled(self):
        """PUBLISHED 启用 (INVALID 停用, SAVED 草稿) [KB:API/0492]."""
        return self.status == "PUBLISHED"


@dataclasses.dataclass(frozen=True)
class Task:
    task_id: int
    userid: str
    status: str
    result: str
    activity_id: str
    create_time: datetime.datetime | None
    finish_time: datetime.datetime | None
    pc_url: str
    mobile_url: str


@dataclasses.dataclass(frozen=True)
class OperationRecord:
    userid: str
    date: datetime.datetime | None
    type: str
    result: str
    remark: str
    activity_id: str
    show_name: str

    @property
    def key(self):
        """Stable identity of the record (records have no id [KB:API/0498]): for de-duplication."""
        date = self.date.isoformat() if self.date else ""
        digest = hashlib.sha1(self.remark.encode()).hexdigest()[:16]
        return f"{self.type}|{self.userid}|{self.activity_id}|{date}|{self.result}|{digest}"


@dataclasses.dataclass(frozen=True)
class ProcessInstance:
    instance_id: str
    title: str
    business_id: str
    status: str
    result: str
    originator_userid: str
    create_time: datetime.datetime | None
    finish_time: datetime.datetime | None
    tasks: tuple[Task, ...]
    records: tuple[OperationRecord, ...]
    raw: dict

    # status RUNNING / TERMINATED / COMPLETED, result agree / refuse ("" while running) [KB:API/0498]
    @property
    def running(self):
        return self.status == "RUNNING"

    @property
    def approved(self):
        return self.status == "COMPLETED" and self.result == "agree"

    @property
    def refused(self):
        return self.status == "COMPLETED" and self.result == "refuse"

    @property
    def terminated(self):
        return self.status == "TERMINATED"


def _parse_time(value):
    """Naive UTC from a v1.0 string time (Beijing wall clock labelled Z, §2.2), a legacy
    ``yyyy-MM-dd HH:mm:ss`` (Beijing, §9) or epoch milliseconds (events, §7.2)."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value / 1000, datetime.UTC).replace(tzinfo=None)
    text = str(value).strip()
    if text.isdigit():
        return _parse_time(int(text))
    for fmt in ("%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.datetime.strptime(text, fmt) - BEIJING
        except ValueError:
            continue
    return None


def _option(value):
    """An option text; [TP1] shows options sent as JSON object strings ``{"value", "key"}`` (§4, §10.5)."""
    if isinstance(value, dict):
        return str(value.get("value", ""))
    text = str(value)
    if text.startswith("{"):
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        if isinstance(decoded, dict) and "value" in decoded:
            return str(decoded["value"])
    return text


def _component(item):
    props = item.get("props") or {}
    return Component(
        id=str(props.get("id") or ""),
        label=str(props.get("label") or ""),
        type=str(item.get("componentName") or ""),
        required=bool(props.get("required")),
        options=tuple(_option(o) for o in props.get("options") or ()),
        format=str(props.get("format") or ""),
        children=tuple(_component(c) for c in item.get("children") or ()),
    )


def _task(raw):
    return Task(
        task_id=int(raw.get("taskId") or 0),
        userid=str(raw.get("userId") or ""),
        status=str(raw.get("status") or ""),
        result=str(raw.get("result") or ""),
        activity_id=str(raw.get("activityId") or ""),
        create_time=_parse_time(raw.get("createTime")),
        finish_time=_parse_time(raw.get("finishTime")),
        pc_url=str(raw.get("pcUrl") or ""),
        mobile_url=str(raw.get("mobileUrl") or ""),
    )


def _record(raw):
    return OperationRecord(
        userid=str(raw.get("userId") or ""),
        date=_parse_time(raw.get("date")),
        type=str(raw.get("type") or ""),
        result=str(raw.get("result") or ""),
        remark=str(raw.get("remark") or ""),
        activity_id=str(raw.get("activityId") or ""),
        show_name=str(raw.get("showName") or ""),
    )


class WorkflowClient:
    """The approval endpoints on top of a :class:`~dingtalk.client.DingTalkClient`."""

    def __init__(self, client):
        self.client = client

    def iter_templates(self, userid=None) -> Iterator[Template]:
        """Every form visible to ``userid``, or every form of the organisation when None [KB:API/0494];
        pages of 100 while the answer carries a ``nextToken``."""
        token = 0
        while True:
            params = {"maxResults": TEMPLATES_PAGE, "nextToken": token}
            if userid:
                params["userId"] = userid
            result = self.client.api("GET", TEMPLATES_PATH, params=params).get("result") or {}
            for raw in result.get("processList") or ():
                yield Template(
                    process_code=str(raw.get("processCode") or ""),
                    name=str(raw.get("name") or ""),
                    icon_url=str(raw.get("iconUrl") or ""),
                    dir_name=str(raw.get("dirName") or ""),
                    url=str(raw.get("url") or ""),
                )
            following = result.get("nextToken")
            if following in (None, "") or str(following) == str(token):
                return
            token = int(following)

    def form_schema(self, process_code) -> FormSchema:
        """The form of a template [KB:API/0492] (``schemaContent.items``)."""
        body = self.client.api("GET", SCHEMA_PATH, params={"processCode": process_code})
        result = body.get("result") or {}
        items = (result.get("schemaContent") or {}).get("items") or ()
        return FormSchema(
            process_code=str(result.get("formCode") or process_code),
            name=str(result.get("name") or ""),
            status=str(result.get("status") or ""),
            components=tuple(_component(i) for i in items),
        )

    def start(self, process_code, originator_userid, dept_id, form_values, agent_id=None) -> str:
        """Start an instance with the template's own flow [KB:API/0497]; ``form_values`` as returned by
        :func:`encode_form_values`; ``dept_id`` -1 = root. Returns the instanceId."""
        body = {
            "processCode": process_code,
            "originatorUserId": originator_userid,
            "deptId": int(dept_id),
            "formComponentValues": list(form_values),
        }
        if agent_id is not None:
            body["microappAgentId"] = int(agent_id)
        return str(self.client.api("POST", INSTANCES_PATH, json=body)["instanceId"])

    def get(self, instance_id) -> ProcessInstance:
        """One instance [KB:API/0498]; ``success`` may be the string "true" or a boolean (§2.2)."""
        body = self.client.api("GET", INSTANCES_PATH, params={"processInstanceId": instance_id})
        raw = body.get("result") or {}
        return ProcessInstance(
            instance_id=str(instance_id),
            title=str(raw.get("title") or ""),
            business_id=str(raw.get("businessId") or ""),
            status=str(raw.get("status") or ""),
            result=str(raw.get("result") or ""),
            originator_userid=str(raw.get("originatorUserId") or ""),
            create_time=_parse_time(raw.get("createTime")),
            finish_time=_parse_time(raw.get("finishTime")),
            tasks=tuple(_task(t) for t in raw.get("tasks") or ()),
            records=tuple(_record(r) for r in raw.get("operationRecords") or ()),
            raw=raw,
        )

    def terminate(self, instance_id, remark="", operating_userid=None):
        """撤销 [KB:API/0499]: by the system when ``operating_userid`` is None, else by that user, who must
        be the originator. DingTalk refuses within 15 s of the start and on finished instances."""
        body = {"processInstanceId": instance_id, "isSystem": operating_userid is None, "remark": remark}
        if operating_userid is not None:
            body["operatingUserId"] = operating_userid
        self.client.api("POST", TERMINATE_PATH, json=body)

    def comment(self, instance_id, text, userid):
        """Add a comment as ``userid`` [KB:API/0500] (an ADD_REMARK record)."""
        body = {"processInstanceId": instance_id, "text": text, "commentUserId": userid}
        self.client.api("POST", COMMENTS_PATH, json=body)


def instance_url(corp_id, instance_id) -> str:
    """The open-in-DingTalk URL of an instance (§8, as in the events' ``url`` [OBS2])."""
    return INSTANCE_URL.format(corp=quote(str(corp_id), safe=""), id=quote(str(instance_id), safe=""))
