"""Test helpers for DingTalk approvals: a sandbox whose directory is synced, its templates read, and its
approval events held back, so that a test delivers them to the inbox itself (in any order, twice...)."""

from odoo.addons.ziqi_dingtalk.dingtalk.events import parse_event
from odoo.addons.ziqi_dingtalk.tests.common import DingTalkHttpCase

PURCHASE = "PROC-SANDBOX-PURCHASE"
EXPENSE = "PROC-SANDBOX-EXPENSE"


class ApprovalCase(DingTalkHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ziqi.dingtalk.sync.run"]._queue(cls.company, "all")._run_to_end()
        cls.sandbox.control("approval/config", {"terminate_min_age": 0, "hold_events": True})
        cls.env["ziqi.dingtalk.approval.template"]._refresh_company(cls.company)
        cls.Template = cls.env["ziqi.dingtalk.approval.template"]
        cls.Approval = cls.env["ziqi.dingtalk.approval"]
        employees = cls.env["hr.employee"].search(
            [("company_id", "=", cls.company.id), ("dingtalk_userid", "!=", False), ("user_id", "!=", False)],
            order="id",
        )
        # the originator and the people who approve, all synced from the sandbox's directory
        cls.originator, *cls.approvers = employees[:6]

    def setUp(self):
        super().setUp()
        self.set_flow(PURCHASE, [self.approvers[0]])
        self.set_flow(EXPENSE, [self.approvers[0]])

    @classmethod
    def make_rule(cls, model, process_code, form, **vals):
        """A rule for ``model`` with the company's template ``process_code``; ``form`` maps each DingTalk
        label to a field path, or for a table to ``(lines path, {column label: path})``."""
        template = cls.env["ziqi.dingtalk.approval.template"].search(
            [("process_code", "=", process_code), ("company_id", "=", cls.company.id)]
        )
        fields = {field.label: field for field in template.field_ids}

        def lines(mapping):
            out = []
            for label, source in mapping.items():
                path, columns = source if isinstance(source, tuple) else (source, None)
                line = {"template_field_id": fields[label].id, "source_path": path}
                if columns:
                    line["child_ids"] = lines(columns)
                out.append((0, 0, line))
            return out

        return cls.env["ziqi.dingtalk.approval.rule"].create(
            {
                "name": model,
                "model_id": cls.env["ir.model"]._get_id(model),
                "template_id": template.id,
                "line_ids": lines(form),
                **vals,
            }
        )

    # --- the sandbox as DingTalk's approvers ---

    def set_flow(self, process_code, steps):
        """The template's flow: each step an employee (单人) or ``("AND"|"OR", [employees])``."""
        flow = []
        for step in steps:
            kind, people = step if isinstance(step, tuple) else ("NONE", [step])
            flow.append({"actionType": kind, "userIds": [p.dingtalk_userid for p in people]})
        self.sandbox.control("approval/templates", {"process_code": process_code, "flow": flow})

    def act(self, approval, employee, action, remark=""):
        """``employee`` agrees, refuses or comments in DingTalk; returns the events DingTalk produced."""
        answer = self.sandbox.control(
            "approval/act",
            {
                "instance_id": approval.instance_id,
                "userid": employee.dingtalk_userid,
                "action": action,
                "remark": remark,
            },
        )
        return answer["events"]

    def instance(self, approval):
        return self.sandbox.control(f"approval/instance?id={approval.instance_id}", method="GET")["instance"]

    def held_events(self, approval):
        """The events DingTalk produced for ``approval`` and kept back (the sandbox holds them)."""
        events = self.sandbox.control("approval/events?held=1", method="GET")["events"]
        return [event for event in events if event.get("processInstanceId") == approval.instance_id]

    def deliver(self, events):
        """Store the events in the inbox as a push would, and apply them."""
        Event = self.env["ziqi.dingtalk.event"]
        for payload in events:
            Event._store(self.company, parse_event(dict(payload)))
        Event._cron_process()

    def chatter(self, document):
        return document.message_ids.sorted("id").mapped(lambda m: m.body and m.body.striptags() or "")
