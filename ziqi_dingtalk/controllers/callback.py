import logging

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import http
from odoo.http import request

from ..models.ziqi_dingtalk_callback import CallbackRefused

_logger = logging.getLogger(__name__)

# An encrypted event naming 10,000 people is a few hundred KB: a larger body is refused (413) unread. The
# route's max_content_length is one byte more: werkzeug refuses a body announcing a larger Content-Length
# before this controller runs (Odoo's dispatcher parses forms first), and reads one sent without its length
# (chunked) no further than that one byte past the limit.
CALLBACK_MAX_BYTES = 1024 * 1024


class DingTalkCallbackController(http.Controller):
    @http.route(
        ["/dingtalk/callback", "/dingtalk/callback/<int:company_id>"],
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
        max_content_length=CALLBACK_MAX_BYTES + 1,
    )
    def callback(self, company_id=None, **_params):
        """DingTalk's HTTP event push: verified, stored, answered with the encrypted ``success`` at once."""
        httprequest = request.httprequest
        try:
            answer = (
                request.env["ziqi.dingtalk.callback"]
                .sudo()
                ._receive_http(httprequest.args, self._callback_body(httprequest), company_id)
            )
        except CallbackRefused as refusal:
            _logger.warning("DingTalk callback from %s refused: %s", httprequest.remote_addr, refusal.reason)
            return request.make_json_response({"error": refusal.public}, status=refusal.status)
        return request.make_json_response(answer)

    @staticmethod
    def _callback_body(httprequest):
        too_large = CallbackRefused(
            413, "payload too large", f"a body of more than {CALLBACK_MAX_BYTES} bytes"
        )
        try:
            body = httprequest.get_data()
        except RequestEntityTooLarge:  # how some werkzeug versions end a chunked body past the limit
            raise too_large from None
        if len(body) > CALLBACK_MAX_BYTES:
            raise too_large
        return body
