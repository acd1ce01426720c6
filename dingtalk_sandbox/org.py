"""The organisation model: departments, users, role groups, with the indexes the APIs need.

JSON layout (``Org.to_json`` / ``Org.from_json``)::

    {"corp_id", "corp_name", "app": {"app_key", "app_secret", "agent_id"},
     "departments": [{"dept_id", "name", "parent_id", "order", "dept_manager_userid_list", ...}],
     "users": [{"userid", "unionid", "name", "dept_id_list", "manager_userid", ..., "left": bool}],
     "role_groups": [{"groupId", "name", "roles": [{"id", "name", "members": [userid, ...]}]}],
     "scope": {"authed_dept": [dept_id, ...], "authed_user": [userid, ...]}}

``scope`` is the app's contacts scope (通讯录权限范围), shaped like ``auth_org_scopes`` of
``GET /auth/scopes`` [KB:API/0053-obtain-corpsecret-authorization-scope]; the whole organisation is
``{"authed_dept": [1], "authed_user": []}`` (the default, as in that page's sample answer).

``outsiders`` (optional) ``[{"unionid", "name", "mobile", "email", "avatar"}]`` are DingTalk accounts that are
not members of the organisation: they can complete the QR / OAuth page (only ``exclusiveLogin`` restricts the
scan to the organisation's accounts [KB:API/0019-tutorial-obtaining-user-personal-information]) and
``contact/users/me`` answers their profile, but ``topapi/user/getbyunionid`` answers 60121 "未找到对应员工"
[KB:API/0064-query-a-user-by-the-union-id].

Member order inside a department is the order of ``users``; department leaders are the department's
``dept_manager_userid_list`` (``leader_in_dept`` on users is derived from it).
"""

import json

USER_FIELDS = (
    "userid",
    "unionid",
    "name",
    "mobile",
    "state_code",
    "telephone",
    "email",
    "org_email",
    "title",
    "job_number",
    "work_place",
    "remark",
    "avatar",
    "hired_date",
    "manager_userid",
    "dept_id_list",
    "active",
    "admin",
    "boss",
    "senior",
    "extension",
    "left",
    # not a DingTalk field: the person is access-limited (访问受限), which v2/user/list hides unless asked
    # with contain_access_limit=true [KB:API/0062-queries-the-complete-information-of-a-department-user]
    "access_limited",
)
DEPT_DEFAULTS = {
    "order": 0,
    "dept_manager_userid_list": [],
    "create_dept_group": False,
    "auto_add_user": False,
    "hide_dept": False,
    "source_identifier": "",
    "org_dept_owner": "",
}
DEFAULT_APP = {"app_key": "dingsandboxappkey0001", "app_secret": "sandbox-app-secret", "agent_id": 100000001}
WHOLE_ORG_SCOPE = {"authed_dept": [1], "authed_user": []}
OUTSIDER_FIELDS = ("unionid", "name", "mobile", "email", "avatar")


class User:
    """One person; slots keep 100k of them light."""

    __slots__ = USER_FIELDS

    def __init__(self, **vals):
        for field in USER_FIELDS:
            setattr(self, field, vals.get(field))
        self.dept_id_list = [int(d) for d in (self.dept_id_list or [1])]
        self.active = True if self.active is None else bool(self.active)
        for flag in ("admin", "boss", "senior", "left", "access_limited"):
            setattr(self, flag, bool(getattr(self, flag)))

    def to_dict(self):
        out = {}
        for field in USER_FIELDS:
            value = getattr(self, field)
            if value not in (None, "", False) or field == "active":
                out[field] = value
        return out


class Org:
    """Departments, users and roles plus lookup indexes. Callers hold the server lock."""

    def __init__(self, corp_id="dingsandboxcorp0001", corp_name="紫骐沙箱科技有限公司", app=None):
        self.corp_id = corp_id
        self.corp_name = corp_name
        self.app = dict(DEFAULT_APP, **(app or {}))
        self.depts = {}  # dept_id -> dict
        self.children = {}  # dept_id -> [child dept ids]
        self.members = {}  # dept_id -> [userids] (active users, in order)
        self.users = {}  # userid -> User (leavers included, flagged left)
        self.by_unionid = {}
        self.groups = {}  # groupId -> {"groupId", "name", "role_ids": []}
        self.roles = {}  # role id -> {"id", "name", "group_id"}
        self.role_members = {}  # role id -> [userids]
        self.user_roles = {}  # userid -> [role ids]
        self.outsiders = {}  # unionid -> {"unionid", "name", ...}: DingTalk accounts outside the organisation
        self.scope_depts = {1}  # contacts scope: these departments and everything below them ...
        self.scope_users = set()  # ... and these people, wherever they are

    # ----- building -------------------------------------------------------------------------
    def add_dept(self, dept):
        dept = dict(DEPT_DEFAULTS, **dept)
        dept["dept_id"] = int(dept["dept_id"])
        if dept["dept_id"] != 1:
            dept["parent_id"] = int(dept.get("parent_id") or 1)
            self.children.setdefault(dept["parent_id"], []).append(dept["dept_id"])
        else:
            dept.pop("parent_id", None)
        dept["dept_manager_userid_list"] = list(dept["dept_manager_userid_list"])
        self.depts[dept["dept_id"]] = dept
        self.children.setdefault(dept["dept_id"], [])
        self.members.setdefault(dept["dept_id"], [])
        return dept

    def add_user(self, user):
        self.users[user.userid] = user
        if user.unionid:
            self.by_unionid[user.unionid] = user.userid
        if not user.left:
            for dept_id in user.dept_id_list:
                self.members.setdefault(dept_id, []).append(user.userid)
        return user

    def add_outsider(self, vals):
        """A DingTalk account that is not a member of the organisation (see the module docstring)."""
        vals = {k: v for k, v in vals.items() if k in OUTSIDER_FIELDS and v not in (None, "")}
        if not vals.get("unionid") or not vals.get("name"):
            raise ValueError("an outsider needs a unionid and a name")
        if vals["unionid"] in self.by_unionid:
            raise ValueError("unionid %r is a member of the organisation" % vals["unionid"])
        self.outsiders[vals["unionid"]] = vals
        return vals

    def add_group(self, group_id, name):
        group = {"groupId": int(group_id), "name": name, "role_ids": []}
        self.groups[group["groupId"]] = group
        return group

    def add_role(self, role_id, name, group_id, members=()):
        role = {"id": int(role_id), "name": name, "group_id": int(group_id)}
        self.roles[role["id"]] = role
        self.groups[role["group_id"]]["role_ids"].append(role["id"])
        self.role_members[role["id"]] = []
        self.set_role_members(role["id"], members)
        return role

    def set_role_members(self, role_id, userids):
        for userid in self.role_members.get(role_id, []):
            self.user_roles.get(userid, []).remove(role_id)
        kept = [u for u in dict.fromkeys(userids) if u in self.users and not self.users[u].left]
        self.role_members[role_id] = kept
        for userid in kept:
            self.user_roles.setdefault(userid, []).append(role_id)

    # ----- queries ----------------------------------------------------------------------------
    def active_user(self, userid):
        user = self.users.get(userid)
        return user if user is not None and not user.left else None

    def leader_depts(self, userid):
        user = self.users[userid]
        return [
            d
            for d in user.dept_id_list
            if userid in self.depts.get(d, {}).get("dept_manager_userid_list", ())
        ]

    def subtree(self, dept_id):
        stack, out = [dept_id], []
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(self.children.get(current, ()))
        return out

    # Contacts scope [KB:API/0053-obtain-corpsecret-authorization-scope]: a department is in the scope when it
    # or a department above it was granted (authed_dept [1] is the whole organisation); a person when one of
    # their departments is, or they were granted by name (authed_user).
    def set_scope(self, authed_dept=(1,), authed_user=()):
        depts = {int(d) for d in authed_dept or ()}
        unknown = sorted(depts - set(self.depts)) + sorted(set(authed_user or ()) - set(self.users))
        if unknown:
            raise ValueError("unknown departments or users in the scope: %s" % unknown[:10])
        self.scope_depts, self.scope_users = depts, set(authed_user or ())

    def scope(self):
        depts = sorted(d for d in self.scope_depts if d in self.depts)  # a removed department drops out
        return {"authed_dept": depts, "authed_user": sorted(self.scope_users)}

    def dept_in_scope(self, dept_id):
        while dept_id not in self.scope_depts:
            if dept_id == 1 or dept_id not in self.depts:
                return False
            dept_id = self.depts[dept_id]["parent_id"]
        return True

    def user_in_scope(self, user):
        return user.userid in self.scope_users or any(self.dept_in_scope(d) for d in user.dept_id_list)

    def depth(self, dept_id):
        level = 0
        while dept_id != 1 and dept_id in self.depts:
            dept_id = self.depts[dept_id]["parent_id"]
            level += 1
        return level

    def counts(self):
        leavers = sum(1 for u in self.users.values() if u.left)
        return {
            "departments": len(self.depts),
            "users": len(self.users) - leavers,
            "leavers": leavers,
            "role_groups": len(self.groups),
            "roles": len(self.roles),
        }

    # ----- JSON ---------------------------------------------------------------------------------
    def to_json(self):
        groups = []
        for group in self.groups.values():
            roles = [
                {"id": r, "name": self.roles[r]["name"], "members": list(self.role_members[r])}
                for r in group["role_ids"]
            ]
            groups.append({"groupId": group["groupId"], "name": group["name"], "roles": roles})
        return {
            "corp_id": self.corp_id,
            "corp_name": self.corp_name,
            "app": dict(self.app),
            "departments": [self._dept_json(d) for d in self.depts.values()],
            "users": [u.to_dict() for u in self.users.values()],
            "role_groups": groups,
            "scope": self.scope(),
            "outsiders": list(self.outsiders.values()),
        }

    @staticmethod
    def _dept_json(dept):
        return {k: v for k, v in dept.items() if v not in ("", None) or k == "name"}

    @classmethod
    def from_json(cls, data):
        org = cls(data.get("corp_id") or "dingsandboxcorp0001", data.get("corp_name") or "", data.get("app"))
        depts = data.get("departments") or [{"dept_id": 1, "name": org.corp_name or "公司"}]
        if not any(int(d["dept_id"]) == 1 for d in depts):
            org.add_dept({"dept_id": 1, "name": org.corp_name or "公司"})
        pending = list(depts)
        while pending:  # parents before children, keeping the file order otherwise
            waiting = []
            for dept in pending:
                if int(dept["dept_id"]) == 1 or int(dept.get("parent_id") or 1) in org.depts:
                    org.add_dept(dept)
                else:
                    waiting.append(dept)
            if len(waiting) == len(pending):
                raise ValueError(
                    "department tree is not connected: %s" % [d["dept_id"] for d in waiting[:10]]
                )
            pending = waiting
        for vals in data.get("users") or []:
            org.add_user(User(**vals))
        for group in data.get("role_groups") or []:
            org.add_group(group["groupId"], group["name"])
            for role in group.get("roles") or []:
                org.add_role(role["id"], role["name"], group["groupId"], role.get("members") or [])
        for vals in data.get("outsiders") or []:
            org.add_outsider(vals)
        scope = data.get("scope") or WHOLE_ORG_SCOPE
        org.set_scope(scope.get("authed_dept") or (), scope.get("authed_user") or ())
        return org

    def dump(self, path):
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as fh:
            return cls.from_json(json.load(fh))
