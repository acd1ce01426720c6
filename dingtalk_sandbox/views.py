"""Shape the organisation into DingTalk answer objects (protocol §4): exact field names, empty omitted."""

from . import avatars

_USER_TEXT = (
    "unionid",
    "name",
    "avatar",
    "state_code",
    "manager_userid",
    "mobile",
    "telephone",
    "job_number",
    "title",
    "email",
    "org_email",
    "work_place",
    "remark",
    "extension",
)


def user_get(org, user, base=""):
    """``/topapi/v2/user/get`` result (``base``: the URL the client called, for ``avatar``)."""
    out = _user_common(org, user, base)
    if user.manager_userid and org.active_user(user.manager_userid):
        out["manager_userid"] = user.manager_userid
    else:
        out.pop("manager_userid", None)
    out["dept_order_list"] = [
        {"dept_id": d, "order": _order(org, d, user.userid)} for d in user.dept_id_list if d in org.depts
    ]
    leading = set(org.leader_depts(user.userid))
    out["leader_in_dept"] = [{"dept_id": d, "leader": d in leading} for d in user.dept_id_list]
    roles = []
    for role_id in org.user_roles.get(user.userid, ()):
        role = org.roles[role_id]
        roles.append(
            {"id": role_id, "name": role["name"], "group_name": org.groups[role["group_id"]]["name"]}
        )
    if roles:
        out["role_list"] = roles
    out["real_authed"] = True
    out["exclusive_account"] = False
    return out


def user_in_list(org, user, dept_id, order, base=""):
    """An item of ``/topapi/v2/user/list``: user/get's common fields plus ``dept_order`` and ``leader`` for
    this dept, without ``manager_userid`` and ``senior``, which the list does not carry
    [KB:API/0062-queries-the-complete-information-of-a-department-user; SDK
    opendingtalk/alibaba-dingtalk-service-sdk OapiV2UserListResponse.ListUserResponse]."""
    out = _user_common(org, user, base)
    out.pop("manager_userid", None)
    out.pop("senior", None)
    out["dept_order"] = order
    out["leader"] = user.userid in org.depts[dept_id]["dept_manager_userid_list"]
    out["exclusive_account"] = False
    return out


def _user_common(org, user, base=""):
    out = {"userid": user.userid}
    for field in _USER_TEXT:
        value = getattr(user, field)
        if value:
            out[field] = value
    if "avatar" in out:  # stored as a path of the sandbox's static CDN (avatars.py)
        out["avatar"] = avatars.absolute(base, out["avatar"])
    if user.mobile:
        out["hide_mobile"] = False
    out["dept_id_list"] = list(user.dept_id_list)
    if user.hired_date:
        out["hired_date"] = int(user.hired_date)
    out["active"] = bool(user.active)
    out["admin"] = bool(user.admin)
    out["boss"] = bool(user.boss)
    out["senior"] = bool(user.senior)
    return out


def _order(org, dept_id, userid):
    members = org.members.get(dept_id, [])
    try:
        return 176_000_000 - members.index(userid) * 1000
    except ValueError:
        return 0


def dept_brief(dept):
    """An item of ``/topapi/v2/department/listsub``."""
    out = {"dept_id": dept["dept_id"], "name": dept["name"]}
    if "parent_id" in dept:
        out["parent_id"] = dept["parent_id"]
    out["create_dept_group"] = bool(dept.get("create_dept_group"))
    out["auto_add_user"] = bool(dept.get("auto_add_user"))
    return out


def dept_get(org, dept):
    """``/topapi/v2/department/get`` result."""
    out = dept_brief(dept)
    out["order"] = int(dept.get("order") or 0)
    managers = [u for u in dept.get("dept_manager_userid_list") or () if org.active_user(u)]
    if managers:
        out["dept_manager_userid_list"] = managers
    owner = dept.get("org_dept_owner")
    if owner and org.active_user(owner):
        out["org_dept_owner"] = owner
    if dept.get("source_identifier"):
        out["source_identifier"] = dept["source_identifier"]
    if dept.get("create_dept_group"):
        out["dept_group_chat_id"] = "chat%016x" % dept["dept_id"]
        out["group_contain_sub_dept"] = False
    out.update(
        {
            "hide_dept": bool(dept.get("hide_dept")),
            "outer_dept": False,
            "dept_permits": [],
            "user_permits": [],
            "outer_permit_depts": [],
            "outer_permit_users": [],
            "from_union_org": False,
            "member_count": sum(len(org.members.get(d, ())) for d in org.subtree(dept["dept_id"])),
            "owning_member_count": len(org.members.get(dept["dept_id"], ())),
        }
    )
    return out
