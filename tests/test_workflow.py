"""The approval protocol client (ziqi_dingtalk/dingtalk/workflow.py) against the sandbox, and its form
encoding (docs/dingtalk-approval-protocol.md §2.1) as plain unit tests."""

import datetime
import decimal
import json

import pytest
import requests

from dingtalk import workflow
from dingtalk.client import DingTalkClient
from dingtalk.errors import APIError
from dingtalk.workflow import (
    Component,
    FormValueError,
    WorkflowClient,
    encode_form_values,
    instance_url,
)

APP_KEY, APP_SECRET, CORP_ID = "dingsandboxappkey0001", "sandbox-app-secret", "dingsandboxcorp0001"
PURCHASE, DISABLED = "PROC-SANDBOX-PURCHASE", "PROC-SANDBOX-OLDLEAVE"
ORG = {
    "departments": [{"dept_id": 1, "name": "公司"}, {"dept_id": 2, "name": "研发部", "parent_id": 1}],
    "users": [
        {"userid": "mgr", "unionid": "unmgr", "name": "经理", "dept_id_list": [2]},
        {
            "userid": "alice",
            "unionid": "unalice",
            "name": "爱丽丝",
            "dept_id_list": [2],
            "manager_userid": "mgr",
        },
    ],
}


def ctl(url, path, body):
    return requests.post(f"{url}/_sandbox/{path}", json=body, timeout=10).json()


@pytest.fixture
def wf(sandbox):
    ctl(sandbox, "reset", {"org": ORG})
    return WorkflowClient(DingTalkClient(APP_KEY, APP_SECRET, oapi_url=sandbox, api_url=sandbox))


def test_iter_templates_reads_every_page(wf, monkeypatch):
    monkeypatch.setattr(workflow, "TEMPLATES_PAGE", 1)
    every = list(wf.iter_templates())
    assert [t.process_code for t in every] == [PURCHASE, "PROC-SANDBOX-EXPENSE", DISABLED]
    assert every[0].name == "采购审批" and every[0].dir_name == "采购" and every[0].url.startswith("https://")
    assert every[0].icon_url
    assert DISABLED not in [t.process_code for t in wf.iter_templates(userid="alice")]


def test_form_schema_components(wf):
    schema = wf.form_schema(PURCHASE)
    assert schema.enabled and schema.name == "采购审批" and schema.process_code == PURCHASE
    by_label = {c.label: c for c in schema.components}
    assert by_label["采购事由"].required and by_label["采购事由"].type == "TextareaField"
    assert by_label["紧急程度"].options == ("普通", "紧急")
    assert by_label["期望交付日期"].format == "yyyy-MM-dd"
    assert [c.label for c in by_label["采购明细"].children] == ["物品名称", "数量", "单价", "小计"]
    assert not wf.form_schema(DISABLED).enabled
    with pytest.raises(APIError) as caught:
        wf.form_schema("PROC-NOPE")
    assert caught.value.errcode == "aflowProcessCodeIsError" and caught.value.http_status == 400


def test_start_get_comment_terminate(wf, sandbox):
    schema = wf.form_schema(PURCHASE)
    values = encode_form_values(
        schema.components,
        {
            "采购事由": "买电脑",
            "采购金额": decimal.Decimal("1200.50"),
            "期望交付日期": datetime.date(2024, 5, 1),
            "采购明细": [{"物品名称": "笔记本", "数量": 2, "单价": 600.25}],
            "紧急程度": "紧急",
        },
    )
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, second=0, microsecond=0)
    inst_id = wf.start(PURCHASE, "alice", -1, values, agent_id=100000001)
    inst = wf.get(inst_id)
    assert inst.running and not inst.approved and inst.title == "爱丽丝提交的采购审批"
    assert inst.originator_userid == "alice" and inst.business_id and inst.raw["status"] == "RUNNING"
    assert before <= inst.create_time <= before + datetime.timedelta(minutes=1)  # naive UTC
    [task] = inst.tasks
    assert task.userid == "mgr" and isinstance(task.task_id, int) and task.pc_url.startswith("aflow.")
    wf.comment(inst_id, "请尽快", "mgr")
    records = wf.get(inst_id).records
    assert [r.type for r in records] == ["START_PROCESS_INSTANCE", "ADD_REMARK"]
    assert records[1].remark == "请尽快" and records[1].key != records[0].key
    assert records[1].key == wf.get(inst_id).records[1].key  # stable
    with pytest.raises(APIError) as caught:
        wf.terminate(inst_id)  # within 15 s of the start
    assert caught.value.errcode == "aflowProcessInstStatusException"
    ctl(sandbox, "approval/config", {"terminate_min_age": 0})
    with pytest.raises(APIError) as caught:
        wf.terminate(inst_id, operating_userid="mgr")
    assert caught.value.errcode == "invalidInstanceTerminateOperatingUserId"
    wf.terminate(inst_id, remark="不买了", operating_userid="alice")
    done = wf.get(inst_id)
    assert done.terminated and done.finish_time and done.records[-1].type == "TERMINATE_PROCESS_INSTANCE"
    other = wf.start(PURCHASE, "alice", 2, values)
    wf.terminate(other)  # isSystem
    assert wf.get(other).terminated


def test_start_errors_are_typed(wf):
    with pytest.raises(APIError) as caught:
        wf.start(PURCHASE, "alice", -1, [{"name": "采购事由", "value": "x"}])
    assert caught.value.errcode == "formConverterError" and "采购金额" in caught.value.errmsg
    with pytest.raises(APIError) as caught:
        wf.get("nope")
    assert caught.value.errcode == "processInstanceNotExist"


@pytest.mark.parametrize("style", ["string", "bool"])
def test_get_accepts_success_as_string_or_bool(wf, sandbox, style):
    ctl(sandbox, "approval/config", {"get_success": style})
    inst_id = wf.start(
        PURCHASE, "alice", -1, [{"name": "采购事由", "value": "x"}, {"name": "采购金额", "value": "1"}]
    )
    assert wf.get(inst_id).running


def test_approved_refused_properties(wf, sandbox):
    values = [{"name": "采购事由", "value": "x"}, {"name": "采购金额", "value": "1"}]
    yes, no = wf.start(PURCHASE, "alice", -1, values), wf.start(PURCHASE, "alice", -1, values)
    ctl(sandbox, "approval/act", {"instance_id": yes, "userid": "mgr", "action": "agree"})
    ctl(sandbox, "approval/act", {"instance_id": no, "userid": "mgr", "action": "refuse"})
    assert wf.get(yes).approved and not wf.get(yes).refused
    assert wf.get(no).refused and wf.get(no).finish_time is not None


# ----- time conversion, URL ---------------------------------------------------------------------------
def test_times_become_naive_utc():
    assert workflow._parse_time("2026-04-16T15:34Z") == datetime.datetime(2026, 4, 16, 7, 34)  # [OBS3]
    assert workflow._parse_time("2020-12-21 15:30:26") == datetime.datetime(2020, 12, 21, 7, 30, 26)
    assert workflow._parse_time(1776324877000) == datetime.datetime(2026, 4, 16, 7, 34, 37)
    assert workflow._parse_time(None) is None and workflow._parse_time("garbage") is None


def test_instance_url():
    url = instance_url(CORP_ID, "abc-1")
    assert url.startswith(
        "https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?corpid=dingsandboxcorp0001&"
    )
    assert "procInstId=abc-1&" in url and url.endswith("#approval")


# ----- encode_form_values (docs §2.1) ------------------------------------------------------------------
def comp(kind, label="f", required=False, options=(), fmt="", children=()):
    return Component(label + "-id", label, kind, required, tuple(options), fmt, tuple(children))


FILE = {"spaceId": 1, "fileName": "a.pdf", "fileSize": 3, "fileType": "pdf", "fileId": "9"}


@pytest.mark.parametrize(
    ("component", "value", "encoded"),
    [
        (comp("TextField"), "你好", "你好"),
        (comp("TextareaField"), "a\r\nb", "a\r\nb"),
        (comp("NumberField"), 3, "3"),
        (comp("NumberField"), 2.0, "2"),
        (comp("MoneyField"), 1e-7, "0.0000001"),
        (comp("MoneyField"), decimal.Decimal("1.2E+3"), "1200"),
        (comp("MoneyField"), decimal.Decimal("100.50"), "100.5"),
        (comp("MoneyField"), "12.30", "12.3"),
        (comp("DDDateField"), datetime.date(2024, 1, 2), "2024-01-02"),
        (
            comp("DDDateField", fmt="yyyy-MM-dd HH:mm"),
            datetime.datetime(2024, 1, 2, 9, 5),
            "2024-01-02 09:05",
        ),
        (comp("DDDateField"), "2024-01-02", "2024-01-02"),
        (comp("DDSelectField", options=["普通", "紧急"]), "紧急", "紧急"),
        (comp("DDMultiSelectField", options=["a", "b"]), ["a", "b"], '["a","b"]'),
        (comp("InnerContactField"), ["u1"], '["u1"]'),
        (comp("DepartmentField"), [1, 2], "1,2"),
        (
            comp("DDDateRangeField"),
            (datetime.date(2024, 1, 1), datetime.date(2024, 1, 3)),
            '["2024-01-01","2024-01-03"]',
        ),
    ],
)
def test_encode_per_type(component, value, encoded):
    assert encode_form_values([component], {"f": value}) == [{"name": "f", "value": encoded}]


def test_encode_table_attachment_and_order():
    table = comp("TableField", "明细", children=[comp("TextField", "名称", True), comp("MoneyField", "金额")])
    comps = [comp("TextField", "a"), table, comp("DDAttachment", "附件"), comp("TextField", "z")]
    out = encode_form_values(
        comps, {"附件": [FILE], "明细": [{"名称": "笔", "金额": 1.5}], "z": "", "a": "x"}
    )
    assert [o["name"] for o in out] == ["a", "明细", "附件"]  # component order, empties left out
    assert json.loads(out[1]["value"]) == [
        [{"name": "名称", "value": "笔"}, {"name": "金额", "value": "1.5"}]
    ]
    assert json.loads(out[2]["value"]) == [
        {"spaceId": "1", "fileName": "a.pdf", "fileSize": "3", "fileType": "pdf", "fileId": "9"}
    ]


@pytest.mark.parametrize(
    ("components", "values", "label", "reason"),
    [
        ([comp("TextField", required=True)], {}, "f", "required"),
        ([comp("TextField", required=True)], {"f": ""}, "f", "required"),
        ([comp("TextField")], {"other": "x"}, "other", "no such component"),
        ([comp("TextField")], {"f": 3}, "f", "text expected"),
        ([comp("NumberField")], {"f": "abc"}, "f", "a number expected"),
        ([comp("NumberField")], {"f": True}, "f", "a number expected"),
        ([comp("NumberField")], {"f": float("nan")}, "f", "finite"),
        ([comp("DDDateField")], {"f": "2024/01/02"}, "f", "yyyy-MM-dd"),
        ([comp("DDDateField")], {"f": 20240102}, "f", "a date expected"),
        ([comp("DDSelectField", options=["a"])], {"f": "b"}, "f", "not one of the options"),
        ([comp("DDMultiSelectField", options=["a"])], {"f": ["a", "b"]}, "f", "not one of the options"),
        ([comp("InnerContactField")], {"f": [1]}, "f", "a list of strings"),
        (
            [comp("TableField", children=[comp("TextField", "c", True)])],
            {"f": [{}]},
            "f",
            "row 1, c: required",
        ),
        ([comp("TableField", children=[comp("TextField", "c")])], {"f": [{"x": "1"}]}, "f", "row 1, x"),
        ([comp("TableField")], {"f": "rows"}, "f", "a list of rows"),
        ([comp("DDAttachment")], {"f": [dict(FILE, fileId="")]}, "f", "without fileId"),
        ([comp("DDAttachment")], {"f": ["x"]}, "f", "attachment dicts"),
        ([comp("TextNote")], {"f": "x"}, "f", "cannot be filled"),
        ([comp("FieldGroup")], {"f": "x"}, "f", "cannot be filled"),
        ([comp("TextField")], {"f": "x" * 65536}, "f", "longer than 65535"),
        (
            [comp("TextField", str(n)) for n in range(151)],
            {str(n): "x" for n in range(151)},
            "",
            "more than 150",
        ),
    ],
)
def test_encode_errors(components, values, label, reason):
    with pytest.raises(FormValueError) as caught:
        encode_form_values(components, values)
    assert caught.value.label == label and reason in caught.value.reason
    assert isinstance(caught.value, ValueError)
