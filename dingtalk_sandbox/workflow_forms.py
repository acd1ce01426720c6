"""Approval templates (审批模板) of the sandbox: their form schema and the check of ``formComponentValues``.

Tags refer to docs/dingtalk-approval-protocol.md: [KB:API/0492] the schema shape (``schemaContent.items[]``
of ``{componentName, props{id, label, required, options, format...}, children[]}``), [KB:API/0497] and
[KB:API/0474] the value format of each component type on start (every value a string; JSON as a string).
"""

import datetime
import hashlib
import json
import re

from .errors import ApiError

FORM_ERROR = "表单数据校验失败，失败控件：%s"  # [KB:API/0497] formConverterError, the documented message
VALUE_MAX = 65535  # [KB:API/0497] value ≤65535 characters
NOT_SETTABLE = {"TextNote"}  # [KB:API/0497] "TextNote: not settable at start"
ATTACHMENT_KEYS = ("spaceId", "fileName", "fileSize", "fileType", "fileId")  # [KB:API/0497, §6]
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_JAVA_DATE = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


def _c(kind, label, required=False, **props):
    children = props.pop("children", ())
    return {"type": kind, "label": label, "required": required, "children": list(children), **props}


PURCHASE = {
    "process_code": "PROC-SANDBOX-PURCHASE",
    "name": "采购审批",
    "dir_name": "采购",
    "components": [
        _c("TextareaField", "采购事由", True),
        _c("TextField", "供应商"),
        _c("MoneyField", "采购金额", True),
        _c("DDDateField", "期望交付日期", format="yyyy-MM-dd"),
        _c(
            "TableField",
            "采购明细",
            children=[
                _c("TextField", "物品名称"),
                _c("NumberField", "数量"),
                _c("MoneyField", "单价"),
                _c("MoneyField", "小计"),
            ],
        ),
        _c("DDAttachment", "附件"),
        _c("DDSelectField", "紧急程度", options=["普通", "紧急"]),
    ],
}
EXPENSE = {
    "process_code": "PROC-SANDBOX-EXPENSE",
    "name": "报销审批",
    "dir_name": "财务",
    "components": [
        _c("TextareaField", "报销事由", True),
        _c("MoneyField", "报销金额", True),
        _c("DDDateField", "费用日期", format="yyyy-MM-dd"),
        _c("DDSelectField", "费用类别", options=["差旅费", "交通费", "餐费", "办公用品", "其他"]),
        _c("TableField", "费用明细", children=[_c("TextField", "项目"), _c("MoneyField", "金额")]),
        _c("DDAttachment", "附件"),
    ],
}
DISABLED = {
    "process_code": "PROC-SANDBOX-OLDLEAVE",
    "name": "旧版请假(停用)",
    "dir_name": "其他",
    "status": "INVALID",  # [KB:API/0492] status INVALID = 停用
    "components": [_c("TextareaField", "请假事由", True), _c("TextNote", "说明")],
}
DEFAULT_TEMPLATES = (PURCHASE, EXPENSE, DISABLED)
STATUSES = ("PUBLISHED", "INVALID", "SAVED")  # [KB:API/0492] 启用 / 停用 / 草稿
ACTION_TYPES = ("NONE", "AND", "OR")  # [KB:API/0497] approvers[].actionType


def make_template(desc, previous=None):
    """A template from its JSON description (control API), over ``previous`` when it replaces one."""
    tpl = dict(previous or {"status": "PUBLISHED", "allow_revoke": True, "flow": [], "dir_name": "其他"})
    tpl.update({k: v for k, v in desc.items() if k != "components"})
    if not tpl.get("process_code") or not str(tpl["process_code"]).startswith("PROC-"):
        raise ValueError("process_code like PROC-... is required")
    if not tpl.get("name"):
        raise ValueError("name is required")
    if tpl["status"] not in STATUSES:
        raise ValueError("status must be one of %s" % (STATUSES,))
    tpl["allow_revoke"] = bool(tpl["allow_revoke"])
    tpl["flow"] = check_flow(tpl.get("flow") or [])
    if "components" in desc or previous is None:
        code = tpl["process_code"]
        tpl["components"] = [_component(code, c) for c in desc.get("components") or []]
    return tpl


def check_flow(flow):
    """Steps ``{"actionType": NONE|AND|OR, "userIds": [...]}``; a NONE step has one approver."""
    steps = []
    for step in flow:
        kind, users = step.get("actionType"), [str(u) for u in step.get("userIds") or []]
        if kind not in ACTION_TYPES or not users or (kind == "NONE" and len(users) != 1):
            raise ValueError("bad flow step %r (NONE: one userId, AND/OR: userIds)" % (step,))
        steps.append({"actionType": kind, "userIds": users})
    return steps


def _component(code, desc):
    kind, label = desc.get("type") or desc.get("componentName"), desc.get("label")
    if not kind or not label:
        raise ValueError("a component needs a type and a label")
    digest = hashlib.md5(f"{code}/{label}".encode()).hexdigest()[:8].upper()
    comp = {
        "type": kind,
        "label": label,
        "id": desc.get("id") or f"{kind}-{digest}",
        "required": bool(desc.get("required")),
        "options": [str(o) for o in desc.get("options") or []],
        "format": desc.get("format") or ("yyyy-MM-dd" if kind == "DDDateField" else ""),
        "children": [_component(code + "/" + label, c) for c in desc.get("children") or []],
    }
    return comp


def schema_items(components):
    """``schemaContent.items`` [KB:API/0492]: componentName, props, children."""
    items = []
    for comp in components:
        props = {"id": comp["id"], "label": comp["label"], "required": comp["required"]}
        if comp["options"]:
            props["options"] = list(comp["options"])
        if comp["format"]:
            props["format"] = comp["format"]
            props["unit"] = "天" if comp["format"] == "yyyy-MM-dd" else "小时"
        if comp["type"] in ("TextField", "TextareaField", "NumberField", "MoneyField"):
            props["placeholder"] = "请输入"
        item = {"componentName": comp["type"], "props": props}
        if comp["children"]:
            item["children"] = schema_items(comp["children"])
        items.append(item)
    return items


# ----- formComponentValues on start [KB:API/0497] -------------------------------------------------------
def check_values(components, values, org):
    """The stored ``formComponentValues`` of a start, or ApiError 400 formConverterError naming the
    component that fails."""
    by_label = {c["label"]: c for c in components}
    stored, seen = [], set()
    for item in values:
        if not isinstance(item, dict):
            raise ApiError(400, "invalidParameter", "formComponentValues项必须是对象")
        name, value = item.get("name"), item.get("value")
        comp = by_label.get(name)
        if comp is None or comp["type"] in NOT_SETTABLE:
            raise ApiError(400, "formConverterError", FORM_ERROR % name)
        _check_one(comp, value, org)
        seen.add(name)
        stored.append(_stored(comp, value))
    for comp in components:
        if comp["required"] and comp["label"] not in seen:
            raise ApiError(400, "formConverterError", FORM_ERROR % comp["label"])
    return stored


def _fail(comp):
    return ApiError(400, "formConverterError", FORM_ERROR % comp["label"])


def _check_one(comp, value, org):
    """Raise formConverterError when ``value`` is not a valid string for ``comp`` ([KB:API/0497] table)."""
    if not isinstance(value, str) or len(value) > VALUE_MAX or (comp["required"] and not value.strip()):
        raise _fail(comp)
    kind = comp["type"]
    if kind in ("NumberField", "MoneyField", "StarRatingField"):
        ok = bool(_NUMBER.match(value.strip()))
    elif kind == "DDDateField":
        ok = _date_ok(value, comp["format"] or "yyyy-MM-dd")
    elif kind == "DDSelectField":
        ok = value in comp["options"]
    elif kind in ("DDMultiSelectField", "InnerContactField", "DDPhotoField", "DDDateRangeField"):
        ok = _json_list_ok(comp, value, org)
    elif kind == "TableField":
        ok = _table_ok(comp, value, org)
    elif kind == "DDAttachment":
        ok = _attachments_ok(value)
    else:
        ok = True
    if not ok:
        raise _fail(comp)


def _date_ok(value, java_format):
    fmt = java_format
    for java, py in _JAVA_DATE:
        fmt = fmt.replace(java, py)
    try:
        datetime.datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _loads(value):
    try:
        return json.loads(value)
    except ValueError:
        return None


def _json_list_ok(comp, value, org):
    items = _loads(value)
    if not isinstance(items, list) or not items:
        return False
    if comp["type"] == "DDMultiSelectField":
        return all(i in comp["options"] for i in items)
    if comp["type"] == "InnerContactField":  # on-the-job userIds of this org [KB:API/0497]
        return all(isinstance(i, str) and org.active_user(i) is not None for i in items)
    return all(isinstance(i, str) for i in items)


def _table_ok(comp, value, org):
    """Rows of ``[{name, value}]`` with the child labels [KB:API/0497]."""
    rows = _loads(value)
    if not isinstance(rows, list):
        return False
    children = {c["label"]: c for c in comp["children"]}
    for row in rows:
        if not isinstance(row, list):
            return False
        names = set()
        for cell in row:
            if not isinstance(cell, dict) or cell.get("name") not in children:
                return False
            try:
                _check_one(children[cell["name"]], cell.get("value"), org)
            except ApiError:
                return False
            names.add(cell["name"])
        if any(c["required"] and c["label"] not in names for c in comp["children"]):
            return False
    return True


def _attachments_ok(value):
    """A JSON list of {spaceId, fileName, fileSize, fileType, fileId}, all five keys [KB:API/0497, §6]."""
    files = _loads(value)
    if not isinstance(files, list) or not files:
        return False
    return all(
        isinstance(f, dict) and all(f.get(k) not in (None, "") for k in ATTACHMENT_KEYS) for f in files
    )


def _stored(comp, value):
    """The item as GetProcessInstance answers it: {id, name, value, extValue, componentType, bizAlias}
    [KB:API/0498]; a DDSelectField's extValue is ``{"label", "key"}`` as observed [OBS3]."""
    ext = ""
    if comp["type"] == "DDSelectField":
        key = "option_%d" % comp["options"].index(value)
        ext = json.dumps({"label": value, "key": key}, ensure_ascii=False)
    return {
        "id": comp["id"],
        "name": comp["label"],
        "value": value,
        "extValue": ext,
        "componentType": comp["type"],
        "bizAlias": "",
    }
