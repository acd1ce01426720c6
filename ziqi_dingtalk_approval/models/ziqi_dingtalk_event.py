import datetime

from odoo import fields, models
from odoo.exceptions import UserError

# an event of an unknown instance this young is tried again once: its submission may not be committed yet
EARLY_EVENT = datetime.timedelta(minutes=2)


class ZiqiDingtalkEvent(models.Model):
    """The approval events of the inbox (bpms_instance_change, bpms_task_change [KB:EV/0039, EV/0038]):
    they carry an instance id and what happened, and only wake the approval, which reads the instance from
    DingTalk's API (docs/dingtalk-approval-protocol.md §7). An event's own words are never applied."""

    _inherit = "ziqi.dingtalk.event"

    def _handle_bpms_instance_change(self, client, report):
        return self._refresh_approval()

    def _handle_bpms_task_change(self, client, report):
        return self._refresh_approval()

    def _refresh_approval(self):
        instance_id = str((self.data or {}).get("processInstanceId") or "")
        if not instance_id:
            return "skipped", "no processInstanceId"
        approval = (
            self.env["ziqi.dingtalk.approval"]
            .sudo()
            .search([("company_id", "=", self.company_id.id), ("instance_id", "=", instance_id)], limit=1)
        )
        if not approval:
            if self._maybe_not_committed_yet():
                # DingTalk may push an instance's events before the submission's transaction commits
                raise UserError(self.env._("No approval of Odoo has this instance yet: tried again later."))
            return "skipped", "not an approval started by Odoo"
        approval._refresh()
        return "done", f"approval {approval.business_id or instance_id}: {approval.state}"

    def _maybe_not_committed_yet(self):
        """A first attempt at a young event of a template Odoo's rules use (the company's other approvals,
        leave requests and the like, are skipped at once)."""
        if self.attempts or self.received_at < fields.Datetime.now() - EARLY_EVENT:
            return False
        rules = self.env["ziqi.dingtalk.approval.rule"].sudo().with_context(active_test=False)
        codes = rules.search([("company_id", "=", self.company_id.id)]).template_id.mapped("process_code")
        return (self.data or {}).get("processCode") in codes
