"""api.dingtalk.com ``/v1.0/workflow`` handlers of the sandbox's approvals (workflow.py holds the state).

Business errors are HTTP 400 ``{code, message, requestid}`` with the codes of each KB page (docs §2-§5);
where a page lists a code without saying when it applies, the choice is noted. Events produced by an API
call are sent after the answer, from a thread (DingTalk pushes asynchronously), unless the control setting
``hold_events`` keeps them back (``GET /_sandbox/approval/events``).
"""

import threading
import time

from . import delivery
from .errors import ApiError
from .workflow_forms import check_flow, check_values, schema_items

MAX_RESULTS = 100  # [KB:API/0494] maxResults ≤100
MAX_VALUES = 150  # [KB:API/0497] formComponentValues ≤150
MAX_APPROVER_STEPS = 20  # [KB:API/0497] approvers ≤20
TEXT_MAX = 1024  # [KB:API/0499, 0500, 0506] remark / text ≤1024


def _int(value, code, message):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, code, message) from None


def _emit(sb, produced):
    """Log ``produced``; send it (in a thread) unless events are held."""
    held = sb.workflow.config["hold_events"]
    sb.workflow.log.extend({"event": ev, "held": held} for ev in produced)
    if produced and not held:
        threading.Thread(target=delivery.deliver, args=(sb, produced), daemon=True).start()


# ----- templates and schema ----------------------------------------------------------------------------
def list_templates(sb, request, params, app_key):
    """GET .../userVisibilities/templates [KB:API/0494]: userId omitted = every form of the organisation;
    ``nextToken`` in the answer only while more follow. ASSUMPTION: a person sees the enabled forms only."""
    size = _int(params.get("maxResults"), "invalidMaxResults", "maxResults参数错误")
    if not 1 <= size <= MAX_RESULTS:
        raise ApiError(400, "invalidMaxResults", "maxResults参数错误")
    start = _int(params.get("nextToken"), "invalidNextToken", "nextToken参数错误")
    if start < 0:
        raise ApiError(400, "invalidNextToken", "nextToken参数错误")
    userid = params.get("userId")
    with sb.lock:
        if userid and sb.org.active_user(userid) is None:
            raise ApiError(400, "invalidParameter", "userId参数错误")
        tpls = [t for t in sb.workflow.templates.values() if not userid or t["status"] == "PUBLISHED"]
        corp_id = sb.org.corp_id
    page = [_process(t, corp_id) for t in tpls[start : start + size]]
    result = {"processList": page}
    if start + size < len(tpls):
        result["nextToken"] = start + size
    return {"result": result}


def _process(tpl, corp_id):
    code = tpl["process_code"]
    url = (
        "https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?corpid=%s&dd_share=false&showmenu=true"
        "&back=native&swfrom=isv&dinghash=approval#/custom?processCode=%s" % (corp_id, code)
    )  # the KB example is redacted: a start-page URL of that form
    return {
        "name": tpl["name"],
        "url": url,
        "iconUrl": "https://gw.alicdn.com/tfs/TB1bR6ZbcbpK1RjSZFUXXaqepXa-102-102.png",
        "processCode": code,
        "dirId": "dir_%s" % tpl["dir_name"],
        "dirName": tpl["dir_name"],
    }


def form_schema(sb, request, params, app_key):
    """GET .../forms/schemas/processCodes [KB:API/0492]: only ``result``, no ``success``; gmt* are ms
    timestamps as strings; an unknown processCode answers aflowProcessCodeIsError."""
    code = params.get("processCode")
    if not code:
        raise ApiError(400, "invalidParameter", "processCode不能为空")
    with sb.lock:
        tpl = sb.workflow.templates.get(code)
        if tpl is None:
            raise ApiError(400, "aflowProcessCodeIsError", "processCode错误")
        creator = next(iter(sb.org.users), "")
    items = schema_items(tpl["components"])
    return {
        "result": {
            "creatorUserId": creator,
            "appUuid": "",
            "formCode": code,
            "formUuid": "FORM-" + code[5:],
            "name": tpl["name"],
            "memo": "",
            "ownerIdType": "orgId",
            "schemaContent": {"title": tpl["name"], "icon": "shenpi", "items": items},
            "icon": "shenpi",
            "appType": 0,
            "bizType": "",
            "engineType": 0,
            "status": tpl["status"],
            "listOrder": 0,
            "customSetting": "",
            "procType": "inner",
            "visibleRange": "",
            "gmtCreate": "1700000000000",
            "gmtModified": "1700000000000",
        }
    }


# ----- instances ---------------------------------------------------------------------------------------
def start(sb, request, params, app_key):
    """POST /v1.0/workflow/processInstances [KB:API/0497] → ``{"instanceId"}``."""
    with sb.lock:
        org, wf = sb.org, sb.workflow
        tpl = _template(wf, params.get("processCode"))
        user = _originator(org, params.get("originatorUserId"))
        agent = params.get("microappAgentId")
        if agent not in (None, "") and str(agent) != str(org.app["agent_id"]):
            raise ApiError(400, "invalidAgentId", "agentId无效")
        steps = _approvers(org, params.get("approvers"))
        dept_id = _dept(org, user, params.get("deptId"), required=steps is None)
        values = params.get("formComponentValues")
        if not isinstance(values, list) or len(values) > MAX_VALUES:
            raise ApiError(400, "invalidParameter", "formComponentValues参数错误")
        stored = check_values(tpl["components"], values, org)
        steps = steps or wf.default_flow(org, tpl, user.userid)
        inst, produced = wf.create(org, tpl, user, dept_id, stored, steps)
    _emit(sb, produced)
    return {"instanceId": inst["id"]}


def _template(wf, code):
    if not code:
        raise ApiError(400, "invalidParameter", "processCode不能为空")
    tpl = wf.templates.get(code)
    if tpl is None:  # processCodeError: template missing or deleted
        raise ApiError(400, "processCodeError", "审批模板不存在或已删除")
    if tpl["status"] != "PUBLISHED":  # processGetFailed: template disabled
        raise ApiError(400, "processGetFailed", "审批模板已停用")
    return tpl


def _originator(org, userid):
    if not userid:
        raise ApiError(400, "invalidParameter", "originatorUserId不能为空")
    user = org.users.get(str(userid))
    if user is None:
        raise ApiError(400, "processInstanceInvalidParameter", "发起人userId无效")
    if user.left:  # invalidParameter "... or the originator has left" [KB:API/0497]
        raise ApiError(400, "invalidParameter", "发起人已离职")
    return user


def _approvers(org, approvers):
    """An explicit flow overriding the template's [KB:API/0497 使用说明], or None."""
    if approvers in (None, []):
        return None
    try:
        steps = check_flow(approvers if isinstance(approvers, list) else [None])
    except (ValueError, AttributeError):
        raise ApiError(400, "processInstanceInvalidParameter", "审批人参数错误") from None
    unknown = any(org.active_user(u) is None for s in steps for u in s["userIds"])
    if len(steps) > MAX_APPROVER_STEPS or unknown:
        raise ApiError(400, "processInstanceInvalidParameter", "审批人userId无效")
    return steps


def _dept(org, user, value, required):
    """deptId: required without ``approvers``; -1 = root (the doc's example sends 1: both are accepted,
    docs §10 point 1); otherwise the originator must be in it (processInstanceInvalidParameter)."""
    if value in (None, ""):
        if required:
            raise ApiError(400, "processInstanceInvalidParameter", "deptId不能为空")
        return user.dept_id_list[0]
    dept_id = _int(value, "processInstanceInvalidParameter", "deptId无效")
    if dept_id not in (-1, 1) and dept_id not in user.dept_id_list:
        raise ApiError(400, "processInstanceInvalidParameter", "发起人不在该部门")
    return dept_id


def _instance(wf, inst_id, empty_code, missing_code):
    if not inst_id:
        raise ApiError(400, empty_code, "processInstanceId无效")
    inst = wf.instances.get(str(inst_id))
    if inst is None:
        raise ApiError(400, missing_code, "审批实例不存在")
    return inst


def get_instance(sb, request, params, app_key):
    """GET /v1.0/workflow/processInstances [KB:API/0498]. ``success`` is the string "true" of the doc's
    example, or the boolean seen in [OBS3] with the control setting ``get_success: "bool"``."""
    with sb.lock:
        wf = sb.workflow
        inst_id = params.get("processInstanceId")
        inst = _instance(wf, inst_id, "processInstanceIdError", "processInstanceNotExist")
        result = wf.instance_json(inst)
        success = True if wf.config["get_success"] == "bool" else "true"
    return {"result": result, "success": success}


def terminate(sb, request, params, app_key):
    """POST .../terminate [KB:API/0499]: isSystem required; when false operatingUserId must be the
    originator; RUNNING only, not within ``terminate_min_age`` (15 s) of start, and the template must allow
    revoking (else internalError "您没有任务处理的权限"; applied whoever terminates, as the page words it)."""
    with sb.lock:
        org, wf = sb.org, sb.workflow
        inst = _instance(wf, params.get("processInstanceId"), "invalidInstanceId", "aflowProcessInstNotExist")
        is_system = params.get("isSystem")
        if not isinstance(is_system, bool):
            raise ApiError(400, "invalidInstanceTerminateIsSystem", "isSystem参数错误")
        operator = params.get("operatingUserId")
        if not is_system:
            if operator and org.active_user(str(operator)) is None:
                raise ApiError(400, "userNotExist", "用户不存在")
            if str(operator or "") != inst["originator"]:
                raise ApiError(400, "invalidInstanceTerminateOperatingUserId", "操作人必须是发起人")
        if inst["status"] != "RUNNING":
            raise ApiError(400, "aflowProcessInstStatusException", "审批实例已结束，不能撤销")
        if not wf.templates.get(inst["process_code"], {}).get("allow_revoke", True):
            raise ApiError(400, "internalError", "您没有任务处理的权限")
        if time.time() - inst["created"] < wf.config["terminate_min_age"]:
            raise ApiError(400, "aflowProcessInstStatusException", "审批实例发起15秒内不能撤销")
        remark = str(params.get("remark") or "")[:TEXT_MAX]
        produced = wf.terminate(org, inst, str(operator or inst["originator"]), remark)
    _emit(sb, produced)
    return {"result": True, "success": True}


def comment(sb, request, params, app_key):
    """POST .../comments [KB:API/0500]: an ADD_REMARK record. ASSUMPTION: a terminated instance takes no
    comment (aflowProcessInstCanNotBeExecuted); running and completed ones do."""
    with sb.lock:
        org, wf = sb.org, sb.workflow
        inst = _instance(wf, params.get("processInstanceId"), "invalidInstanceId", "aflowProcessInstNotExist")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > TEXT_MAX:
            raise ApiError(400, "invalidInstanceCommentText", "评论内容无效")
        userid = params.get("commentUserId")
        if not userid:
            raise ApiError(400, "invalidInstanceCommentUserId", "commentUserId无效")
        if org.active_user(str(userid)) is None:
            raise ApiError(400, "userNotExist", "用户不存在")
        if inst["status"] == "TERMINATED":
            raise ApiError(400, "aflowProcessInstCanNotBeExecuted", "审批实例状态不允许该操作")
        wf.comment(inst, str(userid), text)
    return {"result": True, "success": True}


def execute(sb, request, params, app_key):
    """POST .../execute [KB:API/0506]: ``actionerUserId`` agrees or refuses their open task ``taskId``.
    The page documents no error codes: invalidParameter for a bad result/task (ASSUMPTION)."""
    with sb.lock:
        org, wf = sb.org, sb.workflow
        inst = _instance(wf, params.get("processInstanceId"), "invalidInstanceId", "aflowProcessInstNotExist")
        result = params.get("result")
        if result not in ("agree", "refuse"):
            raise ApiError(400, "invalidParameter", "result必须是agree或refuse")
        userid = str(params.get("actionerUserId") or "")
        if org.active_user(userid) is None:
            raise ApiError(400, "userNotExist", "用户不存在")
        if inst["status"] != "RUNNING":
            raise ApiError(400, "aflowProcessInstCanNotBeExecuted", "审批实例状态不允许该操作")
        task_id = _int(params.get("taskId"), "invalidParameter", "taskId无效")
        task = wf.open_task(inst, userid, task_id)
        if task is None:
            raise ApiError(400, "invalidParameter", "该用户没有此待办任务")
        produced = wf.act(org, inst, task, result, str(params.get("remark") or "")[:TEXT_MAX])
    _emit(sb, produced)
    return {"result": True, "success": True}


def instances(sb, request, params, app_key):
    """``/v1.0/workflow/processInstances``: POST starts [KB:API/0497], GET reads [KB:API/0498]."""
    handler = start if request.method == "POST" else get_instance
    return handler(sb, request, params, app_key)


ROUTES = {
    "/v1.0/workflow/processes/userVisibilities/templates": (list_templates, "app"),
    "/v1.0/workflow/forms/schemas/processCodes": (form_schema, "app"),
    "/v1.0/workflow/processInstances": (instances, "app"),
    "/v1.0/workflow/processInstances/terminate": (terminate, "app"),
    "/v1.0/workflow/processInstances/comments": (comment, "app"),
    "/v1.0/workflow/processInstances/execute": (execute, "app"),
}
