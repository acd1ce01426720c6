"""The sandbox's official OA approval (dingtalk_sandbox/workflow*.py) against
docs/dingtalk-approval-protocol.md.

Each test runs ``python -m dingtalk_sandbox`` (conftest's ``sandbox`` fixture), loads a small organisation
through ``/_sandbox/reset`` and talks to ``/v1.0/workflow/...`` as an app would.
"""

import json
import re
import time

import pytest
import requests
import websocket
from fakes import CallbackReceiver as Receiver

APP_KEY, APP_SECRET, CORP_ID = "dingsandboxappkey0001", "sandbox-app-secret", "dingsandboxcorp0001"
PURCHASE, EXPENSE, DISABLED = "PROC-SANDBOX-PURCHASE", "PROC-SANDBOX-EXPENSE", "PROC-SANDBOX-OLDLEAVE"
INSTANCES = "/v1.0/workflow/processInstances"
TEMPLATES = "/v1.0/workflow/processes/userVisibilities/templates"
SCHEMA = "/v1.0/workflow/forms/schemas/processCodes"
USERS = [
    ("boss", [1], None),
    ("mgr", [2], "boss"),
    ("alice", [2], "mgr"),
    ("bob", [2], "mgr"),
    ("carol", [2], "mgr"),
    ("dave", [3], "mgr"),
    ("erin", [3], "mgr"),
    ("loner", [3], None),
]
ORG = {
    "departments": [
        {"dept_id": 1, "name": "公司"},
        {"dept_id": 2, "name": "研发部", "parent_id": 1},
        {"dept_id": 3, "name": "销售部", "parent_id": 1},
    ],
    "users": [
        {"userid": u, "unionid": "un" + u, "name": u.title(), "dept_id_list": d, "manager_userid": m}
        for u, d, m in USERS
    ]
    + [{"userid": "gone", "unionid": "ungone", "name": "Gone", "dept_id_list": [2], "left": True}],
}
REQUIRED = [{"name": "采购事由", "value": "买电脑"}, {"name": "采购金额", "value": "1200.50"}]


def ctl(url, path, body=None, params=None):
    if body is None:
        return requests.get(f"{url}/_sandbox/{path}", params=params, timeout=10).json()
    return requests.post(f"{url}/_sandbox/{path}", json=body, timeout=10).json()


class Api:
    def __init__(self, url):
        self.url = url
        body = {"appKey": APP_KEY, "appSecret": APP_SECRET}
        self.token = requests.post(url + "/v1.0/oauth2/accessToken", json=body, timeout=10).json()[
            "accessToken"
        ]

    def __call__(self, method, path, params=None, json=None, token=None):
        headers = {"x-acs-dingtalk-access-token": self.token if token is None else token}
        return requests.request(
            method, self.url + path, params=params, json=json, headers=headers, timeout=10
        )

    def start(self, code=PURCHASE, user="alice", dept=-1, values=REQUIRED, **extra):
        body = {"processCode": code, "originatorUserId": user, "deptId": dept, "formComponentValues": values}
        return self("POST", INSTANCES, json=dict(body, **extra))

    def started(self, **kwargs):
        answer = self.start(**kwargs)
        assert answer.status_code == 200, answer.text
        return answer.json()["instanceId"]

    def get(self, inst_id):
        return self("GET", INSTANCES, params={"processInstanceId": inst_id})


@pytest.fixture
def api(sandbox):
    assert ctl(sandbox, "reset", {"org": ORG})["ok"]
    return Api(sandbox)


def error(answer):
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert set(body) == {"code", "message", "requestid"}
    return body["code"], body["message"]


def log(url, **params):
    return ctl(url, "approval/events", params=params)["events"]


# ----- templates and schema [KB:API/0494, 0492] ------------------------------------------------------
def test_templates_list_pages_with_next_token(api):
    seen, token = [], 0
    while True:
        answer = api("GET", TEMPLATES, params={"maxResults": 1, "nextToken": token})
        assert answer.status_code == 200 and "success" not in answer.json()
        result = answer.json()["result"]
        seen += result["processList"]
        if "nextToken" not in result:
            break
        token = result["nextToken"]
        assert isinstance(token, int)
    assert [p["processCode"] for p in seen] == [PURCHASE, EXPENSE, DISABLED]
    assert set(seen[0]) == {"name", "url", "iconUrl", "processCode", "dirId", "dirName"}
    assert seen[0]["name"] == "采购审批" and seen[0]["url"].startswith("https://aflow.dingtalk.com/")
    mine = api("GET", TEMPLATES, params={"userId": "alice", "maxResults": 100, "nextToken": 0}).json()
    assert [p["processCode"] for p in mine["result"]["processList"]] == [PURCHASE, EXPENSE]
    for params, code in [
        ({"nextToken": 0}, "invalidMaxResults"),
        ({"maxResults": 101, "nextToken": 0}, "invalidMaxResults"),
        ({"maxResults": 0, "nextToken": 0}, "invalidMaxResults"),
        ({"maxResults": 10}, "invalidNextToken"),
        ({"maxResults": 10, "nextToken": "x"}, "invalidNextToken"),
        ({"maxResults": 10, "nextToken": 0, "userId": "nobody"}, "invalidParameter"),
    ]:
        assert error(api("GET", TEMPLATES, params=params))[0] == code


def test_schema_has_documented_shape(api):
    answer = api("GET", SCHEMA, params={"processCode": PURCHASE})
    result = answer.json()["result"]
    assert (
        "success" not in answer.json() and result["formCode"] == PURCHASE and result["status"] == "PUBLISHED"
    )
    items = {i["props"]["label"]: i for i in result["schemaContent"]["items"]}
    assert items["采购事由"]["componentName"] == "TextareaField" and items["采购事由"]["props"]["required"]
    assert items["期望交付日期"]["props"]["format"] == "yyyy-MM-dd"
    assert items["紧急程度"]["props"]["options"] == ["普通", "紧急"]
    children = [(c["componentName"], c["props"]["label"]) for c in items["采购明细"]["children"]]
    assert children == [
        ("TextField", "物品名称"),
        ("NumberField", "数量"),
        ("MoneyField", "单价"),
        ("MoneyField", "小计"),
    ]
    assert re.match(r"^TextareaField-\w+$", items["采购事由"]["props"]["id"])
    assert isinstance(result["gmtCreate"], str)
    expense = api("GET", SCHEMA, params={"processCode": EXPENSE}).json()["result"]
    labels = [i["props"]["label"] for i in expense["schemaContent"]["items"]]
    assert labels == ["报销事由", "报销金额", "费用日期", "费用类别", "费用明细", "附件"]
    assert api("GET", SCHEMA, params={"processCode": DISABLED}).json()["result"]["status"] == "INVALID"
    assert error(api("GET", SCHEMA, params={"processCode": "PROC-NOPE"}))[0] == "aflowProcessCodeIsError"
    assert error(api("GET", SCHEMA, params={}))[0] == "invalidParameter"
    assert api("GET", SCHEMA, params={"processCode": PURCHASE}, token="bad").json()["code"] == (
        "InvalidAuthentication"
    )


# ----- start [KB:API/0497] ------------------------------------------------------------------------------
def _table(*rows):
    return json.dumps([[{"name": k, "value": v} for k, v in row.items()] for row in rows], ensure_ascii=False)


FILE = {"spaceId": "1", "fileName": "a.pdf", "fileSize": "3", "fileType": "pdf", "fileId": "9"}
FORM_CASES = [
    ([REQUIRED[0]], "采购金额"),  # required left out
    ([*REQUIRED, {"name": "不存在", "value": "x"}], "不存在"),
    ([REQUIRED[0], {"name": "采购金额", "value": 100}], "采购金额"),  # not a string
    ([REQUIRED[0], {"name": "采购金额", "value": "12元"}], "采购金额"),
    ([REQUIRED[0], {"name": "采购金额", "value": ""}], "采购金额"),
    ([*REQUIRED, {"name": "期望交付日期", "value": "2024/01/02"}], "期望交付日期"),
    ([*REQUIRED, {"name": "紧急程度", "value": "特急"}], "紧急程度"),
    ([*REQUIRED, {"name": "采购明细", "value": "not json"}], "采购明细"),
    ([*REQUIRED, {"name": "采购明细", "value": _table({"颜色": "红"})}], "采购明细"),
    ([*REQUIRED, {"name": "采购明细", "value": _table({"数量": "两个"})}], "采购明细"),
    ([*REQUIRED, {"name": "附件", "value": json.dumps([dict(FILE, fileId="")])}], "附件"),
    ([*REQUIRED, {"name": "附件", "value": "{}"}], "附件"),
    ([*REQUIRED, {"name": "供应商", "value": "x" * 65536}], "供应商"),
]


@pytest.mark.parametrize(("values", "label"), FORM_CASES)
def test_start_form_errors_name_the_component(api, values, label):
    assert error(api.start(values=values)) == ("formConverterError", "表单数据校验失败，失败控件：%s" % label)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"processCode": ""}, "invalidParameter"),
        ({"processCode": "PROC-NOPE"}, "processCodeError"),
        ({"processCode": DISABLED}, "processGetFailed"),
        ({"originatorUserId": ""}, "invalidParameter"),
        ({"originatorUserId": "nobody"}, "processInstanceInvalidParameter"),
        ({"originatorUserId": "gone"}, "invalidParameter"),  # left
        ({"deptId": 3}, "processInstanceInvalidParameter"),  # alice is in 2
        ({"deptId": None}, "processInstanceInvalidParameter"),
        ({"microappAgentId": 42}, "invalidAgentId"),
        ({"formComponentValues": "x"}, "invalidParameter"),
        ({"formComponentValues": [{"name": "供应商", "value": "x"}] * 151}, "invalidParameter"),
        ({"approvers": [{"actionType": "AND", "userIds": ["nobody"]}]}, "processInstanceInvalidParameter"),
    ],
)
def test_start_parameter_errors(api, change, code):
    body = {
        "processCode": PURCHASE,
        "originatorUserId": "alice",
        "deptId": -1,
        "formComponentValues": REQUIRED,
    }
    body.update(change)
    assert error(api("POST", INSTANCES, json=body))[0] == code


def test_start_with_every_field_then_get(api, sandbox):
    values = [
        *REQUIRED,
        {"name": "供应商", "value": "联想"},
        {"name": "期望交付日期", "value": "2024-05-01"},
        {"name": "采购明细", "value": _table({"物品名称": "笔记本", "数量": "2", "单价": "600.25"})},
        {"name": "附件", "value": json.dumps([FILE])},
        {"name": "紧急程度", "value": "紧急"},
    ]
    before = time.time()
    inst_id = api.started(values=values, dept=2, microappAgentId=100000001)
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", inst_id)
    body = api.get(inst_id).json()
    assert body["success"] == "true"  # the doc's example [KB:API/0498]
    result = body["result"]
    assert (
        result["title"] == "Alice提交的采购审批" and result["status"] == "RUNNING" and result["result"] == ""
    )
    assert re.match(r"^\d{12}\d+$", result["businessId"])
    assert result["originatorUserId"] == "alice" and result["originatorDeptId"] == "2"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\dZ$", result["createTime"]) and "finishTime" not in result
    beijing = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(before + 8 * 3600))  # Beijing time labelled Z
    assert result["createTime"] >= beijing
    assert result["businessId"].startswith(beijing[:16].replace("-", "").replace("T", "").replace(":", ""))
    select = next(v for v in result["formComponentValues"] if v["name"] == "紧急程度")
    assert select["componentType"] == "DDSelectField" and json.loads(select["extValue"])["label"] == "紧急"
    [task] = result["tasks"]
    assert task["userId"] == "mgr" and task["status"] == "RUNNING" and task["result"] == "NONE"  # manager
    assert isinstance(task["taskId"], int)
    assert task["pcUrl"] == "aflow.dingtalk.com?procInsId=%s&taskId=%d&businessId=%s" % (
        inst_id,
        task["taskId"],
        result["businessId"],
    )
    [record] = result["operationRecords"]
    assert (record["type"], record["result"], record["userId"]) == ("START_PROCESS_INSTANCE", "NONE", "alice")
    events = log(sandbox)
    assert [(e["EventType"], e["type"]) for e in events] == [
        ("bpms_instance_change", "start"),
        ("bpms_task_change", "start"),
    ]
    inst_ev, task_ev = events
    keys = {"processInstanceId", "processCode", "type", "staffId", "title", "url", "createTime", "businessId"}
    assert keys | {"bizCategoryId", "EventType", "eventId", "EventTime"} <= set(inst_ev)
    assert "result" not in inst_ev and "finishTime" not in inst_ev and inst_ev["staffId"] == "alice"
    assert "procInstId=%s" % inst_id in inst_ev["url"] and isinstance(inst_ev["createTime"], int)
    assert task_ev["staffId"] == "mgr" and task_ev["taskId"] == task["taskId"] and "url" not in task_ev
    assert error(api.get("nope"))[0] == "processInstanceNotExist"
    assert error(api.get(""))[0] == "processInstanceIdError"
    ctl(sandbox, "approval/config", {"get_success": "bool"})
    assert api.get(inst_id).json()["success"] is True  # as observed [OBS3]


def test_default_flow_without_manager_is_first_other_user(api, sandbox):
    inst_id = api.started(user="loner", dept=3)
    assert [t["userId"] for t in api.get(inst_id).json()["result"]["tasks"]] == ["boss"]
    inst_id = api.started(user="dave", dept=1, approvers=[{"actionType": "NONE", "userIds": ["erin"]}])
    assert [t["userId"] for t in api.get(inst_id).json()["result"]["tasks"]] == ["erin"]


# ----- flow semantics ----------------------------------------------------------------------------------
FLOW = [
    {"actionType": "NONE", "userIds": ["mgr"]},
    {"actionType": "AND", "userIds": ["bob", "carol"]},
    {"actionType": "OR", "userIds": ["dave", "erin"]},
]


def act(url, inst_id, userid, action="agree", **extra):
    return ctl(url, "approval/act", {"instance_id": inst_id, "userid": userid, "action": action, **extra})


def test_none_then_and_then_or_flow(api, sandbox):
    assert ctl(sandbox, "approval/templates", {"process_code": PURCHASE, "flow": FLOW})["ok"]
    inst_id = api.started()
    assert act(sandbox, inst_id, "bob")["ok"] is False  # not bob's turn yet
    first = act(sandbox, inst_id, "mgr", remark="同意")
    assert [(e["EventType"], e["type"], e["staffId"]) for e in first["events"]] == [
        ("bpms_task_change", "finish", "mgr"),
        ("bpms_task_change", "start", "bob"),
        ("bpms_task_change", "start", "carol"),
    ]
    assert first["events"][0]["result"] == "agree" and first["events"][0]["remark"] == "同意"
    assert [e["type"] for e in act(sandbox, inst_id, "carol")["events"]] == [
        "finish"
    ]  # 会签: bob still to agree
    and_done = act(sandbox, inst_id, "bob")["events"]
    assert [(e["type"], e["staffId"]) for e in and_done] == [
        ("finish", "bob"),
        ("start", "dave"),
        ("start", "erin"),
    ]
    last = act(sandbox, inst_id, "erin")
    assert [(e["EventType"], e["type"], e["staffId"]) for e in last["events"]] == [
        ("bpms_task_change", "finish", "erin"),
        ("bpms_task_change", "cancel", "dave"),  # 或签: the other one is told [KB:EV/0258]
        ("bpms_instance_change", "finish", "alice"),
    ]
    assert last["events"][-1]["result"] == "agree" and isinstance(last["events"][-1]["finishTime"], int)
    result = api.get(inst_id).json()["result"]
    assert (result["status"], result["result"]) == ("COMPLETED", "agree") and "finishTime" in result
    assert [(t["userId"], t["status"], t["result"]) for t in result["tasks"]] == [
        ("mgr", "COMPLETED", "AGREE"),
        ("bob", "COMPLETED", "AGREE"),
        ("carol", "COMPLETED", "AGREE"),
        ("dave", "CANCELED", "NONE"),
        ("erin", "COMPLETED", "AGREE"),
    ]
    types = [r["type"] for r in result["operationRecords"]]
    assert types == ["START_PROCESS_INSTANCE"] + ["EXECUTE_TASK_NORMAL"] * 4 + ["FINISH_PROCESS_INSTANCE"]
    assert result["operationRecords"][1]["remark"] == "同意"
    assert act(sandbox, inst_id, "dave")["ok"] is False  # finished


def test_refuse_ends_the_instance(api, sandbox):
    ctl(sandbox, "approval/templates", {"process_code": PURCHASE, "flow": FLOW[1:]})
    inst_id = api.started()
    answer = act(sandbox, inst_id, "carol", "refuse", remark="太贵")
    assert [(e["type"], e.get("result")) for e in answer["events"]] == [
        ("finish", "refuse"),
        ("finish", "refuse"),
    ]
    result = api.get(inst_id).json()["result"]
    assert (result["status"], result["result"]) == ("COMPLETED", "refuse")
    assert {t["userId"]: t["status"] for t in result["tasks"]} == {"bob": "CANCELED", "carol": "COMPLETED"}
    assert result["operationRecords"][-1]["type"] == "FINISH_PROCESS_INSTANCE"
    assert result["operationRecords"][-1]["result"] == "REFUSE"


def test_execute_api_approves_a_task(api, sandbox):
    inst_id = api.started()
    task = api.get(inst_id).json()["result"]["tasks"][0]
    body = {
        "processInstanceId": inst_id,
        "result": "agree",
        "actionerUserId": "bob",
        "taskId": task["taskId"],
    }
    assert error(api("POST", INSTANCES + "/execute", json=body))[0] == "invalidParameter"  # not bob's
    body.update(actionerUserId="mgr", remark="ok")
    answer = api("POST", INSTANCES + "/execute", json=body)
    assert answer.json() == {"result": True, "success": True}
    assert api.get(inst_id).json()["result"]["result"] == "agree"
    assert error(api("POST", INSTANCES + "/execute", json=body))[0] == "aflowProcessInstCanNotBeExecuted"


def test_comments_add_remark_records(api, sandbox):
    inst_id = api.started()
    body = {"processInstanceId": inst_id, "text": "请尽快", "commentUserId": "bob"}
    assert api("POST", INSTANCES + "/comments", json=body).json() == {"result": True, "success": True}
    assert act(sandbox, inst_id, "dave", "comment", remark="看过了")["events"] == []
    records = api.get(inst_id).json()["result"]["operationRecords"]
    assert [(r["type"], r["userId"], r.get("remark")) for r in records[1:]] == [
        ("ADD_REMARK", "bob", "请尽快"),
        ("ADD_REMARK", "dave", "看过了"),
    ]
    for change, code in [
        ({"text": ""}, "invalidInstanceCommentText"),
        ({"text": "x" * 1025}, "invalidInstanceCommentText"),
        ({"commentUserId": ""}, "invalidInstanceCommentUserId"),
        ({"commentUserId": "nobody"}, "userNotExist"),
        ({"processInstanceId": "nope"}, "aflowProcessInstNotExist"),
        ({"processInstanceId": ""}, "invalidInstanceId"),
    ]:
        assert error(api("POST", INSTANCES + "/comments", json=dict(body, **change)))[0] == code


# ----- terminate [KB:API/0499] -------------------------------------------------------------------------
def terminate(api, inst_id, **body):
    return api("POST", INSTANCES + "/terminate", json={"processInstanceId": inst_id, **body})


def test_terminate_rules(api, sandbox):
    inst_id = api.started()
    assert error(terminate(api, inst_id, isSystem=True))[0] == "aflowProcessInstStatusException"  # < 15 s
    assert ctl(sandbox, "approval/config", {"terminate_min_age": 0})["config"]["terminate_min_age"] == 0
    assert error(terminate(api, inst_id))[0] == "invalidInstanceTerminateIsSystem"
    assert error(terminate(api, inst_id, isSystem=False, operatingUserId="bob"))[0] == (
        "invalidInstanceTerminateOperatingUserId"
    )
    assert error(terminate(api, inst_id, isSystem=False, operatingUserId="nobody"))[0] == "userNotExist"
    assert error(terminate(api, "nope", isSystem=True))[0] == "aflowProcessInstNotExist"
    answer = terminate(api, inst_id, isSystem=False, operatingUserId="alice", remark="不买了")
    assert answer.json() == {"result": True, "success": True}
    result = api.get(inst_id).json()["result"]
    assert result["status"] == "TERMINATED" and [t["status"] for t in result["tasks"]] == ["CANCELED"]
    assert result["operationRecords"][-1]["type"] == "TERMINATE_PROCESS_INSTANCE"
    event = log(sandbox)[-1]
    assert (event["EventType"], event["type"]) == (
        "bpms_instance_change",
        "terminate",
    ) and "result" not in event
    assert "finishTime" in event
    assert (
        error(terminate(api, inst_id, isSystem=True))[0] == "aflowProcessInstStatusException"
    )  # not running
    ctl(sandbox, "approval/templates", {"process_code": EXPENSE, "allow_revoke": False})
    other = api.started(
        code=EXPENSE, values=[{"name": "报销事由", "value": "x"}, {"name": "报销金额", "value": "1"}]
    )
    assert error(terminate(api, other, isSystem=False, operatingUserId="alice")) == (
        "internalError",
        "您没有任务处理的权限",
    )


# ----- events: held, Stream, HTTP push -----------------------------------------------------------------
def test_held_events_are_returned_not_delivered(api, sandbox):
    ctl(sandbox, "stream", {"event_delivery": "stream"})
    ctl(sandbox, "approval/config", {"hold_events": True})
    inst_id = api.started()
    assert len(log(sandbox, held=1)) == 2 and log(sandbox, held=0) == []
    answer = act(sandbox, inst_id, "mgr", push=False)
    assert [e["type"] for e in answer["events"]] == ["finish", "finish"] and "stream" not in answer
    time.sleep(0.2)
    assert ctl(sandbox, "stream/events")["events"] == []  # nothing went to the Stream gateway
    again = ctl(sandbox, "stream/publish", {"events": answer["events"] * 2})  # the test delivers them itself
    assert len(again["events"]) == 4 and again["events"][0]["event_id"] == answer["events"][0]["eventId"]


def test_events_go_over_stream(api, sandbox):
    ctl(sandbox, "stream", {"event_delivery": "stream"})
    body = {
        "clientId": APP_KEY,
        "clientSecret": APP_SECRET,
        "subscriptions": [{"type": "EVENT", "topic": "*"}],
    }
    opened = requests.post(sandbox + "/v1.0/gateway/connections/open", json=body, timeout=10).json()
    ws = websocket.create_connection(opened["endpoint"] + "?ticket=" + opened["ticket"], timeout=5)
    try:
        inst_id = api.started()
        frames = []
        while len(frames) < 2:
            frame = json.loads(ws.recv())
            if frame["type"] == "EVENT":
                frames.append(frame)
                ack = {"code": 200, "headers": {"messageId": frame["headers"]["messageId"]}, "message": "OK"}
                ws.send(json.dumps(dict(ack, data=json.dumps({"status": "SUCCESS"}))))
        assert [f["headers"]["eventType"] for f in frames] == ["bpms_instance_change", "bpms_task_change"]
        data = json.loads(frames[0]["data"])
        assert data["processInstanceId"] == inst_id and data["type"] == "start"
        assert frames[0]["headers"]["eventCorpId"] == CORP_ID
        answer = act(sandbox, inst_id, "mgr")
        assert answer["stream"] and "push" not in answer
        frame = json.loads(ws.recv())
        while frame["type"] != "EVENT":
            frame = json.loads(ws.recv())
        assert frame["headers"]["eventId"] == answer["events"][0]["eventId"]
    finally:
        ws.close()


def test_events_are_pushed_over_http(api, sandbox):
    receiver = Receiver(APP_KEY)
    try:
        cfg = {"url": receiver.url, "token": receiver.TOKEN, "aes_key": receiver.AES_KEY, "auto_push": True}
        assert ctl(sandbox, "callback", cfg)["ok"]
        inst_id = api.started()
        deadline = time.monotonic() + 5
        while len(receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        received = [payload for _query, payload in receiver.received]
        assert {e["EventType"] for e in received} == {"bpms_instance_change", "bpms_task_change"}
        assert all(e["CorpId"] == CORP_ID and e["processInstanceId"] == inst_id for e in received)
        answer = act(sandbox, inst_id, "mgr", "refuse")
        assert [p["success"] for p in answer["push"]] == [True, True]
        last = receiver.received[-1][1]
        assert last["type"] == "finish" and last["result"] == "refuse"
    finally:
        receiver.close()


# ----- limits, control, reset --------------------------------------------------------------------------
def test_workflow_paths_are_rate_limited(api, sandbox):
    ctl(sandbox, "config", {"qps": 2})
    answers = [api("GET", SCHEMA, params={"processCode": PURCHASE}) for _ in range(5)]
    throttled = [a for a in answers if a.status_code == 403]
    assert throttled and throttled[0].json()["code"] == "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"
    assert api("GET", TEMPLATES, params={"maxResults": 1, "nextToken": 0}).status_code == 200  # per API
    assert ctl(sandbox, "stats")["throttled"][SCHEMA] >= 1


def test_control_templates_instances_and_reset(api, sandbox):
    new = {
        "process_code": "PROC-TEST-1",
        "name": "测试",
        "components": [{"type": "NumberField", "label": "天数", "required": True}],
        "flow": [{"actionType": "OR", "userIds": ["bob", "carol"]}],
    }
    assert ctl(sandbox, "approval/templates", new)["template"]["allow_revoke"] is True
    assert len(ctl(sandbox, "approval/templates")["templates"]) == 4
    bad = ctl(sandbox, "approval/templates", dict(new, flow=[{"actionType": "NONE", "userIds": ["a", "b"]}]))
    assert bad["ok"] is False
    inst_id = api.started(code="PROC-TEST-1", values=[{"name": "天数", "value": "3"}])
    [state] = ctl(sandbox, "approval/instances")["instances"]
    assert state["processInstanceId"] == inst_id and state["currentStep"] == 0
    assert ctl(sandbox, "approval/instance", params={"id": inst_id})["instance"]["status"] == "RUNNING"
    assert ctl(sandbox, "approval/instance", params={"id": "nope"})["ok"] is False
    ctl(sandbox, "reset", {"org": ORG})
    assert ctl(sandbox, "approval/instances")["instances"] == [] and log(sandbox) == []
    assert len(ctl(sandbox, "approval/templates")["templates"]) == 3
