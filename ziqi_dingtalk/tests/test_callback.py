import base64
import importlib.util
import json
import time
from pathlib import Path
from unittest.mock import patch
from urllib.parse import urlencode

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import SQL, config

from ..controllers.callback import CALLBACK_MAX_BYTES
from ..dingtalk.crypto import DingTalkCrypto, generate_aes_key
from ..models.ziqi_dingtalk_event import ATTEMPT_TABLE, EVENT_IDS
from .common import SANDBOX_APP, DingTalkHttpCase

TOKEN = "ziqi-callback-token"


@tagged("post_install", "-at_install")
class TestCallback(DingTalkHttpCase):
    sandbox_args = ("--users", "30", "--departments", "6", "--roles", "3", "--seed", "5")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.aes_key = generate_aes_key()
        cls.configure_company(cls.company, dingtalk_callback_token=TOKEN, dingtalk_aes_key=cls.aes_key)
        cls.crypto = DingTalkCrypto(TOKEN, cls.aes_key, SANDBOX_APP["app_key"])
        cls.Event = cls.env["ziqi.dingtalk.event"]
        cls.Employee = cls.env["hr.employee"].with_context(active_test=False)

    def setUp(self):
        super().setUp()
        self.sandbox.control("reset", {"users": 30, "departments": 6, "roles": 3, "seed": 5})
        self.org = self.sandbox.control("org")
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()

    # --- helpers ---

    def url(self, company=None):
        return f"{self.base_url()}/dingtalk/callback" + (f"/{company.id}" if company else "")

    def push(self, event=None, **options):
        """The sandbox pushes the event exactly as DingTalk does and checks our answer."""
        self.env.flush_all()  # the server thread reads the database
        body = {
            "event": event or {"EventType": "check_url"},
            "url": self.url(),
            "token": TOKEN,
            "aes_key": self.aes_key,
            "receiver_id": SANDBOX_APP["app_key"],
            **options,
        }
        with self.outside_requests():
            return self.sandbox.control("push_event", body)

    def mutate(self, op, **body):
        return self.sandbox.control("mutate", dict(body, op=op))["event"]

    def apply(self):
        self.Event._cron_process()

    def employee(self, userid):
        return self.Employee.search([("dingtalk_userid", "=", userid), ("company_id", "=", self.company.id)])

    def post(self, encrypt, crypto=None, timestamp=None, body=None, query=None):
        """A hand-made push, signed with ``crypto`` (default: ours) over any ``encrypt`` string."""
        crypto = crypto or self.crypto
        timestamp = timestamp or str(int(time.time() * 1000))
        nonce = "n0nce123"
        params = query or {
            "signature": crypto.signature(timestamp, nonce, encrypt),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        data = body if body is not None else json.dumps({"encrypt": encrypt})
        return self.url_open(
            f"{self.url()}?{urlencode(params)}", data=data, headers={"Content-Type": "application/json"}
        )

    def a_person(self, n=0):
        """The n-th person who leads no department and has no direct manager of their own."""
        leaders = {uid for d in self.org["departments"] for uid in d.get("dept_manager_userid_list") or ()}
        people = [
            u
            for u in self.org["users"]
            if u["userid"] not in leaders
            and not u.get("boss")
            and not u.get("left")
            and not u.get("manager_userid")
        ]
        return people[n]

    # --- the DingTalk check and the answer format ---

    def test_check_url_is_answered_like_dingtalk_expects(self):
        for signature_param in ("signature", "msg_signature"):
            with self.subTest(signature_param=signature_param):
                result = self.push(signature_param=signature_param)
                self.assertEqual(result["status"], 200, result)
                self.assertTrue(result["success"], result)
        self.assertFalse(self.Event.search([]), "the check is answered, not stored")
        answer = self.post(self.crypto.encrypt(json.dumps({"EventType": "check_url"}))).json()
        self.assertEqual(set(answer), {"msg_signature", "timeStamp", "nonce", "encrypt"})
        self.assertEqual(
            self.crypto.decrypt_request(
                answer["msg_signature"], answer["timeStamp"], answer["nonce"], answer["encrypt"]
            ),
            "success",
        )

    def test_the_answer_makes_no_dingtalk_call(self):
        self.sandbox.control("stats/reset", {})
        person = self.a_person()
        self.assertTrue(
            self.push(self.mutate("update_user", userid=person["userid"], title="总监"))["success"]
        )
        self.assertFalse(self.sandbox.stats(), "nothing is fetched before the answer")
        event = self.Event.search([])
        self.assertEqual(
            (event.event_type, event.state, event.userid_list),
            ("user_modify_org", "pending", [person["userid"]]),
        )

    # --- every event type, both dialects ---

    def test_people_events_in_both_dialects(self):
        person = self.a_person()
        dept = self.org["departments"][-1]["dept_id"]
        new = {
            "userid": "ziqi0001",
            "name": "李新人",
            "dept_id_list": [dept],
            "mobile": "13800000001",
            "email": "li.xinren@example.cn",
            "title": "工程师",
        }
        for dialect in ("pascal", "camel"):
            self.push(self.mutate("add_user", **dict(new, userid=f"ziqi{dialect}")), dialect=dialect)
            self.push(
                self.mutate("update_user", userid=person["userid"], title=f"总监 {dialect}"), dialect=dialect
            )
        self.apply()
        self.assertEqual(set(self.Event.search([]).mapped("state")), {"done"})
        for dialect in ("pascal", "camel"):
            employee = self.employee(f"ziqi{dialect}")
            self.assertEqual(
                (employee.name, employee.job_title, employee.user_id.login),
                ("李新人", "工程师", f"ziqi{dialect}"),
            )
        self.assertEqual(self.employee(person["userid"]).job_title, "总监 camel")
        self.push(self.mutate("remove_user", userid=person["userid"]), dialect="pascal")
        self.apply()
        self.assertFalse(self.employee(person["userid"]).active)
        self.assertFalse(self.employee(person["userid"]).user_id.active)

    def test_department_events(self):
        parent = self.org["departments"][1]["dept_id"]
        created = self.mutate("add_dept", name="新业务部", parent_id=parent)
        self.push(created)
        self.apply()
        dept_id = created["deptId"][0]
        Department = self.env["hr.department"].with_context(active_test=False)
        record = Department.search([("dingtalk_id", "=", str(dept_id))])
        self.assertEqual((record.name, record.parent_id.dingtalk_id), ("新业务部", str(parent)))
        self.push(self.mutate("update_dept", dept_id=dept_id, name="新业务二部"), dialect="pascal")
        self.apply()
        self.assertEqual(record.name, "新业务二部")
        self.push(self.mutate("remove_dept", dept_id=dept_id))
        self.apply()
        self.assertFalse(record.active, "a removed department is archived")

    def test_role_events_and_mapped_groups(self):
        group = self.env.ref("base.group_partner_manager")
        role_data = self.org["role_groups"][0]["roles"][0]
        role = self.env["ziqi.dingtalk.role"].search([("dingtalk_id", "=", str(role_data["id"]))])
        role.group_ids = group
        person = next(u["userid"] for u in self.org["users"] if u["userid"] not in role_data["members"])
        for event in self.sandbox.control(
            "mutate", {"op": "set_role_members", "role_id": role_data["id"], "userids": [person]}
        )["events"]:
            self.push(event)
        added = self.mutate("add_role", name="数据管理员", group_id=self.org["role_groups"][0]["groupId"])
        self.push(added)
        self.apply()
        self.assertEqual(role.employee_ids, self.employee(person))
        self.assertTrue(self.employee(person).user_id.has_group("base.group_partner_manager"))
        new_role = self.env["ziqi.dingtalk.role"].search([("name", "=", "数据管理员")])
        self.assertTrue(new_role)
        self.push(self.mutate("remove_role", role_id=added["labelIdList"][0]))
        self.push(self.mutate("set_role_members", role_id=role_data["id"], userids=[]))
        self.apply()
        self.assertFalse(new_role.active)
        self.assertFalse(self.employee(person).user_id.has_group("base.group_partner_manager"))

    def test_a_direct_manager_set_and_removed_in_dingtalk(self):
        """user_modify_org: the person's direct manager (user/get, or the event's diffInfo when the person
        was read through a department's user/list) is set, and cleared when removed in DingTalk."""
        person = self.a_person()
        boss = next(u for u in self.org["users"] if not u.get("left") and u["userid"] != person["userid"])
        self.push(self.mutate("update_user", userid=person["userid"], manager_userid=boss["userid"]))
        self.apply()
        employee = self.employee(person["userid"])
        self.assertEqual(employee.dingtalk_manager_userid, boss["userid"])
        self.assertEqual(employee.parent_id, self.employee(boss["userid"]))
        self.push(self.mutate("update_user", userid=person["userid"], manager_userid=""))
        self.apply()
        self.assertFalse(employee.dingtalk_manager_userid)
        leader = employee.department_id.manager_id
        self.assertEqual(employee.parent_id, leader if leader != employee else self.Employee)

    def test_a_role_group_renamed_in_dingtalk(self):
        """label_conf_modify naming a role group (protocol §9.8) renames the group on each of its roles."""
        group = self.org["role_groups"][0]
        self.push(self.mutate("update_role_group", group_id=group["groupId"], name="新角色组"))
        self.apply()
        roles = self.env["ziqi.dingtalk.role"].search([("dingtalk_group_id", "=", str(group["groupId"]))])
        self.assertEqual(len(roles), len(group["roles"]))
        self.assertEqual(set(roles.mapped("group_name")), {"新角色组"})
        self.assertTrue(all(roles.mapped("active")), "renaming the group archives none of its roles")

    def test_events_leave_managers_as_a_full_sync_would(self):
        """Events redo managers only around what they name; the result is what a full sync gives."""
        Department = self.env["hr.department"]
        depts = sorted(self.org["departments"], key=lambda d: -len(self.sandbox_members(d["dept_id"])))
        first = next(d for d in depts if d.get("dept_manager_userid_list"))
        second = next(d for d in depts if d is not first)
        old_leader = first["dept_manager_userid_list"][0]
        new_leader = next(u for u in reversed(self.sandbox_members(first["dept_id"])) if u != old_leader)
        # someone whose DingTalk manager is named (manager_userid): a new department leader is not theirs
        loyal = next(u for u in self.sandbox_members(first["dept_id"]) if u not in (new_leader, old_leader))
        self.employee(loyal).write(
            {"dingtalk_manager_userid": old_leader, "parent_id": self.employee(old_leader).id}
        )
        self.push(self.mutate("update_dept", dept_id=first["dept_id"], dept_manager_userid_list=[new_leader]))
        leader = next(
            (u for u in second.get("dept_manager_userid_list") or () if u not in (new_leader, old_leader)),
            None,
        )
        if leader:
            self.push(self.mutate("remove_user", userid=leader))
        mover = next(
            u for u in self.sandbox_members(second["dept_id"]) if u not in (leader, new_leader, old_leader)
        )
        self.push(self.mutate("move_user", userid=mover, dept_id_list=[first["dept_id"]]))
        self.apply()
        self.assertEqual(set(self.Event.search([]).mapped("state")), {"done"})
        dept_first = Department.search([("dingtalk_id", "=", str(first["dept_id"]))])
        self.assertEqual(dept_first.manager_id, self.employee(new_leader))
        self.assertEqual(self.employee(mover).parent_id, self.employee(new_leader), "the mover's new leader")
        led = [
            self.employee(u)
            for u in self.sandbox_members(first["dept_id"])
            if u != new_leader and not self.employee(u).dingtalk_manager_userid
        ]
        self.assertTrue(led)
        self.assertEqual(self.employee(loyal).parent_id, self.employee(old_leader), "manager_userid wins")
        for employee in led:
            self.assertEqual(employee.parent_id, self.employee(new_leader), "the department's new leader")

        def snapshot():
            employees = self.Employee.search([("dingtalk_userid", "!=", False)])
            return (
                {e.dingtalk_userid: (e.active, e.parent_id.dingtalk_userid) for e in employees},
                {d.dingtalk_id: d.manager_id.dingtalk_userid for d in Department.search([])},
            )

        after_events = snapshot()
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        self.assertEqual(snapshot(), after_events)

    def sandbox_members(self, dept_id):
        org = self.sandbox.control("org")
        return [u["userid"] for u in org["users"] if dept_id in u["dept_id_list"] and not u.get("left")]

    def test_admin_events_change_nothing(self):
        self.push({"EventType": "org_admin_add", "userId": [self.a_person()["userid"]], "eventId": "adm1"})
        self.apply()
        self.assertEqual(self.Event.search([]).state, "skipped")

    # --- exactly once, out of order, gone ---

    def test_duplicates_are_stored_and_applied_once(self):
        event = self.mutate("update_user", userid=self.a_person()["userid"], title="经理")
        for dialect in ("camel", "camel", "pascal", "pascal"):
            self.assertTrue(self.push(event, dialect=dialect)["success"], "a duplicate is still acknowledged")
        self.assertEqual(len(self.Event.search([])), 2, "one per dialect: the retries are dropped")
        self.apply()
        self.assertEqual(self.Event.search([]).mapped("state"), ["done", "done"])

    def test_a_batch_reads_each_person_once(self):
        first, second = (u["userid"] for u in self.org["users"][3:5])
        for userid, title in ((first, "甲"), (second, "乙"), (first, "丙")):
            self.push(self.mutate("update_user", userid=userid, title=title))
        self.sandbox.control("stats/reset", {})
        self.apply()
        stats = self.sandbox.stats()
        self.assertLessEqual(
            stats.get("/topapi/v2/user/get", 0) + stats.get("/topapi/v2/user/list", 0),
            2,
            f"fetched once per batch, concurrently: {stats}",
        )
        self.assertEqual(self.employee(first).job_title, "丙")
        self.assertEqual(self.employee(second).job_title, "乙")

    def test_a_burst_of_people_events_uses_both_people_apis(self):
        """user/get and user/list have a quota each: a burst reads some people through their department's
        list. A person who moved is not in the department Odoo knew: read with user/get after all."""
        people = [u for u in self.org["users"] if not u.get("left")][:12]
        for person in people:  # user/get always says who the manager is (or that there is none)
            self.employee(person["userid"]).dingtalk_manager_userid = "known-before"
        mover = people[0]
        target = next(d for d in self.org["departments"] if d["dept_id"] not in mover["dept_id_list"])
        self.mutate("move_user", userid=mover["userid"], dept_id_list=[target["dept_id"]])
        for n, person in enumerate(people):
            self.push(self.mutate("update_user", userid=person["userid"], title=f"职位{n}"))
        self.sandbox.control("stats/reset", {})
        self.apply()
        stats = self.sandbox.stats()
        self.assertTrue(stats.get("/topapi/v2/user/list"), stats)
        self.assertTrue(stats.get("/topapi/v2/user/get"), stats)
        self.assertLess(
            self.sandbox.answered("/topapi/v2/user/get"), len(people), "not one user/get per person"
        )
        self.assertEqual(set(self.Event.search([]).mapped("state")), {"done"})
        for n, person in enumerate(people):
            employee = self.employee(person["userid"])
            self.assertEqual(employee.job_title, f"职位{n}")
        department = self.env["hr.department"].search([("dingtalk_id", "=", str(target["dept_id"]))])
        self.assertEqual(self.employee(mover["userid"]).department_id, department, "the mover moved")
        # user/get says who the manager is; for a person read through user/list (no managers there), the
        # event's diffInfo does; with neither, the manager Odoo knew stays
        managers = {u["userid"]: u.get("manager_userid") for u in self.sandbox.control("org")["users"]}
        for person in people:
            known = self.employee(person["userid"]).dingtalk_manager_userid
            if managers[person["userid"]]:
                self.assertEqual(known, managers[person["userid"]], person["userid"])
            else:
                self.assertIn(known, (False, "known-before"), person["userid"])
        if not managers[mover["userid"]]:
            self.assertFalse(self.employee(mover["userid"]).dingtalk_manager_userid, "read with user/get")

    def test_a_batch_applies_each_family_at_once_and_tells_each_event_its_own_result(self):
        *people, leaver = [u for u in self.org["users"] if not u.get("left")][:4]
        for n, person in enumerate(people):
            self.push(self.mutate("update_user", userid=person["userid"], title=f"批{n}"))
        self.push(self.mutate("remove_user", userid=leaver["userid"]))
        self.push({"EventType": "user_modify_org", "userId": ["nobody-here"], "eventId": "x1"})
        department = self.org["departments"][1]
        self.push(self.mutate("update_dept", dept_id=department["dept_id"], name="合并部"))
        importer = type(self.env["ziqi.dingtalk.importer"])
        with patch.object(
            importer, "_refresh_people", autospec=True, side_effect=importer._refresh_people
        ) as refresh_people:
            self.apply()
        self.assertEqual(refresh_people.call_count, 1, "the people events of a batch: one importer call")
        events = self.Event.search([], order="id")
        self.assertEqual(
            [(event.state, event.result) for event in events],
            [("done", "1 applied, 0 archived")] * 3
            + [("done", "0 applied, 1 archived"), ("done", "0 applied, 0 archived")]
            + [("done", "1 applied, 0 archived")],
            "each event says what it did",
        )
        for n, person in enumerate(people):
            self.assertEqual(self.employee(person["userid"]).job_title, f"批{n}")
        self.assertFalse(self.employee(leaver["userid"]).active)
        bound = self.env["hr.department"].search([("dingtalk_id", "=", str(department["dept_id"]))])
        self.assertEqual(bound.name, "合并部")

    def test_a_poison_event_among_its_family_fails_alone(self):
        people = [u["userid"] for u in self.org["users"] if not u.get("left")][:3]
        for userid in people:  # user_add_org: each person read with user/get
            self.push({"EventType": "user_add_org", "userId": [userid], "eventId": f"add-{userid}"})
        self.sandbox.control("faults", {"path": "/topapi/v2/user/get", "errcode": 60011, "count": 1})
        self.apply()
        events = self.Event.search([], order="id")
        poison = events.filtered("last_error")
        self.assertEqual(len(poison), 1, "one person's read failed")
        self.assertEqual((poison.state, poison.attempts), ("pending", 1), "retried later")
        self.assertIn("60011", poison.last_error)
        others = events - poison
        self.assertEqual(others.mapped("state"), ["done", "done"], "the others are applied all the same")
        self.assertEqual(set(others.mapped("result")), {"1 applied, 0 archived"})

    def test_events_wait_while_the_app_is_not_configured(self):
        self.push(self.mutate("update_user", userid=self.a_person()["userid"], title="X"))
        self.company.sudo().dingtalk_app_secret = False
        self.apply()
        event = self.Event.search([])
        self.assertEqual((event.state, event.attempts), ("pending", 1), "retried later, the cron goes on")
        self.assertIn("not configured", event.last_error)

    def test_out_of_order_events_leave_the_current_state(self):
        person = self.a_person()
        modify = self.mutate("update_user", userid=person["userid"], title="先改")
        leave = self.mutate("remove_user", userid=person["userid"])
        self.push(leave)
        self.push(modify)  # arrives after the leave
        self.apply()
        self.assertFalse(self.employee(person["userid"]).active, "DingTalk's current state wins")

    def test_an_unknown_person_is_recorded_not_an_error(self):
        self.push({"EventType": "user_modify_org", "userId": ["nobody-here"], "eventId": "x1"})
        self.apply()
        event = self.Event.search([])
        self.assertEqual(event.state, "done")
        self.assertFalse(self.employee("nobody-here"))

    # --- failures ---

    def test_failures_are_retried_then_failed_alerted_and_retryable(self):
        self.company.sudo().write({"dingtalk_alert_userid": self.a_person()["userid"]})
        self.sandbox.control("faults", {"path": "/topapi/v2/user/get", "errcode": 60011, "count": 100})
        self.push(self.mutate("update_user", userid=self.a_person()["userid"], title="X"))
        self.push(self.mutate("update_dept", dept_id=self.org["departments"][1]["dept_id"], name="改名部"))
        poison, dept_event = self.Event.search([], order="id")
        for _attempt in range(5):
            self.apply()
            poison.next_attempt_at = False
        self.assertEqual(dept_event.state, "done", "a poison event never blocks the ones behind it")
        self.assertEqual((poison.state, poison.attempts), ("failed", 5))
        self.assertIn("60011", poison.last_error)
        messages = self.sandbox.control("messages")["messages"]
        self.assertIn(f"#{poison.id}", json.dumps(messages, ensure_ascii=False))
        self.sandbox.control("faults/clear", {})
        poison.action_retry()
        self.apply()
        self.assertEqual(poison.state, "done")

    # --- bad input: 4xx, never 500 ---

    def test_bad_input_is_refused_with_a_4xx(self):
        good = self.crypto.encrypt(json.dumps({"EventType": "user_add_org", "userId": ["a"]}))
        other = DingTalkCrypto(TOKEN, self.aes_key, "another-app-key")
        cases = {
            "wrong signature": (self.push(tamper="signature")["status"], 403),
            "wrong receiver": (
                self.post(other.encrypt(json.dumps({"EventType": "user_add_org"}))).status_code,
                403,
            ),
            "bad json body": (self.post(good, body="{not json").status_code, 400),
            "no encrypt": (self.post(good, body=json.dumps({"x": 1})).status_code, 400),
            "bad base64": (self.post("!!not base64!!").status_code, 400),
            "bad length": (self.post(base64.b64encode(b"x" * 20).decode()).status_code, 400),
            "bad padding": (self.post(base64.b64encode(b"\x00" * 32).decode()).status_code, 400),
            "missing nonce": (self.post(good, query={"signature": "x", "timestamp": "1"}).status_code, 400),
            "replayed": (
                self.post(good, timestamp=str(int(time.time() * 1000) - 3_600_000)).status_code,
                403,
            ),
        }
        for case, (status, expected) in cases.items():
            with self.subTest(case=case):
                self.assertEqual(status, expected)
        self.assertFalse(self.Event.search([]), "nothing refused is stored")
        response = self.url_open(
            f"{self.base_url()}/dingtalk/callback/999999?signature=x&timestamp=1&nonce=n",
            data=json.dumps({"encrypt": good}),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 404, "an unknown company")
        self.assertNotIn("Traceback", response.text)

    def test_json_nested_too_deep_is_a_400_not_a_500(self):
        deep = "[" * 100_000 + "]" * 100_000
        inner = self.crypto.encrypt('{"EventType": "user_add_org", "x": %s}' % deep)
        with self.assertLogs("odoo.addons.ziqi_dingtalk.controllers.callback", "WARNING") as logs:
            outer = self.post(self.crypto.encrypt("{}"), body=deep)  # the body itself
            signed = self.post(inner)  # or the decrypted event, signed with our token
        for response in (outer, signed):
            self.assertEqual(response.status_code, 400)
            self.assertNotIn("Traceback", response.text)
        self.assertEqual(len(logs.records), 2, logs.output)
        self.assertFalse(self.Event.search([]))

    def test_a_body_over_the_limit_is_a_413_unread(self):
        def body(size):  # a JSON body of exactly ``size`` bytes
            return json.dumps({"encrypt": "A" * (size - len('{"encrypt": ""}'))})

        announced = self.post("A", body=body(2 * CALLBACK_MAX_BYTES))  # refused before any of it is read
        with self.assertLogs("odoo.addons.ziqi_dingtalk.controllers.callback", "WARNING") as logs:
            just_over = self.post("A", body=body(CALLBACK_MAX_BYTES + 1))
            data = body(2 * CALLBACK_MAX_BYTES).encode()
            # without its length (chunked): read no further than one byte past the limit
            chunked = self.post(
                "A", body=(data[start : start + 65536] for start in range(0, len(data), 65536))
            )
            at_the_limit = self.post("A", body=body(CALLBACK_MAX_BYTES))
        for response in (announced, just_over, chunked):
            self.assertEqual(response.status_code, 413)
            self.assertNotIn("Traceback", response.text)
        self.assertEqual(at_the_limit.status_code, 403, "read, and refused for its signature")
        self.assertEqual(sum("a body of more than" in line for line in logs.output), 2, logs.output)
        self.assertFalse(self.Event.search([]))

    # --- big events, the batch's budget ---

    def test_an_event_naming_10000_people_is_split_and_the_next_ones_go_on(self):
        person = self.a_person()
        many = [person["userid"]] + [f"gone{n:05}" for n in range(9_999)]
        result = self.push({"EventType": "user_modify_org", "userId": many, "eventId": "big1"})
        self.assertTrue(result["success"], "a few hundred KB: under the body limit")
        self.push(self.mutate("update_user", userid=self.a_person()["userid"], title="之后"))
        big, after = self.Event.search([], order="id")
        self.apply()
        self.assertEqual((big.state, big.result), ("done", "split into 100 parts"))
        self.assertEqual(after.state, "done", "the event behind the big one did not wait for it")
        parts = self.Event.search([("event_key", "=like", "big1#%")], order="id")
        self.assertEqual(parts.mapped("event_key"), [f"big1#{n}" for n in range(1, 101)])
        self.assertEqual(set(parts.mapped("state")), {"pending"})
        self.assertTrue(all(len(part._ids_of("userid_list")) <= EVENT_IDS for part in parts))
        self.assertEqual([u for part in parts for u in part._ids_of("userid_list")], many)
        self.sandbox.control("stats/reset", {})
        self.apply()
        self.assertEqual(parts.mapped("state").count("done"), 1, "a batch takes ids up to its cap")
        self.assertEqual((parts[0].state, parts[0].result), ("done", "1 applied, 0 archived"))
        # each person read once at most (a call the sandbox throttled is retried: not a second read)
        self.assertLessEqual(self.sandbox.answered("/topapi/v2/user/get"), EVENT_IDS)

    def test_a_batch_stops_calling_dingtalk_once_its_budget_is_spent(self):
        people = [u["userid"] for u in self.org["users"] if not u.get("left")][:24]
        for userid in people:  # user_add_org: each person read with user/get (8 at a time)
            self.push({"EventType": "user_add_org", "userId": [userid], "eventId": f"add-{userid}"})
        self.sandbox.control("config", {"latency_ms": 1500})
        self.addCleanup(self.sandbox.control, "config", {"latency_ms": 0})
        start = time.monotonic()
        with patch.dict(config.options, {"limit_time_real_cron": 12}):  # a 1 s budget for each batch
            self.assertEqual(self.Event._batch_budget(), 1)
            self.apply()
        self.assertLess(time.monotonic() - start, 8, "no call started after the budget")
        events = self.Event.search([], order="id")
        done = events.filtered(lambda event: event.state == "done")
        self.assertIn(events[0], done, "the first event is always applied")
        self.assertLess(len(done), len(people) // 2, "the others wait for the next batch")
        waiting = events - done
        self.assertEqual(set(waiting.mapped("state")), {"pending"})
        self.assertEqual(set(waiting.mapped("attempts")), {0}, "an event left untried is no failure")
        self.env.cr.execute(
            SQL(
                "SELECT sum(started) FROM %s WHERE event_id = ANY(%s)",
                SQL.identifier(ATTEMPT_TABLE),
                waiting.ids,
            )
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0, "and its attempt is given back")
        self.sandbox.control("config", {"latency_ms": 0})
        for _batch in range(3):
            self.apply()
        self.assertEqual(set(events.mapped("state")), {"done"})

    def test_two_companies_each_get_their_own_events(self):
        other = self.env["res.company"].create({"name": "钉钉二公司"})
        other_key = generate_aes_key()
        self.configure_company(
            other,
            dingtalk_callback_token="other-token",
            dingtalk_aes_key=other_key,
            dingtalk_app_key="other-app-key",
            dingtalk_corp_id=False,
        )
        event = {"EventType": "user_modify_org", "userId": ["someone"], "eventId": "two-companies"}
        result = self.push(event, token="other-token", aes_key=other_key, receiver_id="other-app-key")
        self.assertTrue(result["success"], result)
        self.push(event)
        self.assertEqual(
            self.Event.search([("event_key", "=", "two-companies")]).company_id, self.company | other
        )
        result = self.push(
            event, url=self.url(other), token="other-token", aes_key=other_key, receiver_id="other-app-key"
        )
        self.assertTrue(result["success"], "the per-company URL works too")

    def test_the_ids_an_event_names_are_lists_and_searchable(self):
        values = {"company_id": self.company.id, "event_type": "user_modify_org", "state": "done"}
        first = self.Event.create(dict(values, event_key="n1", userid_list=["manager7", "u2"]))
        second = self.Event.create(dict(values, event_key="n2", userid_list=["u20"], dept_id_list=["2"]))
        self.assertEqual(first.people, "manager7, u2")

        def search(*domain):
            return self.Event.search([("event_key", "in", ["n1", "n2"]), *domain])

        self.assertEqual(search(("people", "=", "u2")), first, "an id, not a part of one")
        self.assertEqual(search(("people", "ilike", "u2")), first | second)
        self.assertEqual(search(("people", "in", ["u20", "x"])), second)
        self.assertEqual(search(("departments", "=", "2")), second)
        self.assertFalse(search(("roles", "ilike", "u")))
        with self.assertRaises(UserError):
            search(("people", "not ilike", "u"))

    def test_the_unique_constraints_are_in_the_database(self):
        """Declared once for Odoo 18 and 19 (compat.constraint); the inbox's deduplication, the token store
        and the sync's staging rely on them (ON CONFLICT)."""
        expected = {
            "hr_department_dingtalk_id_company_uniq",
            "hr_employee_dingtalk_userid_company_uniq",
            "res_users_dingtalk_binding_uniq",
            "ziqi_dingtalk_alert_company_key_uniq",
            "ziqi_dingtalk_event_event_key_uniq",
            "ziqi_dingtalk_role_dingtalk_id_company_uniq",
            "ziqi_dingtalk_sync_item_run_kind_key_uniq",
            "ziqi_dingtalk_token_app_key_uniq",
        }
        self.env.cr.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'u' AND conname = ANY(%s)", [list(expected)]
        )
        self.assertEqual({row[0] for row in self.env.cr.fetchall()}, expected)

    def test_comma_joined_ids_of_an_older_version_become_lists(self):
        event = self.Event.create(
            {"company_id": self.company.id, "event_type": "user_add_org", "event_key": "m1", "state": "done"}
        )
        event.flush_recordset()
        self.env.cr.execute("ALTER TABLE ziqi_dingtalk_event ADD COLUMN user_ids varchar")
        self.env.cr.execute("UPDATE ziqi_dingtalk_event SET user_ids = 'a,b' WHERE id = %s", [event.id])
        path = Path(__file__).parents[1] / "migrations" / "18.0.1.3.0" / "pre-migrate.py"
        spec = importlib.util.spec_from_file_location("ziqi_dingtalk_pre_migrate_1_3", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        migration.migrate(self.env.cr, "18.0.1.2.0")
        event.invalidate_recordset()
        self.assertEqual(event.userid_list, ["a", "b"])
        self.env.cr.execute(
            """SELECT 1 FROM information_schema.columns
               WHERE table_name = 'ziqi_dingtalk_event' AND column_name = 'user_ids'"""
        )
        self.assertFalse(self.env.cr.fetchall(), "the old column is gone")

    def test_the_inbox_in_a_browser(self):
        self.Event.create(
            {
                "company_id": self.company.id,
                "event_type": "user_modify_org",
                "event_key": "k1",
                "userid_list": ["u1"],
                "state": "failed",
                "attempts": 5,
                "last_error": "DingTalk error 60011 on /topapi/v2/user/get",
            }
        )
        self.Event.create(
            {
                "company_id": self.company.id,
                "event_type": "org_dept_modify",
                "event_key": "k2",
                "dept_id_list": ["2"],
                "state": "done",
            }
        )
        self.start_tour(
            "/odoo/action-ziqi_dingtalk.action_ziqi_dingtalk_event", "ziqi_dingtalk_inbox", login="admin"
        )
        self.assertEqual(self.Event.search([("event_key", "=", "k1")]).state, "pending")
