"""The mapping half of the synchronizer: staged DingTalk payloads → departments, people and roles."""

import logging

from odoo import models

from .discuss_channel import SUBSCRIBE_USERS

_logger = logging.getLogger(__name__)

USER_BATCH = 2000
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


def _changes(record, vals):
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


class ZiqiDingtalkSyncApply(models.AbstractModel):
    """Departments and people steps of ``ziqi.dingtalk.sync.run`` (which inherits this)."""

    _name = "ziqi.dingtalk.sync.apply"
    _description = "DingTalk Sync: Departments and People"

    def _company(self):
        """The company synced: the run's, or for event handlers (an empty run recordset) the context's."""
        return self.company_id or self.env["res.company"].browse(self.env.context.get("dingtalk_company_id"))

    def _env_quiet(self, model):
        return self.env[model].sudo().with_context(**QUIET)

    # --- departments ---

    def _step_departments(self):
        self._apply_departments(dict(self._staged("dept")), archive_missing=self.walk_complete)
        return True

    def _apply_departments(self, payloads, archive_missing=False):
        """Create or update the departments of these department/get payloads (keyed by dept_id); archive
        the bound departments not among them when ``archive_missing`` (a complete walk)."""
        Department = self._env_quiet("hr.department")
        company = self._company()
        bound = Department.search([("company_id", "=", company.id), ("dingtalk_id", "!=", False)])
        by_key = {dept.dingtalk_id: dept for dept in bound}
        new_keys = [key for key in payloads if key not in by_key]
        new_set = set(new_keys)
        created = Department.create(
            [
                dict(Department._prepare_dingtalk_vals(payloads[key]), dingtalk_id=key, company_id=company.id)
                for key in new_keys
            ]
        )
        by_key.update(zip(new_keys, created, strict=True))
        self._count("departments", "created", len(created))
        updated = 0
        for key in self._parents_first(payloads):
            parent = by_key.get(str(payloads[key].get("parent_id") or ""))
            vals = dict(
                Department._prepare_dingtalk_vals(payloads[key]),
                active=True,
                parent_id=parent.id if parent else False,
            )
            diff = _changes(by_key[key], vals)
            if diff:
                by_key[key].write(diff)
                updated += key not in new_set
        self._count("departments", "updated", updated)
        self._count("departments", "unchanged", len(payloads) - len(new_keys) - updated)
        if archive_missing:
            gone = bound.filtered(lambda dept: dept.active and dept.dingtalk_id not in payloads)
            gone.write({"active": False})
            self._count("departments", "archived", len(gone))

    def _parents_first(self, payloads):
        """Department keys ordered so that a parent comes before its children (DingTalk may list them
        the other way round); a parent cycle, which DingTalk should never send, is broken and logged."""
        ordered, placed = [], set()

        def place(key, trail):
            if key in placed or key not in payloads:
                return
            if key in trail:
                self._log("dept", key, "DingTalk returned a cycle of parent departments; parent ignored")
                payloads[key] = dict(payloads[key], parent_id=None)
                return
            place(str(payloads[key].get("parent_id") or ""), trail | {key})
            placed.add(key)
            ordered.append(key)

        for key in sorted(payloads):
            place(key, frozenset())
        return ordered

    # --- people ---

    def _step_users(self):
        batch = self._staged("user", after=self.cursor, limit=USER_BATCH)
        if not batch:
            return True
        payloads = dict(batch)
        active = {key: payload for key, payload in payloads.items() if payload.get("active", True)}
        self._apply_user_list_payloads(active)
        self.cursor = batch[-1][0]
        return False

    def _apply_user_list_payloads(self, payloads):
        """Apply topapi/v2/user/list entries (keyed by userid): the list may not carry manager_userid, so a
        missing one keeps the manager Odoo knows."""
        self._apply_employees(payloads, self._bind_employees(payloads))

    def _apply_user_get_payloads(self, payloads):
        """Apply topapi/v2/user/get answers (keyed by userid), which DingTalk sends for one person at a time
        (events, first sign-in). user/get omits manager_userid when there is none: then there is none."""
        for payload in payloads.values():
            payload.setdefault("manager_userid", False)
        self._apply_user_list_payloads(payloads)

    def _bind_employees(self, payloads):
        """Existing employees of these people: by binding, then (if enabled) by email or mobile."""
        Employee = self._env_quiet("hr.employee")
        company = self._company()
        found = Employee.search([("company_id", "=", company.id), ("dingtalk_userid", "in", list(payloads))])
        employees = {employee.dingtalk_userid: employee for employee in found}
        missing = [key for key in payloads if key not in employees]
        if missing and company.dingtalk_match_existing:
            employees.update(self._match_existing(Employee, {key: payloads[key] for key in missing}))
        return employees

    def _match_existing(self, Employee, payloads):
        emails = {(p.get("org_email") or p.get("email") or "").lower(): k for k, p in payloads.items()}
        mobiles = {p.get("mobile"): k for k, p in payloads.items() if p.get("mobile")}
        emails.pop("", None)
        candidates = Employee.search(
            [
                ("company_id", "=", self._company().id),
                ("dingtalk_userid", "=", False),
                "|",
                ("work_email", "in", list(emails)),
                ("mobile_phone", "in", list(mobiles)),
            ]
        )
        matched = {}
        for employee in candidates:
            key = emails.get((employee.work_email or "").lower()) or mobiles.get(employee.mobile_phone)
            if key and key not in matched:
                employee.dingtalk_userid = key
                matched[key] = employee
        return matched

    def _apply_employees(self, payloads, employees):
        Employee = self._env_quiet("hr.employee")
        company = self._company()
        departments = self._department_map()
        new_keys = [key for key in payloads if key not in employees]
        users = self._users_for(new_keys, payloads)
        created = Employee.create(
            [
                dict(
                    self._employee_vals(Employee, payloads[key], departments, None),
                    dingtalk_userid=key,
                    company_id=company.id,
                    user_id=users[key].id,
                )
                for key in new_keys
            ]
        )
        self._count("users", "created", len(created))
        joined = created.user_id
        updated = 0
        for key, employee in employees.items():
            vals = self._employee_vals(Employee, payloads[key], departments, employee)
            vals["active"] = True
            diff = _changes(employee, vals)
            user_diff = self._user_changes(employee.user_id, payloads[key]) if employee.user_id else {}
            if not employee.user_id:
                employee.user_id = self._users_for([key], payloads)[key]
                diff["user_id"] = employee.user_id.id
            if diff:
                employee.write(diff)
            if user_diff:
                employee.user_id.write(user_diff)
            if {"department_id", "user_id"} & set(diff) or "active" in user_diff:
                joined |= employee.user_id
            updated += bool(diff or user_diff)
        self.env["discuss.channel"]._dingtalk_subscribe(joined)
        self._count("users", "updated", updated)
        self._count("users", "unchanged", len(employees) - updated)

    def _employee_vals(self, Employee, payload, departments, employee):
        dept_ids = [departments[str(d)] for d in payload.get("dept_id_list") or () if str(d) in departments]
        current = employee.department_id.id if employee else False
        vals = Employee._prepare_dingtalk_vals(payload, self._company())
        vals["department_id"] = current if current in dept_ids else (dept_ids[0] if dept_ids else current)
        vals["dingtalk_department_ids"] = [(6, 0, dept_ids)]
        return vals

    def _user_changes(self, user, payload):
        vals = {"name": (payload.get("name") or "").strip() or user.name}
        if not user.active:
            vals["active"] = True
        return _changes(user, vals)

    def _users_for(self, keys, payloads):
        """A user per person: an existing one with the same login (or email, if matching is on), else new."""
        Users = self._env_quiet("res.users")
        company = self._company()
        vals_by_key = {key: Users._prepare_dingtalk_vals(payloads[key], company) for key in keys}
        logins = [vals["login"] for vals in vals_by_key.values()]
        existing = {user.login: user for user in Users.search([("login", "in", logins)])}
        if company.dingtalk_match_existing:
            emails = [vals["email"] for vals in vals_by_key.values() if vals["email"]]
            for user in Users.search([("email", "in", emails), ("employee_ids", "=", False)]):
                existing.setdefault(user.email, user)
        result, to_create = {}, []
        for key, vals in vals_by_key.items():
            user = existing.get(vals["login"]) or existing.get(vals["email"] or "")
            if user and not user.employee_ids:
                result[key] = user
            else:
                if user:  # the login belongs to someone else already
                    vals["login"] = f"dingtalk_{key}"
                to_create.append((key, vals))
        Partner = self.env["res.partner"]
        for _key, vals in to_create:
            # the initials avatar Odoo gives a new internal user, given at create: Odoo would otherwise write
            # it user by user afterwards, and hr then searches employees by image, which reads every
            # employee's image attachment: a cost per person that grows with the company
            vals.setdefault("image_1920", Partner.new({"name": vals["name"]})._avatar_generate_svg())
        created = Users.create([vals for _key, vals in to_create])
        result.update(zip([key for key, _vals in to_create], created, strict=False))
        return result

    def _department_map(self):
        self.env["hr.department"].flush_model(["dingtalk_id", "company_id"])
        self.env.cr.execute(
            "SELECT dingtalk_id, id FROM hr_department WHERE company_id = %s AND dingtalk_id IS NOT NULL",
            [self._company().id],
        )
        return dict(self.env.cr.fetchall())
