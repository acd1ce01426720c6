"""Organisation changes through the control API; each returns the events DingTalk would push (§2.2).
Callers hold the sandbox lock."""

import json
import secrets
import string
import time

from .events import make_event
from .org import USER_FIELDS, User

_ALNUM = string.ascii_letters + string.digits
# user field -> key used in user_modify_org diffInfo prev/curr
_DIFF_NAMES = {
    "name": "name",
    "email": "email",
    "job_number": "jobNumber",
    "manager_userid": "managerUserid",
    "hired_date": "hiredDate",
    "telephone": "telephone",
    "work_place": "workPlace",
    "mobile": "mobile",
    "title": "position",
    "remark": "remark",
    "dept_id_list": "deptIdList",
    "org_email": "orgEmail",
}
# user_modify_org diffInfo [KB:EV/0086-address-book-user-change]: ``prev`` and ``curr`` show these fields of
# the person before and after the change, changed or not, empty ones left out (the page's sample has
# ``telephone`` in prev only: it was cleared), dates as "yyyy-MM-dd" strings (dingtalk-protocol.md §9.5).
# The other fields of _DIFF_NAMES are not in the sample: they are shown only when they changed.
_DIFF_SNAPSHOT = ("name", "email", "job_number", "manager_userid", "hired_date", "telephone", "work_place")
_CHINA_OFFSET = 8 * 3600  # hired_date is ms since the epoch; the date is the one in China (UTC+8)
_DEPT_FIELDS = ("name", "order", "source_identifier", "create_dept_group", "auto_add_user", "hide_dept")


class MutationError(Exception):
    pass


def apply(org, body):
    op = body.get("op")
    handler = OPS.get(op)
    if handler is None:
        raise MutationError("unknown op %r; known: %s" % (op, ", ".join(sorted(OPS))))
    return handler(org, body)


def _user(org, userid):
    user = org.active_user(str(userid or ""))
    if user is None:
        raise MutationError("no such user %r" % userid)
    return user


def _dept(org, dept_id):
    try:
        dept = org.depts.get(int(dept_id))
    except (TypeError, ValueError):
        dept = None
    if dept is None:
        raise MutationError("no such department %r" % dept_id)
    return dept


def _dept_ids(org, values):
    ids = [_dept(org, d)["dept_id"] for d in values or [1]]
    return list(dict.fromkeys(ids))


def _set_depts(org, user, dept_ids):
    for dept_id in user.dept_id_list:
        if user.userid in org.members.get(dept_id, []):
            org.members[dept_id].remove(user.userid)
    user.dept_id_list = dept_ids
    for dept_id in dept_ids:
        org.members[dept_id].append(user.userid)
    for dept in org.depts.values():  # a leader who leaves a department stops leading it
        managers = dept["dept_manager_userid_list"]
        if user.userid in managers and dept["dept_id"] not in dept_ids:
            managers.remove(user.userid)


def _set_leader(org, user, dept_ids):
    for dept_id in dept_ids:
        managers = _dept(org, dept_id)["dept_manager_userid_list"]
        if user.userid not in managers:
            managers.append(user.userid)


def add_user(org, body):
    vals = dict(body.get("user") or {k: v for k, v in body.items() if k != "op"})
    vals["userid"] = str(vals.get("userid") or "0%015d" % secrets.randbelow(10**15))
    if vals["userid"] in org.users and not org.users[vals["userid"]].left:
        raise MutationError("userid %s exists" % vals["userid"])
    if not vals.get("name"):
        raise MutationError("name is required")
    vals.setdefault("unionid", "".join(secrets.choice(_ALNUM) for _ in range(24)) + "iE")
    vals.setdefault("state_code", "86")
    dept_ids = _dept_ids(org, vals.get("dept_id_list"))
    user = User(**{k: v for k, v in vals.items() if k in USER_FIELDS and k != "left"})
    user.dept_id_list = dept_ids
    org.add_user(user)
    _set_leader(org, user, vals.get("leader_dept_ids") or [])
    return [make_event("user_add_org", user_ids=[user.userid])]


def _diff_snapshot(user):
    out = {}
    for field, key in _DIFF_NAMES.items():
        value = getattr(user, field)
        if field == "hired_date" and isinstance(value, int | float):
            value = time.strftime("%Y-%m-%d", time.gmtime(value / 1000 + _CHINA_OFFSET))
        if value not in (None, "", []):
            out[key] = list(value) if isinstance(value, list) else value
    return out


def _manager(org, user, value):
    """A direct manager (``manager_userid``): an active person other than ``user``; empty removes it."""
    if value in (None, ""):
        return None
    manager = _user(org, value)
    if manager.userid == user.userid:
        raise MutationError("%s cannot be their own manager" % user.userid)
    return manager.userid


def update_user(org, body):
    user = _user(org, body.get("userid"))
    changes = dict(body.get("user") or {k: v for k, v in body.items() if k not in ("op", "userid")})
    if "manager_userid" in changes:  # checked before anything changes
        changes["manager_userid"] = _manager(org, user, changes["manager_userid"])
    before, shown = _diff_snapshot(user), {_DIFF_NAMES[f] for f in _DIFF_SNAPSHOT}
    for field, value in changes.items():
        if field not in USER_FIELDS or field in ("userid", "left"):
            continue
        old = getattr(user, field)
        if field == "dept_id_list":
            value = _dept_ids(org, value)
            if value != old:
                old = list(old)
                _set_depts(org, user, value)
        elif field == "unionid" and value != old:
            org.by_unionid.pop(old, None)
            org.by_unionid[value] = user.userid
            setattr(user, field, value)
        else:
            setattr(user, field, value)
        if old != value and field in _DIFF_NAMES:
            shown.add(_DIFF_NAMES[field])
    if "leader_dept_ids" in changes:
        for dept in org.depts.values():
            if user.userid in dept["dept_manager_userid_list"]:
                dept["dept_manager_userid_list"].remove(user.userid)
        _set_leader(org, user, changes["leader_dept_ids"] or [])
    prev = {k: v for k, v in before.items() if k in shown}
    curr = {k: v for k, v in _diff_snapshot(user).items() if k in shown}
    diff = {"prev": prev, "curr": curr, "userid": user.userid}
    return [make_event("user_modify_org", user_ids=[user.userid], diffInfo=diff)]


def move_user(org, body):
    return update_user(org, {"userid": body.get("userid"), "dept_id_list": body.get("dept_id_list")})


def remove_user(org, body):
    user = _user(org, body.get("userid"))
    former = list(user.dept_id_list)
    _set_depts(org, user, [])
    for role_id in list(org.user_roles.get(user.userid, [])):
        org.set_role_members(role_id, [u for u in org.role_members[role_id] if u != user.userid])
    user.dept_id_list = former  # kept in the org file for the record
    user.left = True
    return [make_event("user_leave_org", user_ids=[user.userid], OptStaffId=body.get("operator") or "")]


def add_dept(org, body):
    parent = _dept(org, body.get("parent_id") or 1)
    name = body.get("name")
    if not name:
        raise MutationError("name is required")
    _check_sibling_name(org, parent["dept_id"], name)
    dept_id = int(body.get("dept_id") or max(org.depts) + 1)
    if dept_id in org.depts:
        raise MutationError("dept_id %s exists" % dept_id)
    vals = {k: body[k] for k in _DEPT_FIELDS if k in body}
    org.add_dept(dict(vals, dept_id=dept_id, parent_id=parent["dept_id"]))
    return [make_event("org_dept_create", dept_ids=[dept_id])]


def _check_sibling_name(org, parent_id, name, exclude=None):
    for child in org.children.get(parent_id, ()):
        if child != exclude and org.depts[child]["name"] == name:
            raise MutationError("a sibling department is already named %s" % name)


def update_dept(org, body):
    dept = _dept(org, body.get("dept_id"))
    if "parent_id" in body and dept["dept_id"] != 1:
        parent = _dept(org, body["parent_id"])
        if parent["dept_id"] in org.subtree(dept["dept_id"]):
            raise MutationError("cannot move a department under itself")
        org.children[dept["parent_id"]].remove(dept["dept_id"])
        dept["parent_id"] = parent["dept_id"]
        org.children[parent["dept_id"]].append(dept["dept_id"])
    if "name" in body:
        _check_sibling_name(org, dept.get("parent_id"), body["name"], exclude=dept["dept_id"])
    for field in _DEPT_FIELDS:
        if field in body:
            dept[field] = body[field]
    if "dept_manager_userid_list" in body:
        dept["dept_manager_userid_list"] = [_user(org, u).userid for u in body["dept_manager_userid_list"]]
    return [make_event("org_dept_modify", dept_ids=[dept["dept_id"]])]


def remove_dept(org, body):
    dept = _dept(org, body.get("dept_id"))
    dept_id = dept["dept_id"]
    if dept_id == 1 or org.children.get(dept_id) or org.members.get(dept_id):
        raise MutationError("department %s is the root or still has sub-departments or members" % dept_id)
    org.children[dept["parent_id"]].remove(dept_id)
    for table in (org.depts, org.children, org.members):
        table.pop(dept_id, None)
    return [make_event("org_dept_remove", dept_ids=[dept_id])]


def _label(org, role_id):
    role = org.roles[role_id]
    return json.dumps(
        {"id": role_id, "name": role["name"], "parentId": role["group_id"], "level": 2, "scope": 1},
        ensure_ascii=False,
    )


def add_role(org, body):
    events = []
    group_id = body.get("group_id")
    if group_id is None:
        name = body.get("group_name") or "默认"
        group = next((g for g in org.groups.values() if g["name"] == name), None)
        if group is None:
            group = org.add_group(max(list(org.groups) + list(org.roles) + [10**9]) + 1, name)
            events.append(make_event("label_conf_add", labelIdList=[group["groupId"]], scope="1"))
        group_id = group["groupId"]
    elif int(group_id) not in org.groups:
        raise MutationError("no such role group %r" % group_id)
    role_id = int(body.get("role_id") or max(list(org.groups) + list(org.roles) + [10**9]) + 1)
    if role_id in org.roles or role_id in org.groups:
        raise MutationError("role id %s exists" % role_id)
    if not body.get("name"):
        raise MutationError("name is required")
    org.add_role(role_id, body["name"], group_id, body.get("members") or [])
    events.append(make_event("label_conf_add", labelIdList=[role_id], scope="1"))
    return events


def _role(org, role_id):
    try:
        return org.roles[int(role_id)]
    except (KeyError, TypeError, ValueError) as exc:
        raise MutationError("no such role %r" % role_id) from exc


def update_role(org, body):
    role = _role(org, body.get("role_id"))
    before = _label(org, role["id"])
    role["name"] = body.get("name") or role["name"]
    extra = {"scope": "1", "preLabelList": [before], "postLabelList": [_label(org, role["id"])]}
    return [make_event("label_conf_modify", labelIdList=[role["id"]], **extra)]


def remove_role(org, body):
    role = _role(org, body.get("role_id"))
    org.set_role_members(role["id"], [])
    org.groups[role["group_id"]]["role_ids"].remove(role["id"])
    org.roles.pop(role["id"])
    org.role_members.pop(role["id"])
    return [make_event("label_conf_del", labelIdList=[role["id"]])]


def set_role_members(org, body):
    role = _role(org, body.get("role_id"))
    wanted = [_user(org, u).userid for u in body.get("userids") or body.get("members") or []]
    before = list(org.role_members[role["id"]])
    org.set_role_members(role["id"], wanted)
    added = [u for u in wanted if u not in before]
    removed = [u for u in before if u not in wanted]
    events = []
    for action, users in (("add", added), ("remove", removed)):
        if users:
            events.append(
                make_event("label_user_change", userIdList=users, labelIdList=[role["id"]], action=action)
            )
    return events


def _group_label(group):
    return json.dumps(
        {"id": group["groupId"], "name": group["name"], "level": 1, "scope": 1}, ensure_ascii=False
    )


def update_role_group(org, body):
    """Rename a role group: label_conf_modify names the group itself, with level-1 labels in pre/post
    (dingtalk-protocol.md §9.8: label_conf_* name role groups too; [KB:EV/0093])."""
    try:
        group = org.groups[int(body.get("group_id"))]
    except (KeyError, TypeError, ValueError) as exc:
        raise MutationError("no such role group %r" % body.get("group_id")) from exc
    before = _group_label(group)
    group["name"] = body.get("name") or group["name"]
    extra = {"scope": "1", "preLabelList": [before], "postLabelList": [_group_label(group)]}
    return [make_event("label_conf_modify", labelIdList=[group["groupId"]], **extra)]


OPS = {
    f.__name__: f
    for f in (
        add_user,
        update_user,
        move_user,
        remove_user,
        add_dept,
        update_dept,
        remove_dept,
        add_role,
        update_role,
        update_role_group,
        remove_role,
        set_role_members,
    )
}
