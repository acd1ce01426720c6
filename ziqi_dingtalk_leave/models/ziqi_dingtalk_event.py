import logging

from odoo import models
from odoo.addons.ziqi_dingtalk.dingtalk.attendance import leave_event
from odoo.addons.ziqi_dingtalk.dingtalk.workflow import WorkflowClient

_logger = logging.getLogger(__name__)


class ZiqiDingtalkEvent(models.Model):
    """attendance_approve_status_change [KB:EV/0135]: a leave approval started, finished, was revoked or
    deleted. It names no person and its own words are never applied: the addon reads the instance's
    originator and re-reads that person's leave over the leave window (protocol §4)."""

    _inherit = "ziqi.dingtalk.event"

    def _handle_attendance_approve_status_change(self, client, report):
        instance_id, status, approve_type = leave_event(self.data or {})
        if approve_type != "LEAVE":
            return "skipped", self.env._("not a leave approval (%(type)s)", type=approve_type or "-")
        if not instance_id:
            return "skipped", "no processInstanceId"
        if status == "delete":
            # a deleted approval is gone from DingTalk's API: the nightly import cancels what it had made
            return "skipped", self.env._("approval deleted in DingTalk: the nightly import cancels its leave")
        company = self.company_id
        instance = WorkflowClient(company._dingtalk_client()).get(instance_id)
        userid = instance.originator_userid
        if not userid:
            return "skipped", self.env._("the approval names no originator")
        importer = self.env["ziqi.dingtalk.leave.importer"]
        result = importer._sync_leaves(company, [userid], *importer._window())
        _logger.debug("DingTalk leave event %s (%s) of %s", instance_id, status, userid)
        return "done", f"{userid}: {result.summary(self.env)}"
