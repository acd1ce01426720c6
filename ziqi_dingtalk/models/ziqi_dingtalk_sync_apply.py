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


def _email(payload):
    return (payload.get("org_email") or payload.get("email") or "").strip().lower()


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
        # everyone listed is staff: ``active: false`` only means they have not activated DingTalk yet
        # (protocol §9.1); only the full sync, which the admin starts or schedules, may match existing people
        self._apply_user_list_payloads(dict(batch), match=True)
        self.cursor = batch[-1][0]
        return False

    def _apply_user_list_payloads(self, payloads, match=False):
        """Apply topapi/v2/user/list entries (keyed by userid): the list may not carry manager_userid, so a
        missing one keeps the manager Odoo knows. ``match``: people not bound yet may be matched to
        existing employees and users (the company's Match Existing People); events and sign-in never do."""
        match = match and self._company().dingtalk_match_existing
        self._apply_employees(payloads, self._bind_employees(payloads, match), match)

    def _apply_user_get_payloads(self, payloads):
        """Apply topapi/v2/user/get answers (keyed by userid), which DingTalk sends for one person at a time
        (events, first sign-in). user/get omits manager_userid when there is none: then there is none."""
        for payload in payloads.values():
            payload.setdefault("manager_userid", False)
        self._apply_user_list_payloads(payloads)

    def _bind_employees(self, payloads, match):
        """Existing employees of these people: by binding, then (when ``match``) by email or mobile."""
        Employee = self._env_quiet("hr.employee")
        company = self._company()
        found = Employee.search([("company_id", "=", company.id), ("dingtalk_userid", "in", list(payloads))])
        employees = {employee.dingtalk_userid: employee for employee in found}
        missing = [key for key in payloads if key not in employees]
        if missing and match:
            employees.update(self._match_existing(Employee, {key: payloads[key] for key in missing}))
        return employees

    def _match_existing(self, Employee, payloads):
        """Bind unbound active employees with the same email (any case) or mobile, unless their user is one
        that DingTalk data may never reach (privileged, system, portal, archived or bound already)."""
        emails = {_email(p): k for k, p in payloads.items() if _email(p)}
        mobiles = {p.get("mobile"): k for k, p in payloads.items() if p.get("mobile")}
        candidates = Employee.search(
            [
                ("company_id", "=", self._company().id),
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

    def _apply_employees(self, payloads, employees, match):
        company = self._company()
        departments = self._department_map()
        new_keys = [key for key in payloads if key not in employees]
        users = self._users_for(new_keys, payloads, match)
        created = self._create_isolated(
            self._env_quiet("hr.employee"),
            "users",
            {
                key: dict(
                    self._employee_vals(payloads[key], departments, None),
                    dingtalk_userid=key,
                    company_id=company.id,
                    user_id=users[key].id,
                )
                for key in new_keys
                if key in users
            },
        )
        self._count("users", "created", len(created))
        outcomes = self._isolated(
            "users",
            list(employees.items()),
            lambda key, employee: self._update_employee(employee, payloads[key], departments, match),
        )
        joined = self.env["res.users"].union(*(record.user_id for record in created.values()))
        for key, outcome in outcomes.items():
            if outcome == "moved":
                joined |= employees[key].user_id
        self.env["discuss.channel"]._dingtalk_subscribe(joined)
        updated = sum(1 for outcome in outcomes.values() if outcome)
        self._count("users", "updated", updated)
        self._count("users", "unchanged", len(outcomes) - updated)

    def _update_employee(self, employee, payload, departments, match):
        """Bring one bound employee (and its user) in line with DingTalk. Returns "moved" when the person
        joined a department or got a user (channels to subscribe), True for another change, else False."""
        key = employee.dingtalk_userid
        vals = self._employee_vals(payload, departments, employee)
        if employee.active or employee.dingtalk_archived_by_sync:  # an admin's archive stands
            vals.update(active=True, dingtalk_archived_by_sync=False, dingtalk_archived_at=False)
        diff = _changes(employee, vals)
        if not employee.user_id:
            user = self._users_for([key], {key: payload}, match).get(key)
            if user:
                diff["user_id"] = user.id
        if diff:
            employee.write(diff)
        user_diff = self._user_changes(employee.user_id, payload) if employee.user_id else {}
        if user_diff:
            employee.user_id.write(user_diff)
        if {"department_id", "user_id"} & set(diff) or "active" in user_diff:
            return "moved"
        return bool(diff or user_diff)

    def _employee_vals(self, payload, departments, employee):
        dept_ids = [departments[str(d)] for d in payload.get("dept_id_list") or () if str(d) in departments]
        current = employee.department_id.id if employee else False
        vals = self._env_quiet("hr.employee")._prepare_dingtalk_vals(payload, self._company())
        vals["department_id"] = current if current in dept_ids else (dept_ids[0] if dept_ids else current)
        vals["dingtalk_department_ids"] = [(6, 0, dept_ids)]
        return vals

    def _user_changes(self, user, payload):
        """What to write on a bound employee's user: the binding when it has none and may have one; the
        name only for users the sync created (a matched user keeps its own); reactivation only of a user
        the sync archived itself (an admin's archive stands)."""
        vals = {}
        key, company = payload["userid"], self._company()
        if user.dingtalk_userid != key or user.dingtalk_company_id != company:
            if user.dingtalk_userid or not (user._dingtalk_bindable() or user.dingtalk_signin_confirmed):
                self._log(
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
        return _changes(user, vals)

    def _users_for(self, keys, payloads, match):
        """A user per person: when ``match``, an existing bindable user with the same login or email;
        otherwise a new one, whose login never takes over an existing one."""
        Users = self._env_quiet("res.users")
        company = self._company()
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
                self._log(
                    "users",
                    key,
                    self.env._("Skipped: no free login (%(login)s is taken too)", login=vals["login"]),
                )
                self._count("users", "failed")
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
        return dict(matched, **self._create_isolated(Users, "users", to_create))

    def _match_users(self, vals_by_key):
        """Existing bindable users without an employee whose login or email is a person's (any case)."""
        Users = self._env_quiet("res.users").with_context(active_test=True)
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

    # --- one bad person never fails a batch ---

    def _create_isolated(self, Model, kind, vals_by_key):
        """``Model.create`` for every key at once; if that fails, one by one, each in a savepoint, logging
        and skipping the ones that fail. Returns key → record."""
        if not vals_by_key:
            return {}
        keys = list(vals_by_key)
        try:
            with self.env.cr.savepoint():
                return dict(zip(keys, Model.create([vals_by_key[key] for key in keys]), strict=True))
        except Exception:
            _logger.info("DingTalk: creating %s %s at once failed; one by one", len(keys), Model._name)
        return self._isolated(kind, list(vals_by_key.items()), lambda key, vals: Model.create([vals]))

    def _isolated(self, kind, items, apply):
        """``apply(key, item)`` for each ``(key, item)`` in one savepoint; if that fails, one savepoint per
        item, the failing ones logged and counted as failed. Returns key → result of those applied."""
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
                self._log(
                    kind, key, self.env._("Skipped: %(error)s", error=str(error) or type(error).__name__)
                )
                self._count(kind, "failed")
        return results

    def _department_map(self):
        self.env["hr.department"].flush_model(["dingtalk_id", "company_id"])
        self.env.cr.execute(
            "SELECT dingtalk_id, id FROM hr_department WHERE company_id = %s AND dingtalk_id IS NOT NULL",
            [self._company().id],
        )
        return dict(self.env.cr.fetchall())
