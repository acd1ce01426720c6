from odoo import models


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
            return "skipped", "not an approval started by Odoo"
        approval._refresh()
        return "done", f"approval {approval.business_id or instance_id}: {approval.state}"
