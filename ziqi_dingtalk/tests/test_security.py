"""Attacks on the binding of DingTalk people to Odoo accounts, tried through the real routes: signed events
pushed by the sandbox, the QR sign-in, JSON-RPC as an HR Officer. Each test fails on a binding that lets
DingTalk data or a low-privilege user reach an account or rights it must not."""

import json
import time
from urllib.parse import parse_qs, urlsplit

import requests

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import new_test_user, tagged

from ..compat import GROUP_ALL_USERS, USER_GROUPS
from ..controllers.throttle import signin_throttle
from ..dingtalk.crypto import generate_aes_key
from .common import SANDBOX_APP, DingTalkHttpCase

TOKEN = "ziqi-security-token"


class SecurityCase(DingTalkHttpCase):
    """A synced company that receives signed pushes, and sign-in helpers."""

    sandbox_args = ("--users", "40", "--departments", "5", "--roles", "2", "--seed", "11")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.aes_key = generate_aes_key()
        cls.configure_company(cls.company, dingtalk_callback_token=TOKEN, dingtalk_aes_key=cls.aes_key)
        cls.Employee = cls.env["hr.employee"].with_context(active_test=False)
        cls.Users = cls.env["res.users"].with_context(active_test=False)
        cls.admin = cls.env.ref("base.user_admin")

    def setUp(self):
        super().setUp()
        self.sandbox.control("reset", {"users": 40, "departments": 5, "roles": 2, "seed": 11})
        self.sandbox.control("faults/clear", {})
        self.org = self.sandbox.control("org")
        signin_throttle(self.env.registry).clear()  # each test signs in a few times from 127.0.0.1
        self.sync()

    # --- DingTalk's side ---

    def sync(self):
        return self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()

    def mutate(self, op, **body):
        return self.sandbox.control("mutate", dict(body, op=op))["event"]

    def push(self, event):
        """The sandbox signs and pushes the event as DingTalk does; the events cron applies it."""
        self.push_signed(event, TOKEN, self.aes_key)
        return self.env["ziqi.dingtalk.event"].search([], limit=1)

    def add_person(self, userid, **values):
        dept = self.org["departments"][-1]["dept_id"]
        return self.mutate(
            "add_user", userid=userid, name=values.pop("name", userid), dept_id_list=[dept], **values
        )

    def fault(self, path, **fault):
        self.sandbox.control("faults", dict(fault, path=path))

    # --- Odoo's side ---

    def employee(self, userid):
        return self.Employee.search([("dingtalk_userid", "=", userid), ("company_id", "=", self.company.id)])

    def a_person(self, index=0):
        """A bound, plain person (no department leader, no boss)."""
        leaders = {uid for d in self.org["departments"] for uid in d.get("dept_manager_userid_list") or ()}
        plain = [u["userid"] for u in self.org["users"] if u["userid"] not in leaders and not u.get("boss")]
        return self.employee(plain[index])

    def qr_sign_in(self, userid):
        """The whole QR flow in this test's browser session; returns the uid signed in (or the error)."""
        self.env.flush_all()
        start = self.url_open("/dingtalk/login", allow_redirects=False)
        scan = requests.get(f"{start.headers['Location']}&userid={userid}", allow_redirects=False, timeout=10)
        back = self.url_open(scan.headers["Location"], allow_redirects=False)
        error = parse_qs(urlsplit(back.headers.get("Location", "")).query).get("dingtalk_error")
        if error:
            return error[0]
        info = self.url_open(
            "/web/session/get_session_info", data="{}", headers={"Content-Type": "application/json"}
        )
        return info.json().get("result", {}).get("uid")


@tagged("post_install", "-at_install")
class TestBindingIsNeverCaptured(SecurityCase):
    def test_a_new_person_with_the_admins_email_gets_an_account_of_their_own(self):
        self.admin.write({"email": "admin@example.com", "name": "Mitchell Admin"})
        self.admin.employee_ids.write({"work_email": "admin@example.com"})
        event = self.push(self.add_person("attacker01", name="冒充者", email="ADMIN@Example.com"))
        self.assertEqual(event.state, "done", event.last_error)
        employee = self.employee("attacker01")
        self.assertTrue(employee.user_id)
        self.assertNotEqual(employee.user_id, self.admin)
        self.assertFalse(self.admin.employee_ids.dingtalk_userid)
        self.assertEqual(self.admin.name, "Mitchell Admin", "never renamed")
        self.assertEqual(self.qr_sign_in("attacker01"), employee.user_id.id)
        # the admin-asked matching of a full sync does not reach the admin either
        self.add_person("attacker02", email="admin@example.com")
        self.sync()
        self.assertNotEqual(self.employee("attacker02").user_id, self.admin)
        self.assertFalse(self.admin.sudo().dingtalk_userid)

    def test_a_userid_equal_to_a_login_never_binds_to_that_user(self):
        victim = new_test_user(self.env, login="lisi", name="李四 (Odoo)", groups="base.group_user")
        self.push(self.add_person("lisi", name="李四"))
        employee = self.employee("lisi")
        self.assertNotEqual(employee.user_id, victim)
        self.assertEqual(employee.user_id.login, "dingtalk_lisi")
        self.assertEqual(victim.name, "李四 (Odoo)")
        self.assertFalse(victim.sudo().dingtalk_userid)

    def test_first_sign_in_never_captures_an_account(self):
        self.company.dingtalk_login_create = True
        self.admin.write({"email": "admin@example.com"})
        self.add_person("attacker03", email="admin@example.com", mobile=self.admin.partner_id.phone or "")
        uid = self.qr_sign_in("attacker03")
        self.assertIsInstance(uid, int, uid)
        self.assertNotEqual(uid, self.admin.id)
        self.assertEqual(self.Users.browse(uid).login, "attacker03")

    def test_system_accounts_are_never_bound_and_one_bad_person_never_fails_the_sync(self):
        self.push(self.add_person("__system__", name="System"))
        self.push(self.add_person("admin", name="Admin"))
        self.assertFalse(self.env.ref("base.user_root").sudo().dingtalk_userid)
        self.assertFalse(self.admin.sudo().dingtalk_userid)
        # a person whose account cannot be made (both logins taken, by archived users, never matched) is
        # logged and skipped
        for login in ("wangwu", "dingtalk_wangwu"):
            new_test_user(self.env, login=login, groups="base.group_user").active = False
        self.add_person("wangwu", name="王五")
        leaver = self.a_person()
        self.mutate("remove_user", userid=leaver.dingtalk_userid)
        run = self.sync()
        self.assertEqual(run.state, "done", run.log_ids.mapped("message"))
        self.assertIn("wangwu", run.log_ids.mapped("key"))
        self.assertFalse(self.employee("wangwu"))
        self.assertFalse(leaver.active, "leavers are still archived")

    def test_matching_is_only_the_full_syncs_and_never_renames(self):
        colleague = new_test_user(
            self.env, login="zhao.liu@example.cn", name="Zhao Liu", groups="base.group_user"
        )
        colleague.email = "zhao.liu@example.cn"
        self.push(self.add_person("zhaoliu", name="赵六", email="zhao.liu@example.cn"))
        self.assertNotEqual(self.employee("zhaoliu").user_id, colleague, "an event never matches")
        other = new_test_user(self.env, login="qian.qi@example.cn", name="Qian Qi", groups="base.group_user")
        other.email = "qian.qi@example.cn"
        self.add_person("qianqi", name="钱七", email="Qian.Qi@example.cn")
        self.sync()
        self.assertEqual(self.employee("qianqi").user_id, other, "the full sync matches")
        self.assertEqual(other.name, "Qian Qi", "a match never renames")
        self.assertEqual(other.sudo().dingtalk_userid, "qianqi")
        self.assertEqual(self.qr_sign_in("qianqi"), other.id)


@tagged("post_install", "-at_install")
class TestHrOfficerCannotRebind(SecurityCase):
    def setUp(self):
        super().setUp()
        self.officer_employee = self.a_person(1)
        self.officer = self.officer_employee.user_id
        self.officer.sudo().write(
            {"password": "officer-pass-1", USER_GROUPS: [Command.link(self.env.ref("hr.group_hr_user").id)]}
        )
        self.env.flush_all()
        self.authenticate(self.officer.login, "officer-pass-1")

    def rpc_write(self, model, ids, vals):
        try:
            self.make_jsonrpc_request(
                "/web/dataset/call_kw",
                {"model": model, "method": "write", "args": [ids, vals], "kwargs": {}},
            )
        except Exception as error:
            return str(error)
        return None

    def test_the_binding_fields_are_not_writable_over_json_rpc(self):
        admin_employee = self.admin.employee_ids[:1] or self.env["hr.employee"].create(
            {"name": "Admin", "user_id": self.admin.id}
        )
        self.env.flush_all()
        attacks = [
            (admin_employee.ids, {"dingtalk_userid": self.officer_employee.dingtalk_userid}),
            (self.officer_employee.ids, {"user_id": self.admin.id}),
            (self.officer_employee.ids, {"dingtalk_userid": "someone-else"}),
            (
                self.officer_employee.ids,
                {"dingtalk_role_ids": [Command.set(self.env["ziqi.dingtalk.role"].search([]).ids)]},
            ),
        ]
        for ids, vals in attacks:
            with self.subTest(vals=vals):
                self.assertIn("AccessError", self.rpc_write("hr.employee", ids, vals) or "written!")
        self.assertEqual(self.officer_employee.user_id, self.officer)
        self.assertFalse(admin_employee.dingtalk_userid)
        # what HR does every day still works
        self.assertIsNone(self.rpc_write("hr.employee", self.officer_employee.ids, {"job_title": "HR"}))
        self.opener.cookies.clear()  # a browser of its own
        self.assertEqual(self.qr_sign_in(self.officer_employee.dingtalk_userid), self.officer.id)

    def test_sign_in_opens_only_the_user_bound_to_that_person(self):
        # an employee pointed at another account anyhow (data from before this check): the user's binding
        # decides, and that account is not bound to this person
        victim = new_test_user(self.env, login="victim", groups="base.group_user")
        self.env.cr.execute(
            "UPDATE hr_employee SET user_id = %s WHERE id = %s", [victim.id, self.officer_employee.id]
        )
        self.env.invalidate_all()
        self.opener.cookies.clear()  # a browser of its own
        self.assertEqual(self.qr_sign_in(self.officer_employee.dingtalk_userid), "unknown")

    def test_sign_in_to_a_privileged_account_needs_an_admins_confirmation(self):
        self.officer.sudo()[USER_GROUPS] = [Command.link(self.env.ref("base.group_system").id)]
        self.opener.cookies.clear()  # a browser of its own
        self.assertEqual(self.qr_sign_in(self.officer_employee.dingtalk_userid), "privileged")
        self.officer.sudo().dingtalk_signin_confirmed = True
        self.assertEqual(self.qr_sign_in(self.officer_employee.dingtalk_userid), self.officer.id)


@tagged("post_install", "-at_install")
class TestGroupsFollowDingTalkOnly(SecurityCase):
    def setUp(self):
        super().setUp()
        self.role = self.env["ziqi.dingtalk.role"].search([("employee_ids", "!=", False)], limit=1)
        self.implied = self.env["res.groups"].create({"name": "DingTalk test: implied"})
        self.innocent = self.env["res.groups"].create(
            {"name": "DingTalk test: innocent", "implied_ids": [Command.link(self.implied.id)]}
        )
        self.role.group_ids = self.innocent
        self.sync()
        self.members = self.role.employee_ids.user_id

    def test_a_mapped_group_cannot_come_to_imply_admin(self):
        self.assertTrue(self.members)
        self.assertEqual(self.innocent[GROUP_ALL_USERS] & self.members, self.members)
        with self.assertRaises(ValidationError):
            self.innocent.implied_ids = [Command.link(self.env.ref("base.group_system").id)]
        with self.assertRaises(ValidationError):
            self.implied.implied_ids = [Command.link(self.env.ref("base.group_erp_manager").id)]

    def test_a_group_that_implies_admin_anyhow_is_not_granted(self):
        # made to imply admin behind the ORM's back (a module's data, SQL): checked again at grant time
        system = self.env.ref("base.group_system")
        self.env.cr.execute(
            "INSERT INTO res_groups_implied_rel (gid, hid) VALUES (%s, %s)", [self.implied.id, system.id]
        )
        self.env.invalidate_all()
        self.add_person("newrole01", name="新角色")
        members = self.role.employee_ids.mapped("dingtalk_userid")
        self.mutate("set_role_members", role_id=int(self.role.dingtalk_id), userids=[*members, "newrole01"])
        run = self.sync()
        user = self.employee("newrole01").user_id
        self.assertTrue(user)
        self.assertNotIn(user, self.innocent[GROUP_ALL_USERS])
        self.assertFalse(user.has_group("base.group_system"))
        self.assertIn("administration rights", " ".join(run.log_ids.mapped("message")))

    def test_unmapping_revokes_exactly_what_the_role_granted(self):
        keeper = self.members[:1]
        other = self.members[1:2]
        self.assertTrue(other)
        # one member had the implied group by hand before: it stays theirs
        self.env.cr.execute(
            "DELETE FROM res_users_dingtalk_granted_group_rel WHERE user_id = %s AND group_id = %s",
            [keeper.id, self.implied.id],
        )
        self.role.group_ids = False
        self.sync()
        self.assertNotIn(other, self.innocent[GROUP_ALL_USERS])
        self.assertNotIn(other, self.implied[GROUP_ALL_USERS], "what the group implied is revoked too")
        self.assertIn(keeper, self.implied[GROUP_ALL_USERS], "a group not granted by the sync is never taken")

    def test_hr_cannot_grant_role_groups_by_editing_roles(self):
        officer = new_test_user(self.env, login="hr_officer_roles", groups="base.group_user,hr.group_hr_user")
        employee = self.a_person(2)
        with self.assertRaises(Exception):  # noqa: B017 - AccessError from the ORM
            employee.with_user(officer).dingtalk_role_ids = [Command.link(self.role.id)]
        with self.assertRaises(Exception):  # noqa: B017 - AccessError from the ACL
            self.role.with_user(officer).employee_ids = [Command.link(employee.id)]


@tagged("post_install", "-at_install")
class TestArchiving(SecurityCase):
    def test_an_admins_archive_stands(self):
        person = self.a_person()
        person.user_id.active = False
        self.sync()
        self.push(self.mutate("update_user", userid=person.dingtalk_userid, title="经理"))
        self.assertFalse(person.user_id.active, "the sync and events never undo an admin's archive")
        self.assertEqual(person.job_title, "经理", "the rest still follows DingTalk")

    def test_people_the_sync_archived_come_back_when_dingtalk_lists_them(self):
        person = self.a_person()
        userid = person.dingtalk_userid
        self.push(self.mutate("remove_user", userid=userid))
        self.assertFalse(person.active)
        self.assertFalse(person.user_id.active)
        self.push(self.add_person(userid, name=person.name))
        self.assertTrue(person.active)
        self.assertTrue(person.user_id.active)

    def test_an_event_about_someone_not_activated_yet_archives_nobody(self):
        self.push(self.add_person("newhire02", name="新员工", active=False))
        employee = self.employee("newhire02")
        self.assertTrue(employee.active)
        self.assertFalse(employee.dingtalk_activated)
        event = self.push(self.mutate("update_user", userid="newhire02", title="实习生"))
        self.assertEqual(event.state, "done", event.last_error)
        self.assertTrue(employee.active and employee.user_id.active)
        self.assertEqual(employee.job_title, "实习生")

    def test_an_event_obeys_the_archive_threshold(self):
        # DingTalk wrongly answers "no such user" for everybody: one event names 8 of 40 people (20 %)
        self.fault("/topapi/v2/user/get", errcode=60121, count=1000)
        userids = [self.a_person(i).dingtalk_userid for i in range(8)]
        event = self.push(
            {"EventType": "user_leave_org", "UserId": userids, "TimeStamp": str(int(time.time() * 1000))}
        )
        self.assertEqual(event.state, "failed")
        self.assertFalse(self.Employee.search([("dingtalk_userid", "in", userids), ("active", "=", False)]))

    def test_events_obey_the_threshold_over_a_day(self):
        people = [self.a_person(i) for i in range(6)]
        for person in people[:3]:  # three real leavers, one event each: under 10 % of 40 each time
            self.mutate("remove_user", userid=person.dingtalk_userid)
        first = self.push({"EventType": "user_leave_org", "UserId": [p.dingtalk_userid for p in people[:3]]})
        self.assertEqual(first.state, "done")
        for person in people[3:]:
            self.mutate("remove_user", userid=person.dingtalk_userid)
        second = self.push({"EventType": "user_leave_org", "UserId": [p.dingtalk_userid for p in people[3:]]})
        self.assertEqual(second.state, "failed", "6 in a day pass the 10 % threshold")
        self.assertTrue(all(p.active for p in people[3:]))

    def test_a_not_found_is_confirmed_before_archiving(self):
        person = self.a_person()
        self.fault("/topapi/v2/user/get", errcode=60121, count=1)  # wrong once, then right
        event = self.push({"EventType": "user_leave_org", "UserId": [person.dingtalk_userid]})
        self.assertEqual(event.state, "done")
        self.assertTrue(person.active)

    def test_an_empty_list_archives_nobody_dingtalk_still_knows(self):
        self.company.write({"dingtalk_archive_threshold": 50})
        self.fault(
            "/topapi/v2/user/list",
            body={"errcode": 0, "errmsg": "ok", "result": {"has_more": False, "list": []}},
            count=1,
        )
        run = self.sync()
        self.assertFalse(self.Employee.search([("dingtalk_userid", "!=", False), ("active", "=", False)]))
        self.assertIn("still lists", " ".join(run.log_ids.mapped("message")))

    def test_a_run_that_archives_alerts_and_a_mass_archive_stop_is_never_held_back(self):
        recipient = self.a_person(5)
        self.company.write({"dingtalk_alert_userid": recipient.dingtalk_userid, "dingtalk_alert_period": 60})
        leaver = self.a_person()
        self.mutate("remove_user", userid=leaver.dingtalk_userid)
        run = self.sync()
        self.assertFalse(leaver.active)
        messages = self.sandbox.control("messages")["messages"]
        self.assertIn(leaver.name, json.dumps(messages[-1], ensure_ascii=False))
        # an unrelated stop, then a real mass leave: both alerted
        self.fault("/topapi/v2/department/listsubid", errcode=60011, count=1000)
        self.sync()
        self.sandbox.control("faults/clear", {})
        for index in range(1, 9):
            self.mutate("remove_user", userid=self.a_person(index).dingtalk_userid)
        stopped = self.sync()
        self.assertEqual(stopped.state, "stopped")
        texts = [json.dumps(m, ensure_ascii=False) for m in self.sandbox.control("messages")["messages"]]
        self.assertIn("Stopped before archiving", texts[-1])
        self.assertGreaterEqual(len(texts), 3, run)


@tagged("post_install", "-at_install")
class TestFirstSignIn(SecurityCase):
    def inapp(self, userid):
        self.env.flush_all()
        code = self.sandbox.control("auth_code", {"userid": userid})["code"]
        corp_id = SANDBOX_APP["corp_id"]
        page = self.url_open(f"/dingtalk/index.html?corpid={corp_id}")
        csrf = page.text.split('data-csrf-token="')[1].split('"')[0]
        return self.url_open("/dingtalk/auth", data={"code": code, "corp_id": corp_id, "csrf_token": csrf})

    def test_a_newcomer_gets_an_ordinary_account_on_first_sign_in(self):
        self.company.dingtalk_login_create = True
        for userid, sign_in in (("newcomer_qr", self.qr_sign_in), ("newcomer_app", self.inapp)):
            with self.subTest(userid=userid):
                self.add_person(userid, name=f"新人 {userid}", title="工程师")
                answer = sign_in(userid)
                if userid == "newcomer_app":
                    self.assertEqual(answer.status_code, 200, answer.text)
                employee = self.employee(userid)
                self.assertEqual((employee.name, employee.job_title), (f"新人 {userid}", "工程师"))
                user = employee.user_id
                self.assertEqual(user.login, userid)
                self.assertTrue(user.has_group("base.group_user"))
                self.assertFalse(user.share)
                self.assertFalse(user._dingtalk_privileged())
                self.assertEqual(user.sudo().dingtalk_userid, userid)
        self.opener.cookies.clear()  # a browser of its own
        self.company.dingtalk_login_create = False
        self.add_person("newcomer_off", name="新人三")
        self.assertEqual(self.qr_sign_in("newcomer_off"), "unknown")
