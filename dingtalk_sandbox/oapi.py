"""oapi.dingtalk.com handlers (protocol §3, §4, §5.3, §6). Each returns the top-level answer fields
(``errcode``/``errmsg``/``request_id`` are added by the server) or raises ``OapiError``."""

import json
import time

from . import views
from .errors import OapiError


def _err(errcode, errmsg):
    return OapiError(errcode, errmsg)


def _int(params, name, default=None, required=False):
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise _err(40035, "不合法的参数: %s" % name)
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise _err(40035, "不合法的参数: %s" % name) from exc


def _dept(sb, params, required=True):
    dept_id = _int(params, "dept_id", default=None if required else 1, required=required)
    dept = sb.org.depts.get(dept_id)
    if dept is None:
        raise _err(60003, "部门不存在")
    return dept


# Outside the app's contacts scope (通讯录权限范围): errmsg as in [KB:API/0161-common-errors]; codes also in
# [KB:API/0013-server-api-error-codes-1]. department/listsubid and user/listid are "not limited by the
# scope" [KB:API/0083-obtain-the-list-of-sub-department-ids,
# KB:API/0065-query-the-list-of-department-userids]; v2/user/list lists 50004
# [KB:API/0062-queries-the-complete-information-of-a-department-user]; department/get's page lists no
# scope error, but contacts reads outside the scope answer "部门/员工不在授权范围内"
# [KB:API/0053-obtain-corpsecret-authorization-scope], hence 50004 there and 50002 on user/get
# (dingtalk-protocol.md §9.3). Other paths (listsub, getbyunionid, roles) are left unlimited: their pages
# say nothing about the scope.
def _dept_in_scope(sb, dept):
    if not sb.org.dept_in_scope(dept["dept_id"]):
        raise _err(50004, "请求的部门id不在授权范围内")
    return dept


def _size(params, default, maximum):
    size = _int(params, "size", default)
    if not 1 <= size <= maximum:
        raise _err(40035, "不合法的参数: size")
    return size


def gettoken(sb, request, params, app_key):
    app = sb.org.app
    if params.get("appkey") != app["app_key"] or params.get("appsecret") != app["app_secret"]:
        raise _err(40096, "不合法的appKey或appSecret")
    with sb.lock:
        token = sb.tokens.app_token(app["app_key"])
    return {"access_token": token, "expires_in": int(sb.tokens.ttl)}


def get_jsapi_ticket(sb, request, params, app_key):
    return {"ticket": "sandbox-ticket-" + app_key, "expires_in": int(sb.tokens.ttl)}


def department_listsub(sb, request, params, app_key):
    with sb.lock:
        dept = _dept(sb, params, required=False)
        children = sb.org.children.get(dept["dept_id"], ())
        return {"result": [views.dept_brief(sb.org.depts[c]) for c in children]}


def department_listsubid(sb, request, params, app_key):
    with sb.lock:
        dept = _dept(sb, params, required=False)
        return {"result": {"dept_id_list": list(sb.org.children.get(dept["dept_id"], ()))}}


def department_get(sb, request, params, app_key):
    with sb.lock:
        return {"result": views.dept_get(sb.org, _dept_in_scope(sb, _dept(sb, params)))}


def user_list(sb, request, params, app_key):
    cursor = _int(params, "cursor", required=True)
    size = _int(params, "size", required=True)
    if not 1 <= size <= 100 or cursor < 0:
        raise _err(40035, "不合法的参数: %s" % ("cursor" if cursor < 0 else "size"))
    with sb.lock:
        dept = _dept_in_scope(sb, _dept(sb, params))
        members = sb.org.members.get(dept["dept_id"], [])
        # access-limited people are listed only when asked for (contain_access_limit, default false):
        # [KB:API/0062-queries-the-complete-information-of-a-department-user]
        if str(params.get("contain_access_limit", "")).lower() != "true":
            members = [u for u in members if not sb.org.users[u].access_limited]
        if params.get("order_field") in ("entry_asc", "entry_desc"):
            members = sorted(
                members,
                key=lambda u: sb.org.users[u].hired_date or 0,
                reverse=params["order_field"] == "entry_desc",
            )
        page = members[cursor : cursor + size]
        items = [
            views.user_in_list(
                sb.org, sb.org.users[u], dept["dept_id"], 176_000_000 - (cursor + i) * 1000, request.host_url
            )
            for i, u in enumerate(page)
        ]
    result = {"has_more": cursor + size < len(members), "list": items}
    if result["has_more"]:
        result["next_cursor"] = cursor + size
    return {"result": result}


def user_get(sb, request, params, app_key):
    userid = str(params.get("userid") or "")
    if not userid:
        raise _err(33012, "无效的USERID")
    with sb.lock:
        user = sb.org.active_user(userid)
        if user is None:
            raise _err(60121, "找不到该用户")
        if not sb.org.user_in_scope(user):
            raise _err(50002, "请求的员工userid不在授权范围内")
        return {"result": views.user_get(sb.org, user, request.host_url)}


def user_listid(sb, request, params, app_key):
    with sb.lock:
        dept = _dept(sb, params)
        return {"result": {"userid_list": list(sb.org.members.get(dept["dept_id"], ()))}}


def user_getbyunionid(sb, request, params, app_key):
    with sb.lock:
        userid = sb.org.by_unionid.get(str(params.get("unionid") or ""))
        if userid is None or sb.org.active_user(userid) is None:
            raise _err(60121, "未找到对应员工")
    return {"result": {"contact_type": 0, "userid": userid}}


def auth_scopes(sb, request, params, app_key):
    """The app's contacts scope, shaped as in [KB:API/0053-obtain-corpsecret-authorization-scope]."""
    with sb.lock:
        scope = sb.org.scope()
    fields = ["jobnumber", "isLeader", "name", "position", "isAdmin", "avatar", "department", "userid"]
    return {"auth_user_field": fields, "condition_field": [], "auth_org_scopes": scope}


def role_list(sb, request, params, app_key):
    size = _size(params, 20, 200)
    offset = _int(params, "offset", 0)
    if offset < 0:
        raise _err(40035, "不合法的参数: offset")
    with sb.lock:
        groups = list(sb.org.groups.values())
        items = [
            {
                "groupId": g["groupId"],
                "name": g["name"],
                "roles": [{"id": r, "name": sb.org.roles[r]["name"]} for r in g["role_ids"]],
            }
            for g in groups[offset : offset + size]
        ]
    return {"result": {"hasMore": offset + size < len(groups), "list": items}}


def _role(sb, params, name):
    role_id = params.get(name)
    try:
        role = sb.org.roles.get(int(role_id))
    except (TypeError, ValueError):
        role = None
    if role is None:
        raise _err(33011, "无效的roleId")
    return role


def role_simplelist(sb, request, params, app_key):
    size = _size(params, 20, 100)
    offset = _int(params, "offset", 0)
    with sb.lock:
        role = _role(sb, params, "role_id")
        members = sb.org.role_members[role["id"]]
        page = [{"userid": u, "name": sb.org.users[u].name} for u in members[offset : offset + size]]
    return {"result": {"hasMore": offset + size < len(members), "list": page}}


def role_getrole(sb, request, params, app_key):
    with sb.lock:
        role = _role(sb, params, "roleId")
        return {"role": {"name": role["name"], "groupId": role["group_id"]}}


def user_getuserinfo(sb, request, params, app_key):
    code = str(params.get("code") or "")
    with sb.lock:
        info = sb.tokens.inapp_codes.pop(code, None)
        user = sb.org.active_user(info["userid"]) if info and info["expires"] > time.time() else None
        if user is None:
            raise _err(40078, "不存在的临时授权码")
        sys_level = 1 if user.admin else (100 if user.boss else 0)
        result = {
            "userid": user.userid,
            "unionid": user.unionid,
            "associated_unionid": "",
            "name": user.name,
            "device_id": "sandbox-device",
            "sys": bool(user.admin),
            "sys_level": sys_level,
        }
    return {"result": result}


def _msg(params):
    msg = params.get("msg")
    if isinstance(msg, str):
        try:
            msg = json.loads(msg)
        except ValueError as exc:
            raise _err(40035, "不合法的参数: msg") from exc
    if not isinstance(msg, dict) or not msg.get("msgtype"):
        raise _err(40035, "不合法的参数: msg")
    if len(json.dumps(msg, ensure_ascii=False).encode()) > 2048:
        raise _err(40035, "不合法的参数: msg超过2048字节")
    return msg


def _agent(sb, params):
    if str(params.get("agent_id") or "") != str(sb.org.app["agent_id"]):
        raise _err(400014, "不合法的agentId")


def asyncsend_v2(sb, request, params, app_key):
    _agent(sb, params)
    msg = _msg(params)
    userids = [u for u in str(params.get("userid_list") or "").split(",") if u]
    dept_ids = [d for d in str(params.get("dept_id_list") or "").split(",") if d]
    to_all = str(params.get("to_all_user")).lower() == "true"
    if len(userids) > 100 or len(dept_ids) > 20:
        raise _err(40035, "不合法的参数: userid_list最多100个, dept_id_list最多20个")
    if not (userids or dept_ids or to_all):
        raise _err(40035, "不合法的参数: 接收者为空")
    task_id = sb.next_task_id()
    with sb.lock:
        invalid = [u for u in userids if sb.org.active_user(u) is None]
        sb.messages.append(
            {
                "task_id": task_id,
                "agent_id": int(params["agent_id"]),
                "app_key": app_key,
                "userid_list": userids,
                "dept_id_list": [int(d) for d in dept_ids if d.isdigit()],
                "to_all_user": to_all,
                "msg": msg,
                "time": int(time.time() * 1000),
                "invalid_user_id_list": invalid,
            }
        )
    return {"task_id": task_id}


def getsendresult(sb, request, params, app_key):
    _agent(sb, params)
    task_id = _int(params, "task_id", required=True)
    with sb.lock:
        record = next((m for m in sb.messages if m["task_id"] == task_id), None)
    if record is None:
        raise _err(40035, "不合法的参数: task_id")
    invalid = record["invalid_user_id_list"]
    result = {
        "invalid_user_id_list": invalid,
        "forbidden_user_id_list": [],
        "failed_user_id_list": [],
        "read_user_id_list": [],
        "unread_user_id_list": [u for u in record["userid_list"] if u not in invalid],
        "invalid_dept_id_list": [],
        "forbidden_list": [],
    }
    return {"send_result": result}


def call_back_failed_result(sb, request, params, app_key):
    """GET /call_back/get_call_back_failed_result: at most 200 parked pushes, forgotten once answered, and
    ``has_more`` [KB:API/0015-obtain-the-event-list-of-failed-push-messages; EV/0230] (see failed.py)."""
    return sb.redelivery.take_page()


ROUTES = {
    "/gettoken": (gettoken, "none"),
    "/get_jsapi_ticket": (get_jsapi_ticket, "app"),
    "/auth/scopes": (auth_scopes, "app"),
    "/topapi/v2/department/listsub": (department_listsub, "app"),
    "/topapi/v2/department/listsubid": (department_listsubid, "app"),
    "/topapi/v2/department/get": (department_get, "app"),
    "/topapi/v2/user/list": (user_list, "app"),
    "/topapi/v2/user/get": (user_get, "app"),
    "/topapi/user/listid": (user_listid, "app"),
    "/topapi/user/getbyunionid": (user_getbyunionid, "app"),
    "/topapi/role/list": (role_list, "app"),
    "/topapi/role/simplelist": (role_simplelist, "app"),
    "/topapi/role/getrole": (role_getrole, "app"),
    "/topapi/v2/user/getuserinfo": (user_getuserinfo, "app"),
    "/topapi/message/corpconversation/asyncsend_v2": (asyncsend_v2, "app"),
    "/topapi/message/corpconversation/getsendresult": (getsendresult, "app"),
    "/call_back/get_call_back_failed_result": (call_back_failed_result, "app"),
}
