"""The last steps of the synchronizer: roles, role groups, managers and leavers."""

import collections
import datetime

from odoo import fields, models

from ..dingtalk import errors as dt_errors
from .res_users import SYSTEM_USERS
from .ziqi_dingtalk_sync_apply import _changes

ARCHIVE_WINDOW = datetime.timedelta(hours=24)  # the safety threshold counts archives over this window
OUTSIDE_SCOPE_USER = 50002  # user/get of someone outside the app's contacts scope
MANAGER_SLICE = 2000  # employees whose manager is written per slice (see _write_by_slices)
DEPARTMENT_SLICE = 50  # departments whose manager is written per slice (Odoo then moves their people)


class ZiqiDingtalkSyncFinalize(models.AbstractModel):
    """Roles, managers, role groups and leavers steps of ``ziqi.dingtalk.sync.run`` (which inherits this)."""

    _name = "ziqi.dingtalk.sync.finalize"
    _description = "DingTalk Sync: Roles, Managers and Leavers"

    # --- roles ---

    def _step_roles(self):
        members = {key: payload["userids"] for key, payload in self._staged("role_members")}
        self._apply_roles(dict(self._staged("role")), members, archive_missing=self.walk_complete)
        return True

    def _apply_roles(self, payloads, members, archive_missing=False):
        """Create or update roles (payloads keyed by role id) and set the members given in ``members``;
        archive the bound roles not among them when ``archive_missing`` (a complete walk)."""
        Role = self._env_quiet("ziqi.dingtalk.role")
        company = self._company()
        bound = Role.search([("company_id", "=", company.id)])
        by_key = {role.dingtalk_id: role for role in bound}
        new_keys = [key for key in payloads if key not in by_key]
        created = Role.create(
            [
                dict(Role._prepare_dingtalk_vals(payloads[key]), dingtalk_id=key, company_id=company.id)
                for key in new_keys
            ]
        )
        by_key.update(zip(new_keys, created, strict=True))
        self._count("roles", "created", len(created))
        employees = self._employee_map({userid for userids in members.values() for userid in userids})
        updated = 0
        for key in payloads:
            role = by_key[key]
            vals = dict(Role._prepare_dingtalk_vals(payloads[key]), active=True)
            if key in members:
                ids = {employees[uid] for uid in members[key] if uid in employees}
                vals["employee_ids"] = [(6, 0, sorted(ids))]
            diff = _changes(role, vals)
            if diff:
                role.write(diff)
                updated += role not in created
        self._count("roles", "updated", updated)
        self._count("roles", "unchanged", len(payloads) - len(created) - updated)
        if archive_missing:
            gone = bound.filtered(lambda role: role.active and role.dingtalk_id not in payloads)
            self._archive_roles(gone)
        self._apply_role_tags(by_key.values())

    def _archive_roles(self, roles):
        roles.write({"active": False, "employee_ids": [(5, 0, 0)]})
        self._count("roles", "archived", len(roles))
        self._apply_role_tags(roles)

    def _apply_role_tags(self, roles):
        """Each role's members carry the role as an employee tag (roles of the same name share one)."""
        Category = self._env_quiet("hr.employee.category")
        members = collections.defaultdict(set)
        for role in roles:
            if not role.category_id:
                role.category_id = Category.search([("name", "=", role.name)], limit=1) or Category.create(
                    {"name": role.name}
                )
            members[role.category_id] |= set(role.employee_ids.ids) if role.active else set()
        for category, employee_ids in members.items():
            company_members = category.employee_ids.filtered(lambda e: e.company_id == self._company())
            if set(company_members.ids) != employee_ids:
                category.write(
                    {
                        "employee_ids": [(3, eid) for eid in set(company_members.ids) - employee_ids]
                        + [(4, eid) for eid in employee_ids - set(company_members.ids)]
                    }
                )

    # --- finalize: managers, role groups, leavers ---

    def _step_finalize(self):
        if self.kind in ("all", "users", "departments"):
            self._apply_managers()
        if self.kind in ("all", "users", "roles"):
            self._apply_role_groups()
        if self.kind in ("all", "users") and self.walk_complete:
            self._archive_leavers()
        return True

    def _employee_map(self, userids=None):
        """DingTalk userid → id of the company's active bound employee (only ``userids``, when given)."""
        self.env["hr.employee"].flush_model(["dingtalk_userid", "active", "company_id"])
        query = """SELECT dingtalk_userid, id FROM hr_employee
                   WHERE company_id = %s AND dingtalk_userid IS NOT NULL AND active"""
        params = [self._company().id]
        if userids is not None:
            query += " AND dingtalk_userid = ANY(%s)"
            params.append(sorted(userids))
        self.env.cr.execute(query, params)
        return dict(self.env.cr.fetchall())

    def _apply_managers(self, userids=None, dept_keys=None):
        """Department managers, then each employee's manager (DingTalk's manager_userid, else the leader of
        the department). Read as rows, not records: the full sync sees the whole company at once, and
        100,000 employees in the cache (every stored field) would cost memory that grows with the company.

        Given ``userids`` or ``dept_keys`` (events), only what those people and departments can change:
        the departments among them or led by one of them; the employees among them, managed by one of them
        or in one of those departments."""
        scoped = userids is not None or dept_keys is not None
        userids, dept_keys = sorted(set(userids or ())), sorted(set(dept_keys or ()))
        Department = self._env_quiet("hr.department")
        Employee = self._env_quiet("hr.employee")
        Department.flush_model(["dingtalk_id", "dingtalk_manager_userids", "manager_id", "company_id"])
        Employee.flush_model(["dingtalk_manager_userid", "parent_id", "department_id"])
        query = """SELECT id, dingtalk_manager_userids, manager_id FROM hr_department
                   WHERE company_id = %s AND dingtalk_id IS NOT NULL"""
        params = [self._company().id]
        if scoped:
            query += """ AND (dingtalk_id = ANY(%s)
                              OR string_to_array(dingtalk_manager_userids, ',') && %s::text[])"""
            params += [dept_keys, userids]
        self.env.cr.execute(query, params)
        depts = self.env.cr.fetchall()
        leaders = {uid for _id, uids, _manager in depts for uid in (uids or "").split(",") if uid}
        employees = self._employee_map(leaders if scoped else None)
        changes = []
        for dept_id, uids, current in depts:
            target = next((employees[uid] for uid in (uids or "").split(",") if uid in employees), False)
            if (current or False) != target:
                changes.append((dept_id, target))
        # Odoo moves a department's people who reported to its old manager to the new one (all of them, on a
        # first sync), hence small slices of departments; flushed before the people are read below
        self._write_by_slices(Department, "manager_id", changes, DEPARTMENT_SLICE)
        query = """SELECT e.id, e.dingtalk_manager_userid, e.parent_id, d.manager_id
                   FROM hr_employee e LEFT JOIN hr_department d ON d.id = e.department_id
                   WHERE e.company_id = %s AND e.dingtalk_userid IS NOT NULL AND e.active"""
        params = [self._company().id]
        if scoped:
            query += """ AND (e.dingtalk_userid = ANY(%s) OR e.dingtalk_manager_userid = ANY(%s)
                              OR e.department_id = ANY(%s))"""
            params += [userids, userids, [dept[0] for dept in depts]]
        self.env.cr.execute(query, params)
        rows = self.env.cr.fetchall()
        if scoped:
            employees = self._employee_map({manager for _id, manager, _p, _d in rows if manager})
        changes = []
        for employee_id, manager_userid, current, dept_manager in rows:
            parent = employees.get(manager_userid) or dept_manager or False
            parent = parent if parent != employee_id else False
            if (current or False) != parent:
                changes.append((employee_id, parent))
        self._write_by_slices(Employee, "parent_id", changes, MANAGER_SLICE)

    def _write_by_slices(self, Model, fname, changes, size):
        """Write ``fname`` for ``(record id, value)`` changes, one write per value within each slice of
        ``size``, each slice flushed; when there is more than one, the cache is emptied after each (a first
        sync sets everyone's manager: memory stays flat over a large company)."""
        for start in range(0, len(changes), size):
            by_value = collections.defaultdict(list)
            for record_id, value in changes[start : start + size]:
                by_value[value].append(record_id)
            for value, record_ids in by_value.items():
                Model.browse(record_ids).write({fname: value})
            self.env.flush_all()
            if len(changes) > size:
                self.env.invalidate_all()

    def _apply_role_groups(self):
        """Members of a role get its groups and what they imply; what the sync gave is taken back when no
        role gives it any more. A group that is or implies an admin group is never granted (logged)."""
        Role = self._env_quiet("ziqi.dingtalk.role").with_context(active_test=True)
        desired = collections.defaultdict(set)
        for role in Role.search([("company_id", "=", self._company().id), ("group_ids", "!=", False)]):
            users = role.employee_ids.filtered("active").user_id.filtered("active")
            for group in role.group_ids:
                for granted_group in self._grantable(role, group):
                    desired[granted_group.id] |= set(users.ids)
        granted = self._granted_groups()
        groups = self._env_quiet("res.groups").browse(sorted(set(desired) | set(granted)))
        # who had each group before any write: Odoo adds implied groups as a group gains users, and what
        # the sync records as its own grant is exactly what a user did not have before
        before = {group.id: set(group.users.ids) for group in groups}
        gained = set()
        for group in groups:
            add = desired[group.id] - before[group.id]
            revoke = (granted[group.id] - desired[group.id]) & before[group.id]
            if add or revoke:
                group.write({"users": [(4, uid) for uid in add] + [(3, uid) for uid in revoke]})
            gained |= add
            self._record_grants(group.id, add, granted[group.id] - desired[group.id])
        self.env["discuss.channel"]._dingtalk_subscribe(self.env["res.users"].browse(sorted(gained)))

    def _grantable(self, role, group):
        """``group`` and the groups it implies, or nothing when any of them is an admin group: the role's
        mapping was checked when it was saved, but a group can be made to imply more afterwards."""
        closure = group | group.trans_implied_ids
        if closure & self.env["ziqi.dingtalk.role"]._forbidden_groups():
            self._log(
                "roles",
                role.dingtalk_id,
                self.env._(
                    "The role %(role)s maps to %(group)s, which gives administration rights: not granted.",
                    role=role.name,
                    group=group.full_name,
                ),
            )
            return group.browse()
        return closure

    def _granted_groups(self):
        """Group id → users the sync gave it to, among the company's active bound people."""
        self.env["res.users"].flush_model(["dingtalk_granted_group_ids"])
        self.env["hr.employee"].flush_model(["dingtalk_userid", "active", "company_id", "user_id"])
        self.env.cr.execute(
            """SELECT DISTINCT g.group_id, g.user_id FROM res_users_dingtalk_granted_group_rel g
               JOIN hr_employee e ON e.user_id = g.user_id
               WHERE e.company_id = %s AND e.dingtalk_userid IS NOT NULL AND e.active""",
            [self._company().id],
        )
        granted = collections.defaultdict(set)
        for group_id, user_id in self.env.cr.fetchall():
            granted[group_id].add(user_id)
        return granted

    def _record_grants(self, group_id, added, dropped):
        if added:
            self.env.cr.execute(
                """INSERT INTO res_users_dingtalk_granted_group_rel (user_id, group_id)
                   SELECT unnest(%s), %s ON CONFLICT DO NOTHING""",
                [sorted(added), group_id],
            )
        if dropped:
            self.env.cr.execute(
                "DELETE FROM res_users_dingtalk_granted_group_rel WHERE group_id = %s AND user_id IN %s",
                [group_id, tuple(dropped)],
            )
        if added or dropped:
            self.env["res.users"].invalidate_model(["dingtalk_granted_group_ids"])

    def _archive_leavers(self):
        """Archive bound people no user list of this (complete) walk named, once user/get confirms each of
        them has left, unless that is too many of them (see _archive_guarded)."""
        self.env.cr.execute(
            "SELECT key FROM ziqi_dingtalk_sync_item WHERE run_id = %s AND kind = 'user'", [self.id]
        )
        seen = {row[0] for row in self.env.cr.fetchall()}
        employees = self._employee_map()
        leavers = {uid: eid for uid, eid in employees.items() if uid not in seen}
        if self._archive_guarded(leavers) is None:
            self.state = "stopped"

    def _archive_guarded(self, leavers):
        """Archive these people (userid → employee id), each one confirmed by user/get first, unless their
        number, with the people DingTalk archived over the last day, passes the company's threshold: then
        nobody is archived, the stop is logged and alerted at once (never held back). Returns the ids of the
        employees archived, or None when stopped."""
        if not leavers:
            return []
        company = self._company()
        if not self._within_archive_threshold(len(leavers)):
            return None
        confirmed = self._confirm_leavers(sorted(leavers))
        gone = [leavers[uid] for uid in confirmed]
        self._archive_employees(gone)
        if gone and self:  # a run says so; events archive a few people at a time, as DingTalk tells them
            names = self._env_quiet("hr.employee").browse(gone).mapped("name")
            company._dingtalk_alert(
                self.env._(
                    "[Odoo] DingTalk: %(count)s people of %(company)s left and were archived: %(names)s",
                    count=len(gone),
                    company=company.name,
                    names=", ".join(names[:20]) + (" …" if len(names) > 20 else ""),
                ),
                record=self,
                throttle=False,
            )
        return gone

    def _within_archive_threshold(self, count):
        """False (logged, alerted) when archiving ``count`` more people would pass the threshold, counting
        those DingTalk archived in the last ARCHIVE_WINDOW too (events archive a few at a time)."""
        company = self._company()
        Employee = self._env_quiet("hr.employee")
        bound = [("company_id", "=", company.id), ("dingtalk_userid", "!=", False)]
        recent = Employee.search_count(
            [
                *bound,
                ("active", "=", False),
                ("dingtalk_archived_at", ">=", fields.Datetime.now() - ARCHIVE_WINDOW),
            ]
        )
        # counted, not read: events ask this for every batch that names a leaver
        total = Employee.with_context(active_test=True).search_count(bound) + recent
        if count + recent <= total * company.dingtalk_archive_threshold / 100:
            return True
        message = self.env._(
            "Stopped before archiving: %(count)s of %(total)s people would be archived (%(recent)s already "
            "in the last 24 hours), more than the %(threshold)s%% threshold. Check DingTalk, or raise the "
            "threshold and sync again.",
            count=count,
            total=total,
            recent=recent,
            threshold=company.dingtalk_archive_threshold,
        )
        self._log("users", "", message)
        if not self:  # a run alerts as it stops (never held back); an event batch alerts here
            company._dingtalk_alert(f"[Odoo] DingTalk {company.name}: {message}", throttle=False)
        return False

    def _confirm_leavers(self, userids):
        """The people of ``userids`` DingTalk confirms have left (user/get answers 60121/33012) or are no
        longer the app's (50002, outside its contacts scope). A person user/get still answers for, or an
        error, is not confirmed: logged, and left as they are."""
        client = self._company()._dingtalk_client()
        confirmed = []
        for userid in userids:
            try:
                client.user_get(userid)
            except dt_errors.NotFound:
                confirmed.append(userid)
                continue
            except dt_errors.APIError as error:
                if error.errcode == OUTSIDE_SCOPE_USER:
                    confirmed.append(userid)
                    continue
                reason = str(error)
            except dt_errors.DingTalkError as error:
                reason = str(error)
            else:
                reason = self.env._("DingTalk still lists this person (user/get): not archived")
            self._log("users", userid, reason)
        return confirmed

    def _archive_employees(self, employee_ids):
        """Archive these employees and the users bound to them (never Odoo's own system accounts), marked
        as archived by the sync, so that only they are reactivated by it: their sessions end at once."""
        Employee = self._env_quiet("hr.employee")
        system = {self.env.ref(xmlid).id for xmlid in SYSTEM_USERS if self.env.ref(xmlid, False)}
        gone = Employee.browse(employee_ids).filtered("active")
        users = gone.filtered(
            lambda e: e.user_id.active
            and e.user_id.id not in system
            and e.user_id.dingtalk_userid == e.dingtalk_userid
        ).user_id
        gone.write(
            {
                "active": False,
                "dingtalk_archived_by_sync": True,
                "dingtalk_archived_at": fields.Datetime.now(),
            }
        )
        users.write({"active": False, "dingtalk_archived_by_sync": True})
        self._count("users", "archived", len(gone))
