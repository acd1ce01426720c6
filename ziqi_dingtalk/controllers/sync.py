from werkzeug.exceptions import BadRequest, Forbidden

from odoo import http
from odoo.http import request

from ..models.ziqi_dingtalk_sync_run import KIND_ALIASES


class DingTalkSyncController(http.Controller):
    @http.route("/dingtalk/sync", type="http", auth="bearer", methods=["POST"], csrf=False, readonly=False)
    def sync(self, type="all", **kwargs):
        """Queue a directory sync: ``curl -X POST -H 'Authorization: Bearer <API key of an admin>'
        https://odoo.example.com/dingtalk/sync?type=user``. Only Settings administrators; never by IP."""
        if not request.env.user.has_group("base.group_system"):
            raise Forbidden()
        if type not in KIND_ALIASES:
            raise BadRequest(f"type must be one of {', '.join(sorted(KIND_ALIASES))}")
        company = request.env.company
        if not company._dingtalk_is_configured():
            raise BadRequest("DingTalk is not configured for this company")
        run = request.env["ziqi.dingtalk.sync.run"]._queue(company, KIND_ALIASES[type], "http")
        return request.make_json_response({"run_id": run.id, "kind": run.kind, "state": run.state})
