from odoo import fields, models

from ..compat import constraint


class ZiqiDingtalkSyncItem(models.Model):
    """What a run read from DingTalk, waiting to be applied (deleted when the run ends)."""

    _name = "ziqi.dingtalk.sync.item"
    _description = "DingTalk Sync Staging"
    _log_access = False

    run_id = fields.Many2one("ziqi.dingtalk.sync.run", required=True, ondelete="cascade", index=True)
    kind = fields.Char("Type", required=True)
    key = fields.Char(required=True)
    payload = fields.Json()

    _run_kind_key_uniq = constraint("unique(run_id, kind, key)", "Staged once per run.")
