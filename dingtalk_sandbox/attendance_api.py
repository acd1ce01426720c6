"""oapi.dingtalk.com attendance and leave handlers (docs/dingtalk-attendance-protocol.md §2, §5-§7); the state
is in attendance.py / attendance_leave.py. The pages list no error codes: every bad parameter answers
``{"errcode": 400002, "errmsg": ...}`` (ASSUMPTION of the protocol, the generic 参数错误 of the other oapi
answers). Rate limit and faults apply as to every path (server.py)."""

import datetime

from .errors import OapiError

BAD = 400002
MAX_DAYS = 7  # [KB:API/0195] workDateFrom..workDateTo at most 7 days apart
MAX_USERS = 50  # [KB:API/0195] userIdList ≤ 50
MAX_LIMIT = 50  # [KB:API/0195] limit ≤ 50
MAX_LEAVE_USERS = 100  # [KB:API/0231] userid_list ≤ 100
MAX_LEAVE_MS = 180 * 86_400_000  # [KB:API/0231] ≤ 180 days
MAX_LEAVE_SIZE = 20  # [KB:API/0231] size ≤ 20
SHIFT_PAGE = 200  # [KB:API/0203] 200 a page


def _bad(message):
    return OapiError(BAD, message)


def _int(params, name, default=None):
    value = params.get(name)
    if value in (None, ""):
        if default is None:
            raise _bad("%s不能为空" % name)
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad("%s参数错误" % name) from None


def _ids(value):
    """A list, or a comma-separated string (form-encoded requests)."""
    if isinstance(value, list):
        return [str(v) for v in value if str(v)]
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


def _true(value):
    return value is True or str(value).lower() == "true"


def _att(sb):
    return sb.attendance.bind(sb.org)


def _work_day(text, name):
    """``yyyy-MM-dd HH:mm:ss`` selects the whole work day [KB:API/0195]; ``yyyy-MM-dd HH:mm`` (the page's
    example) and a bare date are accepted too."""
    try:
        return datetime.date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        raise _bad("%s格式错误，应为yyyy-MM-dd HH:mm:ss" % name) from None


# ----- punch results [KB:API/0195] -----------------------------------------------------------------
def attendance_list(sb, request, params, app_key):
    first = _work_day(params.get("workDateFrom"), "workDateFrom")
    last = _work_day(params.get("workDateTo"), "workDateTo")
    if last < first or (last - first).days > MAX_DAYS:
        raise _bad("workDateFrom和workDateTo的间隔不能超过%d天" % MAX_DAYS)
    userids = _ids(params.get("userIdList"))
    if not userids or len(userids) > MAX_USERS:
        raise _bad("userIdList不能为空且不能超过%d个" % MAX_USERS)
    offset, limit = _int(params, "offset"), _int(params, "limit")
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise _bad("offset或limit参数错误，limit最大%d" % MAX_LIMIT)
    if _true(params.get("isI18n")):  # "国内企业...如果传了true获取不到考勤信息" [KB:API/0243]
        return {"recordresult": [], "hasMore": False}
    days = [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]
    with sb.lock:
        att = _att(sb)
        users = [sb.org.users[u] for u in sorted(set(userids)) if u in sb.org.users]  # unknown: nothing
        page, total = att.page(users, days, offset, limit)
    return {"recordresult": page, "hasMore": offset + limit < total}


def shift_list(sb, request, params, app_key):
    """[KB:API/0203]: ``cursor`` is the id after which the page starts (0 first); ASSUMPTION: an unknown
    op_user_id answers 400002."""
    cursor = _int(params, "cursor", 0)
    with sb.lock:
        if sb.org.active_user(str(params.get("op_user_id") or "")) is None:
            raise _bad("op_user_id不存在")
        shifts = [s for s in _att(sb).shifts if s["id"] > cursor]
    page = shifts[:SHIFT_PAGE]
    result = {"has_more": len(shifts) > SHIFT_PAGE, "cursor": page[-1]["id"] if page else cursor}
    result["result"] = [{"id": s["id"], "name": s["name"]} for s in page]
    return {"result": result, "success": True}


# ----- leave [KB:API/0238, 0231] ---------------------------------------------------------------------
def vacation_types(sb, request, params, app_key):
    """op_userid: an admin (``admin`` in the org); ASSUMPTION (protocol §5): else 400002."""
    source = params.get("vacation_source")
    with sb.lock:
        user = sb.org.active_user(str(params.get("op_userid") or ""))
        if user is None or not user.admin:
            raise _bad("op_userid不是管理员")
        types = _att(sb).leave.list_types("all" if source is None else str(source))
    return {"result": types, "success": True}


def leave_status(sb, request, params, app_key):
    userids = _ids(params.get("userid_list"))
    if not userids or len(userids) > MAX_LEAVE_USERS:
        raise _bad("userid_list不能为空且不能超过%d个" % MAX_LEAVE_USERS)
    start, end = _int(params, "start_time"), _int(params, "end_time")
    if end < start or end - start > MAX_LEAVE_MS:
        raise _bad("start_time和end_time的间隔不能超过180天")
    offset, size = _int(params, "offset"), _int(params, "size")
    if offset < 0 or not 1 <= size <= MAX_LEAVE_SIZE:
        raise _bad("offset或size参数错误，size最大%d" % MAX_LEAVE_SIZE)
    with sb.lock:
        found = _att(sb).leave.status(userids, start, end)
    page = {"has_more": offset + size < len(found), "leave_status": found[offset : offset + size]}
    return {"result": page, "success": True}


ROUTES = {
    "/attendance/list": (attendance_list, "app"),
    "/topapi/attendance/shift/list": (shift_list, "app"),
    "/topapi/attendance/vacation/type/list": (vacation_types, "app"),
    "/topapi/attendance/getleavestatus": (leave_status, "app"),
}
