import base64
import datetime
from unittest.mock import patch

import pytz

from odoo.exceptions import AccessDenied, ValidationError
from odoo.tests import tagged

from ..compat import EMPLOYEE_VERSIONS, USER_GROUPS, users_authenticate
from ..models import ziqi_dingtalk_importer as importer_module
from .common import DingTalkCase

ORG = {"users": 40, "departments": 8, "roles": 4, "seed": 7, "leavers": 2}


@tagged("post_install", "-at_install")
class TestDirectorySync(DingTalkCase):
    sandbox_args = ("--users", "40", "--departments", "8", "--roles", "4", "--seed", "7", "--leavers", "2")

    def setUp(self):
        super().setUp()
        self.sandbox.control("reset", ORG)
        self.org = self.sandbox.control("org")
        self.people = {u["userid"]: u for u in self.org["users"] if not u.get("left")}
        self.Employee = self.env["hr.employee"].with_context(active_test=False)
        self.Department = self.env["hr.department"].with_context(active_test=False)

    # --- helpers ---

    def sync(self, kind="all"):
        run = self.env["ziqi.dingtalk.sync.run"]._queue(self.company, kind)
        return run._run_to_end()

    def employee(self, userid):
        return self.Employee.search([("dingtalk_userid", "=", userid), ("company_id", "=", self.company.id)])

    def department(self, dept_id):
        return self.Department.search(
            [("dingtalk_id", "=", str(dept_id)), ("company_id", "=", self.company.id)]
        )

    def mutate(self, op, **body):
        return self.sandbox.control("mutate", dict(body, op=op))

    def a_person(self):
        """Someone in one department who leads none and has no direct manager of their own."""
        leaders = {uid for d in self.org["departments"] for uid in d.get("dept_manager_userid_list") or ()}
        return next(
            u
            for u in self.people.values()
            if u["userid"] not in leaders
            and not u.get("boss")
            and not u.get("manager_userid")
            and len(u["dept_id_list"]) == 1
        )

    # --- scenarios ---

    def test_first_sync_mirrors_the_directory(self):
        self.company.resource_calendar_id.tz = "UTC"  # not DingTalk's: its time zone setting counts
        run = self.sync()
        self.assertEqual(run.state, "done", run.log_ids.mapped("message"))
        self.assertTrue(run.walk_complete)
        bound = self.Department.search([("dingtalk_id", "!=", False)])
        self.assertEqual(len(bound), len(self.org["departments"]))
        for dept in self.org["departments"]:
            record = self.department(dept["dept_id"])
            self.assertEqual(record.name, dept["name"])
            if dept.get("parent_id"):
                self.assertEqual(record.parent_id, self.department(dept["parent_id"]))
            managers = dept.get("dept_manager_userid_list")
            if managers:
                self.assertEqual(record.manager_id, self.employee(managers[0]))
        employees = self.Employee.search([("dingtalk_userid", "!=", False)])
        self.assertEqual(set(employees.mapped("dingtalk_userid")), set(self.people))
        person = self.a_person()
        employee = self.employee(person["userid"])
        self.assertEqual(employee.name, person["name"])
        self.assertEqual(employee.job_title, person["title"])
        self.assertEqual(employee.mobile_phone, person["mobile"])
        self.assertEqual(employee.work_email, person["email"])
        self.assertEqual(employee.dingtalk_job_number, person["job_number"])
        self.assertEqual(employee.department_id, self.department(person["dept_id_list"][0]))
        self.assertEqual(
            employee.parent_id, employee.department_id.manager_id, "the manager is the department leader"
        )
        self.assertEqual(employee.user_id.login, person["userid"], "login is the userid by default")
        self.assertTrue(employee.user_id.has_group("base.group_user"))
        self.assertFalse(employee.user_id.has_group("base.group_system"))
        # the DingTalk photo, or for someone without one the initials avatar Odoo gives new people, on the
        # user, its partner and the employee
        avatar = base64.b64decode(employee.user_id.image_1920)
        if person.get("avatar"):
            self.assertTrue(avatar.startswith(b"\x89PNG"), "the sandbox serves PNG photos")
        else:
            self.assertIn(b"<svg", avatar)
            self.assertIn(person["name"][0].encode(), avatar)
        self.assertEqual(employee.image_1920, employee.user_id.image_1920)
        self.assertEqual(employee.work_contact_id, employee.user_id.partner_id)
        hired = datetime.datetime.fromtimestamp(person["hired_date"] / 1000, pytz.timezone("Asia/Shanghai"))
        self.assertEqual(employee.dingtalk_hired_date, hired.date(), "hire day in DingTalk's time zone")
        multi = [u for u in self.people.values() if len(u["dept_id_list"]) > 1]
        self.assertTrue(multi, "the sandbox org has people in several departments")
        for person in multi:
            employee = self.employee(person["userid"])
            self.assertEqual(len(employee.dingtalk_department_ids), len(person["dept_id_list"]))
            self.assertIn(employee.department_id, employee.dingtalk_department_ids)
        leavers = [u["userid"] for u in self.org["users"] if u.get("left")]
        self.assertFalse(self.Employee.search([("dingtalk_userid", "in", leavers)]))
        roles = self.env["ziqi.dingtalk.role"].search([("company_id", "=", self.company.id)])
        self.assertEqual(len(roles), sum(len(g["roles"]) for g in self.org["role_groups"]))
        for group in self.org["role_groups"]:
            for role in group["roles"]:
                record = roles.filtered(lambda r, role=role: r.dingtalk_id == str(role["id"]))
                self.assertEqual(record.group_name, group["name"])
                self.assertEqual(set(record.employee_ids.mapped("dingtalk_userid")), set(role["members"]))
                self.assertEqual(record.category_id.employee_ids & record.employee_ids, record.employee_ids)
        counts = run.stats["users"]
        self.assertEqual(counts["created"], len(self.people))
        self.assertGreater(run.api_call_count, 0)

    def test_people_not_activated_and_access_limited_are_staff(self):
        """``active: false`` is someone who has not activated DingTalk yet (a new hire), never a leaver; and
        access-limited people, whom user/list hides unless asked, are read too (protocol §9.1, §9.4)."""
        dept = self.org["departments"][-1]["dept_id"]
        self.mutate("add_user", userid="newhire01", name="新员工", dept_id_list=[dept], active=False)
        self.mutate("add_user", userid="limited01", name="受限员工", dept_id_list=[dept], access_limited=True)
        self.sync()
        new, limited = self.employee("newhire01"), self.employee("limited01")
        self.assertTrue(new.active and new.user_id.active)
        self.assertFalse(new.dingtalk_activated)
        self.assertTrue(limited.active and limited.dingtalk_activated)
        run = self.sync()
        self.assertTrue(new.active and limited.active, "a resync archives neither")
        self.assertFalse((run.stats.get("users") or {}).get("archived"))
        self.mutate("update_user", userid="newhire01", active=True)
        self.sync()
        self.assertTrue(new.dingtalk_activated)

    def test_managers_are_written_in_slices(self):
        with patch.object(importer_module, "MANAGER_SLICE", 3):
            run = self.sync()
        self.assertEqual(run.state, "done", run.log_ids.mapped("message"))
        with_manager = 0
        for userid in self.people:
            employee = self.employee(userid)
            manager = employee.dingtalk_manager_userid  # when DingTalk gave one (user/list may not)
            expected = self.employee(manager) if manager in self.people else employee.department_id.manager_id
            expected = expected if expected != employee else self.Employee
            self.assertEqual(employee.parent_id, expected, userid)
            with_manager += bool(expected)
        self.assertGreater(with_manager, 3 * 2, "several slices were written")

    def test_employees_are_found_through_indexes(self):
        """Odoo looks employees up by work contact for each employee it creates, and by department and
        manager for each department whose manager changes; the sync reads them by DingTalk manager too:
        indexed columns, not scans of the whole table."""
        columns = {
            "hr_employee": ("work_contact_id", "parent_id", "dingtalk_manager_userid"),
            "hr_version" if EMPLOYEE_VERSIONS else "hr_employee": ("department_id",),
        }
        for table, names in columns.items():
            for column in names:
                self.env.cr.execute(
                    "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
                    [table, f"%({column})%"],
                )
                self.assertTrue(self.env.cr.fetchall(), column)

    def test_second_sync_with_nothing_changed_writes_nothing(self):
        self.sync()
        run = self.sync()
        self.assertEqual(run.state, "done")
        self.assertEqual(run.records_written, 0, run.stats)
        self.assertEqual(run.stats["users"]["unchanged"], len(self.people))
        self.assertEqual(run.stats["departments"]["unchanged"], len(self.org["departments"]))

    def test_first_sync_into_an_odoo_that_has_some_people(self):
        person, other = list(self.people.values())[3:5]
        existing = self.env["hr.employee"].create(
            {"name": "Existing", "work_email": person["email"], "company_id": self.company.id}
        )
        user = self.env["res.users"].create(
            {"name": "Existing user", "login": other["userid"], "email": "x@y.cn"}
        )
        self.sync()
        self.assertEqual(existing.dingtalk_userid, person["userid"], "matched by email, not duplicated")
        self.assertEqual(existing.name, person["name"])
        self.assertEqual(self.Employee.search_count([("work_email", "=", person["email"])]), 1)
        self.assertEqual(self.employee(other["userid"]).user_id, user, "the existing user is reused")
        self.assertEqual(user.login, other["userid"])

    def test_existing_login_is_never_overwritten_and_login_setting(self):
        self.company.dingtalk_login_field = "mobile"
        self.sync()
        person = self.a_person()
        user = self.employee(person["userid"]).user_id
        self.assertEqual(user.login, person["mobile"])
        self.mutate("update_user", userid=person["userid"], mobile="13900000000")
        self.sync("users")
        self.assertEqual(user.login, person["mobile"], "a user's login is never changed by a sync")
        self.assertEqual(self.employee(person["userid"]).mobile_phone, "13900000000")

    def test_move_between_departments_and_manager_change(self):
        self.sync()
        person = self.a_person()
        target = next(
            d
            for d in self.org["departments"]
            if d["dept_id"] not in person["dept_id_list"] and d.get("parent_id")
        )
        new_leader = next(u for u in self.people if u != person["userid"])
        self.mutate("move_user", userid=person["userid"], dept_id_list=[target["dept_id"]])
        self.mutate("update_dept", dept_id=target["dept_id"], dept_manager_userid_list=[new_leader])
        run = self.sync()
        employee = self.employee(person["userid"])
        self.assertEqual(employee.department_id, self.department(target["dept_id"]))
        self.assertEqual(employee.dingtalk_department_ids, self.department(target["dept_id"]))
        self.assertEqual(self.department(target["dept_id"]).manager_id, self.employee(new_leader))
        self.assertEqual(employee.parent_id, self.employee(new_leader), "the new leader manages the mover")
        self.assertEqual(run.stats["users"]["updated"], 1)

    def test_direct_managers_come_from_user_get_for_everyone(self):
        """user/list never shows direct managers (直属主管): the sync reads user/get for everyone, sets each
        employee's manager to their direct manager, else their department's leader, and clears a manager
        removed in DingTalk (protocol §9.2)."""
        run = self.sync()
        self.assertGreaterEqual(run.api_calls.get("/topapi/v2/user/get", 0), len(self.people))
        leaders = {uid for d in self.org["departments"] for uid in d.get("dept_manager_userid_list") or ()}
        direct = [u for u in self.people.values() if u.get("manager_userid")]
        self.assertTrue(
            [u for u in direct if u["manager_userid"] not in leaders], "managers who lead no department"
        )
        for person in self.people.values():
            employee = self.employee(person["userid"])
            manager = person.get("manager_userid")
            self.assertEqual(employee.dingtalk_manager_userid, manager or False, person["userid"])
            expected = self.employee(manager) if manager else employee.department_id.manager_id
            self.assertEqual(employee.parent_id, expected if expected != employee else self.Employee)
        person = next(u for u in direct if u["manager_userid"] not in leaders)
        self.mutate("update_user", userid=person["userid"], manager_userid="")
        newcomer = self.a_person()
        self.mutate("update_user", userid=newcomer["userid"], manager_userid=person["userid"])
        run = self.sync()
        employee = self.employee(person["userid"])
        self.assertFalse(employee.dingtalk_manager_userid, "removed in DingTalk: cleared")
        expected = employee.department_id.manager_id
        self.assertEqual(employee.parent_id, expected if expected != employee else self.Employee)
        self.assertEqual(self.employee(newcomer["userid"]).parent_id, employee, "a new direct manager")
        self.assertEqual(run.stats["users"]["updated"], 2)

    def test_managers_are_read_while_each_batch_is_written(self):
        """user/get (direct managers) is read a batch of people at a time, in threads, while the batch is
        written: a call that fails keeps the manager Odoo knows and is logged, and does not make the walk
        incomplete (the user lists alone say who left)."""
        self.sync()
        person = next(u for u in self.people.values() if u.get("manager_userid"))
        other = next(
            u for u in self.people.values() if u["userid"] not in (person["userid"], person["manager_userid"])
        )
        self.mutate("update_user", userid=person["userid"], manager_userid=other["userid"])
        managers = {u.get("manager_userid") for u in self.people.values()}
        leaders = {uid for d in self.org["departments"] for uid in d.get("dept_manager_userid_list") or ()}
        leaver = next(
            u
            for u in self.people.values()
            if u["userid"] not in {person["userid"], other["userid"], *managers, *leaders}
        )
        self.mutate("remove_user", userid=leaver["userid"])
        # every user/get of the people step fails; the leaver's confirmation afterwards does not
        self.sandbox_fault("/topapi/v2/user/get", errcode=60011, count=len(self.people) - 1)
        run = self.sync()
        self.assertTrue(run.walk_complete)
        self.assertEqual(self.employee(person["userid"]).dingtalk_manager_userid, person["manager_userid"])
        failed = run.log_ids.filtered(lambda log: log.kind == "/topapi/v2/user/get")
        self.assertEqual(len(failed), len(self.people) - 1)
        self.assertTrue(all(log.request_id and "60011" in log.message for log in failed))
        self.assertFalse(self.employee(leaver["userid"]).active, "the leaver is archived all the same")
        run = self.sync()
        self.assertEqual(self.employee(person["userid"]).dingtalk_manager_userid, other["userid"])
        self.assertEqual(self.employee(person["userid"]).parent_id, self.employee(other["userid"]))
        self.assertEqual(run.stats["users"]["updated"], 1, "a changed manager alone is an update")
        self.assertFalse(run.log_ids)

    def test_the_apps_contacts_scope_is_not_an_error(self):
        """Departments outside the app's contacts scope (listed by listsubid, but department/get and user/list
        answer 50004) are not synced and leave the walk complete; departments and people that fall out of
        the scope later are archived like removed ones and leavers, under the safety threshold (§9.3)."""
        depts = {d["dept_id"]: d for d in self.org["departments"]}
        top = [d for d in depts.values() if d.get("parent_id") == 1]
        granted = top[0]["dept_id"]

        def in_scope(dept_id):
            while dept_id in depts and dept_id != granted:
                dept_id = depts[dept_id].get("parent_id")
            return dept_id == granted

        inside = {d for d in depts if in_scope(d)}
        people_inside = {u for u, p in self.people.items() if inside & set(p["dept_id_list"])}
        self.assertTrue(people_inside and people_inside != set(self.people), "people on both sides")
        self.sandbox.control("scope", {"authed_dept": [granted]})
        run = self.sync()
        self.assertEqual(run.state, "done", run.log_ids.mapped("message"))
        self.assertTrue(run.walk_complete, "outside the scope is not an error")
        self.assertEqual(run.departments_outside_scope, len(depts) - len(inside))
        self.assertFalse(run.log_ids)
        bound = self.Department.search([("dingtalk_id", "!=", False), ("company_id", "=", self.company.id)])
        self.assertEqual(set(bound.mapped("dingtalk_id")), {str(d) for d in inside})
        employees = self.Employee.search(
            [("dingtalk_userid", "!=", False), ("company_id", "=", self.company.id)]
        )
        self.assertEqual(set(employees.mapped("dingtalk_userid")), people_inside)
        self.sandbox.control("scope", {"all": True})
        self.sync()
        self.assertEqual(len(self.Employee.search([("dingtalk_userid", "!=", False)])), len(self.people))
        # the scope shrinks again: what fell out of it is archived, once the threshold allows that many
        self.sandbox.control("scope", {"authed_dept": [granted]})
        run = self.sync()
        self.assertEqual(run.state, "stopped", "more than 10 % of the people at once: nobody archived")
        self.assertEqual(len(self.Employee.search([("dingtalk_userid", "!=", False)])), len(self.people))
        self.company.dingtalk_archive_threshold = 100
        run = self.sync()
        self.assertEqual(run.state, "done", run.log_ids.mapped("message"))
        for dept_id in depts:
            self.assertEqual(self.department(dept_id).active, dept_id in inside, dept_id)
        for userid in self.people:
            self.assertEqual(self.employee(userid).active, userid in people_inside, userid)
        self.assertEqual(run.stats["users"]["archived"], len(self.people) - len(people_inside))

    def test_role_mapped_to_a_group_then_removed(self):
        self.sync()
        group = self.env.ref("base.group_partner_manager")
        group_data = self.org["role_groups"][0]
        role_data = next(r for r in group_data["roles"] if len(r["members"]) >= 2)
        role = self.env["ziqi.dingtalk.role"].search([("dingtalk_id", "=", str(role_data["id"]))])
        member, by_hand = (self.employee(uid).user_id for uid in role_data["members"][:2])
        by_hand[USER_GROUPS] = [(4, group.id)]
        role.group_ids = group
        self.sync("roles")
        self.assertTrue(member.has_group("base.group_partner_manager"))
        self.assertIn(group, member.dingtalk_granted_group_ids)
        self.assertNotIn(group, by_hand.dingtalk_granted_group_ids, "a group given by hand is not recorded")
        self.mutate("set_role_members", role_id=role_data["id"], userids=[])
        self.sync("roles")
        self.assertFalse(member.has_group("base.group_partner_manager"), "leaving the role takes the group")
        self.assertTrue(by_hand.has_group("base.group_partner_manager"), "a group given by hand stays")
        self.assertFalse(role.employee_ids)

    def test_people_join_the_channels_odoo_subscribes_them_to(self):
        """The sync subscribes each batch itself (not Odoo's read-everyone way): same channels, once each."""
        self.sync("departments")
        person = self.a_person()
        target = next(d for d in self.org["departments"] if d["dept_id"] not in person["dept_id_list"])
        group = self.env.ref("base.group_partner_manager")
        Channel = self.env["discuss.channel"]
        by_dept = Channel.create(
            {
                "name": "dept",
                "channel_type": "channel",
                "subscription_department_ids": self.department(target["dept_id"]).ids,
            }
        )
        by_group = Channel.create({"name": "grp", "channel_type": "channel", "group_ids": group.ids})
        self.sync()
        general = self.env.ref("mail.channel_all_employees")
        synced = self.Employee.search([("dingtalk_userid", "in", list(self.people))])
        partners = synced.user_id.partner_id
        self.assertEqual(len(partners), len(self.people))
        members = general.channel_member_ids.filtered(lambda m: m.partner_id in partners)
        self.assertEqual(members.partner_id, partners, "everyone synced is in the general channel")
        self.assertEqual(len(members), len(partners), "once each")
        in_target = synced.filtered(lambda e: e.department_id == self.department(target["dept_id"]))
        self.assertTrue(in_target)
        self.assertEqual(by_dept.channel_partner_ids & partners, in_target.user_id.partner_id)
        self.assertFalse(by_group.channel_partner_ids & partners, "nobody has the group yet")
        # a move into the department subscribes the mover
        self.mutate("move_user", userid=person["userid"], dept_id_list=[target["dept_id"]])
        self.sync()
        self.assertIn(self.employee(person["userid"]).user_id.partner_id, by_dept.channel_partner_ids)
        # a role that grants the group subscribes its members to the group's channel
        role_data = next(r for g in self.org["role_groups"] for r in g["roles"] if r["members"])
        role = self.env["ziqi.dingtalk.role"].search([("dingtalk_id", "=", str(role_data["id"]))])
        role.group_ids = group
        self.sync("roles")
        role_partners = role.employee_ids.user_id.partner_id
        self.assertTrue(role_partners)
        self.assertEqual(by_group.channel_partner_ids & partners, role_partners)

    def test_roles_never_grant_administration(self):
        self.sync()
        role = self.env["ziqi.dingtalk.role"].search([], limit=1)
        for xmlid in ("base.group_system", "base.group_erp_manager"):
            with self.subTest(group=xmlid), self.assertRaises(ValidationError):
                role.group_ids = self.env.ref(xmlid)
                role.flush_recordset()

    def test_leaver_is_archived_and_can_return(self):
        self.sync()
        person = self.a_person()
        employee = self.employee(person["userid"])
        user = employee.user_id
        user.password = "dingtalk-test-pw"
        self.mutate("remove_user", userid=person["userid"])
        run = self.sync()
        self.assertEqual(run.stats["users"]["archived"], 1)
        self.assertFalse(employee.active)
        self.assertFalse(user.active)
        self.assertTrue(employee.exists(), "leavers are archived, never deleted")
        with self.assertRaises(AccessDenied):
            users_authenticate(
                self.env, {"type": "password", "login": user.login, "password": "dingtalk-test-pw"}, {}
            )
        self.mutate("add_user", **{k: v for k, v in person.items() if k not in ("left", "active")})
        self.sync()
        self.assertTrue(employee.active, "a rehired person is reactivated")
        self.assertTrue(user.active)
        self.assertEqual(self.Employee.search_count([("dingtalk_userid", "=", person["userid"])]), 1)

    def test_dingtalk_failing_half_way_archives_nobody(self):
        self.sync()
        person = self.a_person()
        self.mutate("remove_user", userid=person["userid"])
        self.sandbox_fault("/topapi/v2/user/list", errcode=60011, count=1000, after=3)
        run = self.sync()
        self.assertFalse(run.walk_complete)
        self.assertTrue(self.employee(person["userid"]).active, "an incomplete walk archives nothing")
        self.assertTrue(run.log_ids.filtered(lambda log: log.request_id and "60011" in log.message))

    def test_an_empty_answer_archives_nobody_and_alerts(self):
        self.company.write({"dingtalk_alert_userid": self.a_person()["userid"]})
        self.sync()
        empty = {"errcode": 0, "errmsg": "ok", "result": {"has_more": False, "list": []}, "request_id": "x"}
        self.sandbox_fault("/topapi/v2/user/list", count=1000, body=empty)
        run = self.sync()
        self.assertEqual(run.state, "stopped")
        self.assertEqual(
            self.Employee.search_count([("dingtalk_userid", "!=", False), ("active", "=", True)]),
            len(self.people),
        )
        self.assertIn("Stopped before archiving", run.log_ids[-1].message)
        messages = self.sandbox.control("messages")
        messages = messages.get("messages", messages)
        self.assertTrue(messages, "the admin is alerted over DingTalk")
        self.assertIn(f"#{run.id}", str(messages[-1]))

    def test_one_run_per_company_at_a_time(self):
        Run = self.env["ziqi.dingtalk.sync.run"]
        first = Run._queue(self.company, "all")
        self.assertEqual(Run._queue(self.company, "users"), first)
        first._run_to_end()
        self.assertNotEqual(Run._queue(self.company, "users"), first)

    def test_cron_processes_a_run_in_steps(self):
        Run = self.env["ziqi.dingtalk.sync.run"]
        run = Run._queue(self.company, "all")
        phases = []
        for _step in range(20):
            Run._cron_process()
            phases.append(run.phase)
            if run.state == "done":
                break
        self.assertEqual(run.state, "done")
        self.assertEqual(phases[:4], ["departments", "users", "users", "roles"])
