"""The importer: DingTalk's directory (plain payloads) onto Odoo's records.

One stateless service model. The full sync, the event inbox and first sign-in each call it with the company
and an :class:`~.import_report.ImportReport` of their own; it keeps nothing between calls. Data flows one
way: DingTalk → plain payloads → importer → records. Sections: shared helpers, departments, people,
managers, roles and role groups, leavers, reading named ids now (events, first sign-in)."""

import collections
import datetime
import logging

from odoo import fields, models
from odoo.tools import SQL

from ..compat import employee_department
from ..dingtalk import errors as dt_errors
from ..dingtalk.directory import parents_first
from .discuss_channel import SUBSCRIBE_USERS

_logger = logging.getLogger(__name__)

QUIET = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
    "no_reset_password": True,
    "active_test": False,
    # names are written as the source (en_US) value whatever the language of whoever started the run,
    # so a translated name never makes the next run see a change
    "lang": "en_US",
    # channels that subscribe people automatically get the people of a batch once, after it
    # (discuss_channel.py); Odoo's own way reads the whole company on each create
    SUBSCRIBE_USERS: (),
}

MANAGER_SLICE = 2000  # employees whose manager is written per slice (see _write_by_slices)
DEPARTMENT_SLICE = 50  # departments whose manager is written per slice (Odoo then moves their people)
ARCHIVE_WINDOW = datetime.timedelta(hours=24)  # the safety threshold counts archives over this window
# what reading a named id now did to it (the _refresh_* methods): imported; archived (DingTalk says it is
# gone, or no longer the app's); gone, or outside the contacts scope, with nothing bound to archive (or not
# archived: the safety threshold, a user/get that still answered); or its record could not be written
FATES = ("applied", "archived", "left", "outside", "failed")


def _email(payload):
    return (payload.get("org_email") or payload.get("email") or "").strip().lower()


def changes(record, vals):
    """The part of ``vals`` that differs from ``record`` (many2many given as ``[(6, 0, ids)]``)."""
    diff = {}
    for fname, value in vals.items():
        field = record._fields[fname]
        current = record[fname]
        if field.type == "many2many":
            if set(current.ids) != set(value[0][2]):
                diff[fname] = value
        elif field.type == "many2one":
            if current.id != (value or False):
                diff[fname] = value
        elif (current or False) != (value or False):
            diff[fname] = value
    return diff


class ZiqiDingtalkImporter(models.AbstractModel):
    _name = "ziqi.dingtalk.importer"
    _description = "DingTalk Directory Importer"

    def _quiet(self, model):
        return self.env[model].sudo().with_context(**QUIET)

    def _department_map(self, company):
        """DingTalk dept_id → id of the company's bound department (archived ones too)."""
        self.env["hr.department"].flush_model(["dingtalk_id", "company_id"])
        self.env.cr.execute(
            SQL(
                "SELECT dingtalk_id, id FROM hr_department WHERE company_id = %s AND dingtalk_id IS NOT NULL",
                company.id,
            )
        )
        return dict(self.env.cr.fetchall())

    def _employee_map(self, company, userids=None):
        """DingTalk userid → id of the company's active bound employee (only ``userids``, when given).
        Rows, not records: the full sync asks this for the whole company."""
        self.env["hr.employee"].flush_model(["dingtalk_userid", "active", "company_id"])
        only = SQL("AND dingtalk_userid = ANY(%s)", sorted(userids)) if userids is not None else SQL()
        self.env.cr.execute(
            SQL(
                """SELECT dingtalk_userid, id FROM hr_employee
                   WHERE company_id = %s AND dingtalk_userid IS NOT NULL AND active %s""",
                company.id,
                only,
            )
        )
        return dict(self.env.cr.fetchall())

    def _write_by_slices(self, Model, fname, changed, size):
        """Write ``fname`` for ``(record id, value)`` pairs, one write per value within each slice of
        ``size``, each slice flushed; when there is more than one, the cache is emptied after each (a first
        sync sets everyone's manager: memory stays flat over a large company)."""
        for start in range(0, len(changed), size):
            by_value = collections.defaultdict(list)
            for record_id, value in changed[start : start + size]:
                by_value[value].append(record_id)
            for value, record_ids in by_value.items():
                Model.browse(record_ids).write({fname: value})
            self.env.flush_all()
            if len(changed) > size:
                self.env.invalidate_all()

    def _bind_or_create(self, company, Model, payloads, report, kind):
        """The company's bound records of ``Model`` (binder: ``dingtalk_id``) and, created at once, one for
        each payload none is bound to. Returns (bound before, dingtalk_id → record, keys created)."""
        bound = Model.search([("company_id", "=", company.id), ("dingtalk_id", "!=", False)])
        by_key = {record.dingtalk_id: record for record in bound}
        new_keys = [key for key in payloads if key not in by_key]
        created = Model.create(
            [
                dict(Model._prepare_dingtalk_vals(payloads[key]), dingtalk_id=key, company_id=company.id)
                for key in new_keys
            ]
        )
        by_key.update(zip(new_keys, created, strict=True))
        report.count(kind, "created", len(created))
        return bound, by_key, new_keys

    # --- one bad record never fails a batch ---

    def _create_isolated(self, report, Model, kind, vals_by_key):
        """``Model.create`` for every key at once; if that fails, one by one, each in a savepoint, the ones
        that fail reported and skipped. Returns key → record."""
        if not vals_by_key:
            return {}
        keys = list(vals_by_key)
        try:
            with self.env.cr.savepoint():
                return dict(zip(keys, Model.create([vals_by_key[key] for key in keys]), strict=True))
        except Exception:
            _logger.info("DingTalk: creating %s %s at once failed; one by one", len(keys), Model._name)
        items = list(vals_by_key.items())
        return self._isolated(report, kind, items, lambda key, vals: Model.create([vals]))

    def _isolated(self, report, kind, items, apply):
        """``apply(key, item)`` for each ``(key, item)`` in one savepoint; if that fails, one savepoint per
        item, the failing ones reported and counted as failed. Returns key → result of those applied."""
        try:
            with self.env.cr.savepoint():
                return {key: apply(key, item) for key, item in items}
        except Exception:
            _logger.info("DingTalk: applying %s %s at once failed; one by one", len(items), kind)
        results = {}
        for key, item in items:
            try:
                with self.env.cr.savepoint():
                    results[key] = apply(key, item)
            except Exception as error:
                _logger.debug("DingTalk %s %s failed", kind, key, exc_info=True)
                report.problem(
                    kind, key, self.env._("Skipped: %(error)s", error=str(error) or type(error).__name__)
                )
                report.count(kind, "failed")
        return results

    # --- departments ---

    def _import_departments(self, company, payloads, report, archive_missing=False):
        """Create or update the departments of these department/get payloads (keyed by dept_id); archive
        the bound departments not among them when ``archive_missing`` (a complete walk: a department that
        was removed, or is no longer in the app's contacts scope)."""
        Department = self._quiet("hr.department")
        bound, by_key, new_keys = self._bind_or_create(company, Department, payloads, report, "departments")
        new_set = set(new_keys)
        updated = 0
        ordered, cycles = parents_first(payloads)
        for key in cycles:
            report.problem("dept", key, "DingTalk returned a cycle of parent departments; parent ignored")
        for key in ordered:
            parent = by_key.get(str(payloads[key].get("parent_id") or ""))
            vals = dict(
                Department._prepare_dingtalk_vals(payloads[key]),
                active=True,
                parent_id=parent.id if parent else False,
            )
            diff = changes(by_key[key], vals)
            if diff:
                by_key[key].write(diff)
                updated += key not in new_set
        report.count("departments", "updated", updated)
        report.count("departments", "unchanged", len(payloads) - len(new_keys) - updated)
        if archive_missing:
            self._archive_departments(bound.filtered(lambda dept: dept.dingtalk_id not in payloads), report)

    def _archive_departments(self, departments, report):
        gone = departments.filtered("active")
        gone.write({"active": False})
        report.count("departments", "archived", len(gone))

    # --- people ---

    def _import_people(self, company, payloads, report, match=False):
        """Create or update the people of these DingTalk user payloads (keyed by userid): topapi/v2/user/list
        entries or user/get answers. A payload's ``manager_userid`` is their direct manager when the key is
        there (empty: none); without the key (user/list never has it) the manager Odoo knows is kept.

        ``match``: people not bound yet may be matched to existing employees and users (when the company's
        Match Existing People allows it); only the full sync, which an admin starts or schedules, asks.
        Returns (the userids applied, those of them created or updated): a person whose record could not
        be written is in neither (reported)."""
        match = match and company.dingtalk_match_existing
        employees = self._bind_employees(company, payloads, match)
        return self._apply_employees(company, payloads, employees, match, report)

    def _bind_employees(self, company, payloads, match):
        """Existing employees of these people: by binding, then (when ``match``) by email or mobile."""
        Employee = self._quiet("hr.employee")
        found = Employee.search([("company_id", "=", company.id), ("dingtalk_userid", "in", list(payloads))])
        employees = {employee.dingtalk_userid: employee for employee in found}
        missing = [key for key in payloads if key not in employees]
        if missing and match:
            employees.update(self._match_existing(company, {key: payloads[key] for key in missing}))
        return employees

    def _match_existing(self, company, payloads):
        """Bind unbound active employees with the same email (any case) or mobile, unless their user is one
        that DingTalk data may never reach (privileged, system, portal, archived or bound already)."""
        emails = {_email(p): k for k, p in payloads.items() if _email(p)}
        mobiles = {p.get("mobile"): k for k, p in payloads.items() if p.get("mobile")}
        candidates = self._quiet("hr.employee").search(
            [
                ("company_id", "=", company.id),
                ("dingtalk_userid", "=", False),
                ("active", "=", True),
                "|",
                ("work_email", "!=", False),
                ("mobile_phone", "in", list(mobiles)),
            ]
        )
        bindable_users = candidates.user_id._dingtalk_bindable()
        matched = {}
        for employee in candidates:
            key = emails.get((employee.work_email or "").strip().lower()) or mobiles.get(
                employee.mobile_phone
            )
            if not key or key in matched or (employee.user_id and employee.user_id not in bindable_users):
                continue
            employee.dingtalk_userid = key
            matched[key] = employee
        return matched

    def _apply_employees(self, company, payloads, employees, match, report):
        departments = self._department_map(company)
        new_keys = [key for key in payloads if key not in employees]
        users = self._users_for(company, new_keys, payloads, match, report)
        created = self._create_isolated(
            report,
            self._quiet("hr.employee"),
            "users",
            {
                key: dict(
                    self._employee_vals(company, payloads[key], departments, None),
                    dingtalk_userid=key,
                    company_id=company.id,
                    user_id=users[key].id,
                )
                for key in new_keys
                if key in users
            },
        )
        report.count("users", "created", len(created))
        outcomes = self._isolated(
            report,
            "users",
            list(employees.items()),
            lambda key, employee: self._update_employee(
                company, employee, payloads[key], departments, match, report
            ),
        )
        joined = self.env["res.users"].union(*(record.user_id for record in created.values()))
        for key, outcome in outcomes.items():
            if outcome == "moved":
                joined |= employees[key].user_id
        self.env["discuss.channel"]._dingtalk_subscribe(joined)
        updated = sum(1 for outcome in outcomes.values() if outcome)
        report.count("users", "updated", updated)
        report.count("users", "unchanged", len(outcomes) - updated)
        applied = {**{key: employees[key] for key in outcomes}, **created}
        failed = self.env["hr.employee"]._dingtalk_update_avatars(
            {record.id: payloads[key].get("avatar") for key, record in applied.items()}, company
        )
        for key, record in applied.items():
            if record.id in failed:  # a picture never fails the person: logged, tried again next time
                report.problem("users", key, failed[record.id])
        return set(applied), set(created) | {key for key, outcome in outcomes.items() if outcome}

    def _update_employee(self, company, employee, payload, departments, match, report):
        """Bring one bound employee (and its user) in line with DingTalk. Returns "moved" when the person
        joined a department or got a user (channels to subscribe), True for another change, else False."""
        key = employee.dingtalk_userid
        vals = self._employee_vals(company, payload, departments, employee)
        if employee.active or employee.dingtalk_archived_by_sync:  # an admin's archive stands
            vals.update(active=True, dingtalk_archived_by_sync=False, dingtalk_archived_at=False)
        diff = changes(employee, vals)
        if not employee.user_id:
            user = self._users_for(company, [key], {key: payload}, match, report).get(key)
            if user:
                diff["user_id"] = user.id
        if diff:
            employee.write(diff)
        user_diff = self._user_changes(company, employee.user_id, payload, report) if employee.user_id else {}
        if user_diff:
            employee.user_id.write(user_diff)
        if {"department_id", "user_id"} & set(diff) or "active" in user_diff:
            return "moved"
        return bool(diff or user_diff)

    def _employee_vals(self, company, payload, departments, employee):
        dept_ids = [departments[str(d)] for d in payload.get("dept_id_list") or () if str(d) in departments]
        current = employee.department_id.id if employee else False
        vals = self._quiet("hr.employee")._prepare_dingtalk_vals(payload, company)
        vals["department_id"] = current if current in dept_ids else (dept_ids[0] if dept_ids else current)
        vals["dingtalk_department_ids"] = [(6, 0, dept_ids)]
        return vals

    def _user_changes(self, company, user, payload, report):
        """What to write on a bound employee's user: the binding when it has none and may have one; the
        name only for users the sync created (a matched user keeps its own); reactivation only of a user
        the sync archived itself (an admin's archive stands)."""
        vals = {}
        key = payload["userid"]
        if user.dingtalk_userid != key or user.dingtalk_company_id != company:
            if user.dingtalk_userid or not (user._dingtalk_bindable() or user.dingtalk_signin_confirmed):
                report.problem(
                    "users",
                    key,
                    self.env._(
                        "The employee's user %(login)s is not bound to this "
                        "DingTalk person and may not be bound automatically; "
                        "DingTalk sign-in stays closed for it.",
                        login=user.login,
                    ),
                )
                return {}
            vals.update(dingtalk_userid=key, dingtalk_company_id=company.id)
        if user.dingtalk_created:
            vals["name"] = (payload.get("name") or "").strip() or user.name
        if not user.active and user.dingtalk_archived_by_sync:
            vals.update(active=True, dingtalk_archived_by_sync=False)
        return changes(user, vals)

    def _users_for(self, company, keys, payloads, match, report):
        """A user per person: when ``match``, an existing bindable user with the same login or email;
        otherwise a new one, whose login never takes over an existing one."""
        Users = self._quiet("res.users")
        vals_by_key = {key: Users._prepare_dingtalk_vals(payloads[key], company) for key in keys}
        matched = self._match_users(vals_by_key) if match else {}
        wanted = [login for key, vals in vals_by_key.items() for login in (vals["login"], f"dingtalk_{key}")]
        taken = set(Users.search([("login", "in", wanted)]).mapped("login"))
        to_create = {}
        Partner = self.env["res.partner"]
        for key, vals in vals_by_key.items():
            if key in matched:
                continue
            if vals["login"] in taken:  # the login belongs to someone else already
                vals["login"] = f"dingtalk_{key}"
            if vals["login"] in taken:
                report.problem(
                    "users",
                    key,
                    self.env._("Skipped: no free login (%(login)s is taken too)", login=vals["login"]),
                )
                report.count("users", "failed")
                continue
            # the initials avatar Odoo gives a new internal user, given at create: Odoo would otherwise write
            # it user by user afterwards, and hr then searches employees by image, which reads every
            # employee's image attachment: a cost per person that grows with the company
            vals.setdefault("image_1920", Partner.new({"name": vals["name"]})._avatar_generate_svg())
            to_create[key] = dict(
                vals, dingtalk_userid=key, dingtalk_company_id=company.id, dingtalk_created=True
            )
        for key, user in matched.items():
            user.write({"dingtalk_userid": key, "dingtalk_company_id": company.id})
        return dict(matched, **self._create_isolated(report, Users, "users", to_create))

    def _match_users(self, vals_by_key):
        """Existing bindable users without an employee whose login or email is a person's (any case)."""
        Users = self._quiet("res.users").with_context(active_test=True)
        wanted = {}
        for key, vals in vals_by_key.items():
            for value in (vals["login"], vals["email"]):
                if value:
                    wanted.setdefault(value.strip().lower(), key)
        variants = sorted(
            {v for value in wanted for v in (value, value.upper(), value.title())} | set(wanted)
        )
        candidates = Users.search(["|", ("login", "in", variants), ("email", "in", variants)])
        matched = {}
        for user in candidates._dingtalk_bindable():
            key = wanted.get((user.login or "").lower()) or wanted.get((user.email or "").strip().lower())
            if key and key not in matched and not user.employee_ids:
                matched[key] = user
        return matched

    # --- managers ---

    def _import_direct_managers(self, company, managers, report, counted=()):
        """Record the DingTalk direct manager (直属主管) of bound people: ``managers`` maps userid → manager's
        userid ("" for none), as user/get answered. Writes only what changed; the Odoo manager follows in
        :meth:`_apply_managers`. A person whose manager changed counts as updated, moved from unchanged
        unless among ``counted`` (the userids this report counted as created or updated already)."""
        employees = self._quiet("hr.employee")
        employees.flush_model(["dingtalk_manager_userid"])
        self.env.cr.execute(
            SQL(
                """SELECT id, dingtalk_userid, dingtalk_manager_userid FROM hr_employee
                   WHERE company_id = %s AND dingtalk_userid = ANY(%s)""",
                company.id,
                sorted(managers),
            )
        )
        changed = {
            userid: (employee_id, managers[userid] or False)
            for employee_id, userid, current in self.env.cr.fetchall()
            if (current or "") != managers[userid]
        }
        self._write_by_slices(employees, "dingtalk_manager_userid", list(changed.values()), MANAGER_SLICE)
        moved = len(set(changed) - set(counted))
        report.count("users", "updated", moved)
        report.count("users", "unchanged", -moved)

    def _apply_managers(self, company, userids=None, dept_keys=None):
        """Department managers (the first of DingTalk's leaders Odoo knows), then each employee's manager:
        their DingTalk direct manager (直属主管) when they have one, else the manager of their department.
        Read as rows, not records: the full sync sees the whole company at once, and 100,000 employees in the
        cache (every stored field) would cost memory that grows with the company.

        Given ``userids`` or ``dept_keys`` (events), only what those people and departments can change:
        the departments among them or led by one of them; the employees among them, managed by one of them
        or in one of those departments."""
        scoped = userids is not None or dept_keys is not None
        userids, dept_keys = sorted(set(userids or ())), sorted(set(dept_keys or ()))
        Department = self._quiet("hr.department")
        Employee = self._quiet("hr.employee")
        Department.flush_model(["dingtalk_id", "dingtalk_manager_userids", "manager_id", "company_id"])
        Employee.flush_model(["dingtalk_manager_userid", "parent_id"])
        scope = SQL("AND (dingtalk_id = ANY(%s) OR dingtalk_manager_userids ?| %s)", dept_keys, userids)
        self.env.cr.execute(
            SQL(
                """SELECT id, dingtalk_manager_userids, manager_id FROM hr_department
                   WHERE company_id = %s AND dingtalk_id IS NOT NULL %s""",
                company.id,
                scope if scoped else SQL(),
            )
        )
        depts = self.env.cr.fetchall()
        leaders = {uid for _id, uids, _manager in depts for uid in uids or ()}
        employees = self._employee_map(company, leaders if scoped else None)
        changed = []
        for dept_id, uids, current in depts:
            target = next((employees[uid] for uid in uids or () if uid in employees), False)
            if (current or False) != target:
                changed.append((dept_id, target))
        # Odoo moves a department's people who reported to its old manager to the new one (all of them, on a
        # first sync), hence small slices of departments; flushed before the people are read below
        self._write_by_slices(Department, "manager_id", changed, DEPARTMENT_SLICE)
        join, department = employee_department(self.env, "e")
        scope = SQL(
            """AND (e.dingtalk_userid = ANY(%s) OR e.dingtalk_manager_userid = ANY(%s)
                    OR %s = ANY(%s))""",
            userids,
            userids,
            department,
            [dept[0] for dept in depts],
        )
        self.env.cr.execute(
            SQL(
                """SELECT e.id, e.dingtalk_manager_userid, e.parent_id, d.manager_id
                   FROM hr_employee e %s LEFT JOIN hr_department d ON d.id = %s
                   WHERE e.company_id = %s AND e.dingtalk_userid IS NOT NULL AND e.active %s""",
                join,
                department,
                company.id,
                scope if scoped else SQL(),
            )
        )
        rows = self.env.cr.fetchall()
        if scoped:
            employees = self._employee_map(company, {manager for _id, manager, _p, _d in rows if manager})
        changed = []
        for employee_id, manager_userid, current, dept_manager in rows:
            parent = employees.get(manager_userid) or dept_manager or False
            parent = parent if parent != employee_id else False
            if (current or False) != parent:
                changed.append((employee_id, parent))
        self._write_by_slices(Employee, "parent_id", changed, MANAGER_SLICE)

    # --- roles and role groups ---

    def _import_roles(self, company, payloads, members, report, archive_missing=False):
        """Create or update roles (payloads ``{id, name, group_id, group_name}`` keyed by role id) and set the
        members given in ``members`` (role id → userids); archive the bound roles not among them when
        ``archive_missing`` (a complete walk)."""
        Role = self._quiet("ziqi.dingtalk.role")
        bound, by_key, new_keys = self._bind_or_create(company, Role, payloads, report, "roles")
        new_set = set(new_keys)
        employees = self._employee_map(
            company, {userid for userids in members.values() for userid in userids}
        )
        updated = 0
        for key in payloads:
            role = by_key[key]
            vals = dict(Role._prepare_dingtalk_vals(payloads[key]), active=True)
            if key in members:
                ids = {employees[uid] for uid in members[key] if uid in employees}
                vals["employee_ids"] = [(6, 0, sorted(ids))]
            diff = changes(role, vals)
            if diff:
                role.write(diff)
                updated += key not in new_set
        report.count("roles", "updated", updated)
        report.count("roles", "unchanged", len(payloads) - len(new_keys) - updated)
        if archive_missing:
            self._archive_roles(
                company, bound.filtered(lambda role: role.dingtalk_id not in payloads), report
            )
        self._apply_role_tags(company, [by_key[key] for key in payloads])

    def _archive_roles(self, company, roles, report):
        gone = roles.filtered("active")
        gone.write({"active": False, "employee_ids": [(5, 0, 0)]})
        report.count("roles", "archived", len(gone))
        self._apply_role_tags(company, gone)

    def _apply_role_tags(self, company, roles):
        """Each role's members carry the role as an employee tag (roles of the same name share one): the
        tags of these roles, each counting every role of the company that shares it."""
        Category = self._quiet("hr.employee.category")
        for role in roles:
            if not role.category_id:
                role.category_id = Category.search([("name", "=", role.name)], limit=1) or Category.create(
                    {"name": role.name}
                )
        categories = Category.union(*(role.category_id for role in roles))
        sharing = self._quiet("ziqi.dingtalk.role").search(
            [("company_id", "=", company.id), ("category_id", "in", categories.ids)]
        )
        members = {category: set() for category in categories}
        for role in sharing.filtered("active"):
            members[role.category_id] |= set(role.employee_ids.ids)
        for category, employee_ids in members.items():
            company_members = category.employee_ids.filtered(lambda e: e.company_id == company)
            if set(company_members.ids) != employee_ids:
                category.write(
                    {
                        "employee_ids": [(3, eid) for eid in set(company_members.ids) - employee_ids]
                        + [(4, eid) for eid in employee_ids - set(company_members.ids)]
                    }
                )

    def _apply_role_groups(self, company, report):
        """The Odoo groups of the company's roles, for their members (see ziqi.dingtalk.role)."""
        self._quiet("ziqi.dingtalk.role")._dingtalk_apply_groups(company, report)

    # --- leavers ---

    def _archive_leavers(self, company, leavers, report, record=None):
        """Archive these people (userid → employee id), each one confirmed by a user/get of its own first (one
        wrong answer archives nobody), unless their number, with the people archived over the last day,
        passes the company's threshold: then nobody is archived and ``report.stopped`` says so (the caller
        alerts, never held back). Returns the ids of the employees archived. ``record``: what the leavers
        alert links to (a sync run)."""
        if not leavers:
            return []
        if not self._within_archive_threshold(company, len(leavers), report):
            return []
        confirmed = self._confirm_leavers(company._dingtalk_client(), sorted(leavers), report)
        gone = [leavers[uid] for uid in confirmed]
        self._archive_employees(gone, report)
        if gone and record:  # a run says so; events archive a few people at a time, as DingTalk tells them
            names = self._quiet("hr.employee").browse(gone).mapped("name")
            company._dingtalk_alert(
                self.env._(
                    "[Odoo] DingTalk: %(count)s people of %(company)s left and were archived: %(names)s",
                    count=len(gone),
                    company=company.name,
                    names=", ".join(names[:20]) + (" …" if len(names) > 20 else ""),
                ),
                record=record,
                throttle=False,
            )
        return gone

    def _within_archive_threshold(self, company, count, report):
        """False (reported, ``report.stopped``) when archiving ``count`` more people would pass the
        threshold, counting those archived in the last ARCHIVE_WINDOW too (events archive a few at a time)."""
        Employee = self._quiet("hr.employee")
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
        report.stopped = True
        report.problem(
            "users",
            "",
            self.env._(
                "Stopped before archiving: %(count)s of %(total)s people would be archived (%(recent)s "
                "already in the last 24 hours), more than the %(threshold)s%% threshold. Check DingTalk, or "
                "raise the threshold and sync again.",
                count=count,
                total=total,
                recent=recent,
                threshold=company.dingtalk_archive_threshold,
            ),
        )
        return False

    def _confirm_leavers(self, client, userids, report):
        """The people of ``userids`` DingTalk confirms have left (user/get answers 60121/33012) or are no
        longer the app's (50002, outside its contacts scope). A person user/get still answers for, or an
        error, is not confirmed: reported, and left as they are."""
        confirmed = []
        for userid in userids:
            try:
                client.user_get(userid)
            except (dt_errors.NotFound, dt_errors.OutsideScope):
                confirmed.append(userid)
                continue
            except dt_errors.DingTalkError as error:
                reason = str(error)
            else:
                reason = self.env._("DingTalk still lists this person (user/get): not archived")
            report.problem("users", userid, reason)
        return confirmed

    def _archive_employees(self, employee_ids, report):
        """Archive these employees and the users bound to them (never Odoo's own system accounts), marked
        as archived by the sync, so that only they are reactivated by it: their sessions end at once."""
        system = self.env["res.users"]._dingtalk_system_ids()
        gone = self._quiet("hr.employee").browse(employee_ids).filtered("active")
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
        report.count("users", "archived", len(gone))

    # --- reading named ids from DingTalk now (events, first sign-in) ---

    def _refresh_people(self, company, client, userids, report, manager_hints=None, record=None):
        """Read these people (``client.user_get``: user/get, or a user/list entry the batch read) and import
        them; those DingTalk says left (60121/33012) or are outside the app's contacts scope (50002) are
        archived under the safety threshold. ``manager_hints``: userid → manager an event showed, for
        entries that do not carry one. Returns the fate of each userid (see FATES)."""
        payloads, fates = {}, {}
        for userid in userids:
            try:
                payload = dict(client.user_get(userid))
            except dt_errors.NotFound:
                fates[userid] = "left"
                continue
            except dt_errors.OutsideScope:
                report.count("users", "outside")
                fates[userid] = "outside"
                continue
            if "manager_userid" not in payload and userid in (manager_hints or {}):
                payload["manager_userid"] = manager_hints[userid]
            payloads[userid] = payload
        if payloads:
            applied, _changed = self._import_people(company, payloads, report)
            fates.update(dict.fromkeys(applied, "applied"))
        leavers = self._employee_map(company, [userid for userid, fate in fates.items() if fate != "applied"])
        archived = set(self._archive_leavers(company, leavers, report, record=record))
        fates.update({userid: "archived" for userid, employee in leavers.items() if employee in archived})
        return {userid: fates.get(userid, "failed") for userid in userids}

    def _refresh_departments(self, company, client, dept_ids, report):
        """Read these departments (and any parent Odoo does not know yet) and import them; those removed in
        DingTalk (60003) or outside the app's contacts scope (50004) are archived. Returns the fate of
        each of ``dept_ids`` (see FATES)."""
        bound = set(self._department_map(company))
        payloads, fates = {}, {}
        todo = [str(key) for key in dept_ids]
        while todo:
            key = todo.pop()
            if key in payloads or key in fates:
                continue
            try:
                payload = client.department_get(int(key))
            except dt_errors.NotFound:
                fates[key] = "left"
                continue
            except dt_errors.OutsideScope:
                fates[key] = "outside"
                continue
            payloads[key] = payload
            parent = str(payload.get("parent_id") or "")
            if parent and parent not in bound and parent not in payloads:
                todo.append(parent)
        self._import_departments(company, payloads, report)
        removed = self._quiet("hr.department").search(
            [("company_id", "=", company.id), ("dingtalk_id", "in", list(fates))]
        )
        self._archive_departments(removed, report)
        fates.update(dict.fromkeys(removed.mapped("dingtalk_id"), "archived"))
        fates.update(dict.fromkeys(payloads, "applied"))
        return {str(key): fates[str(key)] for key in dept_ids}

    def _refresh_roles(self, company, client, label_ids, report):
        """Read the roles named (a role group named stands for each of its roles) and their members, and
        import them; a role named that DingTalk no longer lists (deleted, alone or with its group) is
        archived."""
        wanted = {str(label) for label in label_ids}
        Role = self._quiet("ziqi.dingtalk.role")
        known = Role.search(
            [
                ("company_id", "=", company.id),
                "|",
                ("dingtalk_id", "in", sorted(wanted)),
                ("dingtalk_group_id", "in", sorted(wanted)),
            ]
        )
        payloads, listed = {}, set()
        for group in client.iter_roles():
            group_named = str(group.get("groupId")) in wanted
            for role in group.get("roles") or ():
                listed.add(str(role["id"]))
                if group_named or str(role["id"]) in wanted:
                    payloads[str(role["id"])] = {
                        "id": role["id"],
                        "name": role.get("name"),
                        "group_id": group.get("groupId"),
                        "group_name": group.get("name"),
                    }
        members = {key: [m["userid"] for m in client.iter_role_members(int(key))] for key in payloads}
        self._import_roles(company, payloads, members, report)
        gone = known.filtered(lambda role: role.dingtalk_id not in listed)
        self._archive_roles(company, gone, report)
        applied = set(payloads) | {str(p["group_id"]) for p in payloads.values() if p["group_id"] is not None}
        archived = {key for role in gone for key in (role.dingtalk_id, role.dingtalk_group_id) if key}
        return {
            str(label): "applied"
            if str(label) in applied
            else "archived"
            if str(label) in archived
            else "left"
            for label in label_ids
        }
