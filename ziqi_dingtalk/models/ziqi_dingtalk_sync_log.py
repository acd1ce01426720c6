from odoo import fields, models


class ZiqiDingtalkSyncLog(models.Model):
    _name = "ziqi.dingtalk.sync.log"
    _description = "DingTalk Sync Error"
    _order = "id"

    run_id = fields.Many2one("ziqi.dingtalk.sync.run", required=True, ondelete="cascade", index=True)
    kind = fields.Char("Type", required=True)
    key = fields.Char("DingTalk Id")
    message = fields.Text(required=True)
    request_id = fields.Char("DingTalk Request Id")
