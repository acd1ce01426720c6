"""Attacks through JSON-RPC by a Time Off officer: the binding of a time off to a DingTalk leave, the
import's rows and the type mapping stay out of their reach."""

from odoo.tests import new_test_user, tagged

from .common import ANNUAL, LeaveCase


@tagged("post_install", "-at_install")
class TestLeaveSecurity(LeaveCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.officer = new_test_user(
            cls.env,
            "leave-officer",
            groups="base.group_user,hr_holidays.group_hr_holidays_user",
            company_id=cls.company.id,
        )

    def setUp(self):
        super().setUp()
        employee = self.people[10]
        self.approve(employee, ANNUAL, (20, "09:00"), (20, "18:00"), 1)
        self.sync(employee)
        self.row = self.rows(employee)
        self.leave = self.row.leave_id
        self.other = self.env["hr.leave"].create(
            {
                "employee_id": self.people[11].id,
                "holiday_status_id": self.odoo_day.id,
                "request_date_from": self.utc(21, "09:00").date(),
                "request_date_to": self.utc(21, "09:00").date(),
            }
        )
        self.env.flush_all()
        self.authenticate("leave-officer", "leave-officer")

    def rpc(self, model, method, *args, context=None):
        """Call ``method`` over JSON-RPC as the officer; returns the error text, or None when it ran."""
        try:
            self.make_jsonrpc_request(
                "/web/dataset/call_kw",
                {"model": model, "method": method, "args": list(args), "kwargs": {"context": context or {}}},
            )
        except Exception as error:  # the error is the answer
            return str(error)
        return None

    def test_officer_reads_but_cannot_rebind_or_remap(self):
        self.assertEqual(self.row.state, "imported")
        self.assertIsNone(self.rpc("ziqi.dingtalk.leave", "read", self.row.ids, ["state", "leave_id"]))
        dt_type = self.dt_type(ANNUAL)
        attacks = [
            ("hr.leave", "write", [self.other.ids, {"dingtalk_leave_id": self.row.id}], None),
            (
                "hr.leave",
                "write",
                [self.other.ids, {"dingtalk_leave_id": self.row.id}],
                {"ziqi_dingtalk_leave_import": True},
            ),
            ("hr.leave", "write", [self.leave.ids, {"dingtalk_leave_id": False}], None),
            (
                "hr.leave",
                "create",
                [
                    {
                        "employee_id": self.people[11].id,
                        "holiday_status_id": self.odoo_day.id,
                        "request_date_from": str(self.utc(25, "09:00").date()),
                        "request_date_to": str(self.utc(25, "09:00").date()),
                        "dingtalk_leave_id": self.row.id,
                    }
                ],
                None,
            ),
            ("ziqi.dingtalk.leave", "write", [self.row.ids, {"state": "revoked"}], None),
            (
                "ziqi.dingtalk.leave",
                "create",
                [
                    {
                        "company_id": self.company.id,
                        "key": "k",
                        "userid": "u",
                        "start": "2030-01-01 00:00:00",
                        "end": "2030-01-02 00:00:00",
                    }
                ],
                None,
            ),
            ("ziqi.dingtalk.leave", "unlink", [self.row.ids], None),
            ("ziqi.dingtalk.leave.type", "write", [dt_type.ids, {"holiday_status_id": False}], None),
            ("ziqi.dingtalk.leave.type", "write", [dt_type.ids, {"allocate": True}], None),
            ("ziqi.dingtalk.leave.type.refresh", "create", [{"admin_userid": "x"}], None),
        ]
        for model, method, args, context in attacks:
            with self.subTest(model=model, method=method, args=args, context=context):
                self.assertIsNotNone(self.rpc(model, method, *args, context=context))
        self.env.invalidate_all()
        self.assertEqual(self.other.sudo().dingtalk_leave_id.id, False)
        self.assertEqual(self.leave.sudo().dingtalk_leave_id, self.row)
        self.assertEqual(self.row.state, "imported")
        self.assertEqual(dt_type.holiday_status_id, self.odoo_day)
        self.assertFalse(dt_type.allocate)

    def test_officer_imports_now_but_a_plain_user_cannot(self):
        employee = self.people[12]
        self.approve(employee, ANNUAL, (22, "09:00"), (22, "18:00"), 1)
        self.assertIsNone(self.rpc("ziqi.dingtalk.leave", "action_import_now"))
        self.assertEqual(self.rows(employee).state, "imported")
        new_test_user(self.env, "plain-user", groups="base.group_user", company_id=self.company.id)
        self.authenticate("plain-user", "plain-user")
        self.assertIn("AccessError", self.rpc("ziqi.dingtalk.leave", "action_import_now"))
        self.assertIsNotNone(self.rpc("ziqi.dingtalk.leave", "read", self.row.ids, ["state"]))
