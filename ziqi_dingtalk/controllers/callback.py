import logging

from odoo import http
from odoo.http import request

from ..models.ziqi_dingtalk_event import CallbackRefused

_logger = logging.getLogger(__name__)


class DingTalkCallbackController(http.Controller):
    @http.route(
        ["/dingtalk/callback", "/dingtalk/callback/<int:company_id>"],
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def callback(self, company_id=None, **_params):
        """DingTalk's HTTP event push: verified, stored, answered with the encrypted ``success`` at once."""
        httprequest = request.httprequest
        try:
            answer = (
                request.env["ziqi.dingtalk.event"]
                .sudo()
                ._receive_http(httprequest.args, httprequest.get_data(), company_id)
            )
        except CallbackRefused as refusal:
            _logger.warning("DingTalk callback from %s refused: %s", httprequest.remote_addr, refusal.reason)
            return request.make_json_response({"error": refusal.public}, status=refusal.status)
        return request.make_json_response(answer)
