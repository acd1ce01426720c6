"""The sandbox WSGI application: one base URL serving oapi paths, api.dingtalk.com ``/v1.0`` paths,
login.dingtalk.com ``/oauth2`` pages and the ``/_sandbox`` control API."""

import json
import logging
import secrets
import string
import threading
import time
import uuid

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import api, attendance, attendance_api, avatars, control, failed, oapi, stream, workflow, workflow_api
from .errors import ApiError, OapiError
from .state import Faults, RateLimiter, Stats, Tokens

_logger = logging.getLogger(__name__)
_RID = string.ascii_lowercase + string.digits


class Sandbox:
    """All state of one running sandbox. ``lock`` guards the organisation and the token tables."""

    def __init__(self, org, qps=20, token_ttl=7200, latency_ms=0):
        self.lock = threading.RLock()
        self.org = org
        self.tokens = Tokens(token_ttl)
        self.limiter = RateLimiter(qps)
        self.faults = Faults()
        self.stats = Stats()
        self.latency_ms = latency_ms
        self.login_as = None  # userid the OAuth page picks by itself (browser tests)
        self.messages = []
        self.pushes = []
        self.callback = None
        self.redelivery = failed.Redelivery(self)  # retries and parked pushes (failed.py)
        self.task_seq = 700_000_000_000
        self.stream = stream.Gateway()  # Stream mode: its WebSocket listener starts on the first ticket
        self.workflow = workflow.Workflow(self.next_task_id)  # approvals (workflow.py), under ``lock``
        self.attendance = attendance.Attendance()  # attendance and leave (attendance*.py), under ``lock``
        self.routes = {
            **oapi.ROUTES,
            **api.ROUTES,
            **stream.ROUTES,
            **workflow_api.ROUTES,
            **attendance_api.ROUTES,
        }
        self.controls = control.ROUTES

    def close(self):
        """Stop what runs beside the HTTP server (the Stream gateway's listener, timer and connections)."""
        self.stream.stop()

    # ----- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path.rstrip("/") or "/"
        if path.startswith("/_sandbox"):
            response = control.dispatch(self, request, path)
        elif path.startswith("/oauth2"):
            response = api.login_page(self, request, path)
        elif path.startswith(avatars.PREFIX + "/"):  # DingTalk's static CDN: profile pictures
            response = avatars.serve(self, request, path)
        else:
            response = self._dingtalk(request, path)
        return response(environ, start_response)

    def _dingtalk(self, request, path):
        route = self.routes.get(path)
        if route is None and path.startswith("/v1.0/"):
            route = api.match_pattern(path)
        is_api = path.startswith("/v1.0/")
        if route is None:
            if is_api:
                return self.api_error(
                    ApiError(
                        404,
                        "InvalidAction.NotFound",
                        "Specified api is not found, please check your url and method.",
                    )
                )
            return json_response(
                {"errcode": 404, "errmsg": "请求的URI地址不存在", "request_id": request_id()}
            )
        handler, auth = route
        self.stats.call(path)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        try:
            params = parse_params(request, is_api)
            app_key = self._authenticate(request, path, auth, params, is_api)
            if not self.limiter.allow(app_key, path):
                self.stats.throttle(path)
                raise self.throttle_error(is_api)
            fault = self.faults.take(path)
            if fault is not None:
                return self.fault_response(fault, is_api)
            result = handler(self, request, params, app_key)
        except OapiError as exc:
            return json_response(dict(exc.body(), request_id=request_id()))
        except ApiError as exc:
            return self.api_error(exc)
        if isinstance(result, Response):
            return result
        if is_api:
            return json_response(result, headers={"x-acs-request-id": api_request_id()})
        return json_response({"errcode": 0, "errmsg": "ok", **result, "request_id": request_id()})

    def _authenticate(self, request, path, auth, params, is_api):
        if auth == "none":
            return str(params.get("appkey") or params.get("appKey") or params.get("clientId") or "-")
        if auth == "user":
            return "user"
        if is_api:
            token = request.headers.get("x-acs-dingtalk-access-token")
            app_key, problem = self.check_app_token(token)
            if problem == "missing":
                raise ApiError(
                    400, "AuthenticationFailed.MissingParameter", "缺少参数 x-acs-dingtalk-access-token"
                )
            if problem:
                raise ApiError(400, "InvalidAuthentication", "不合法的access_token")
            return app_key
        app_key, problem = self.check_app_token(request.args.get("access_token"))
        if problem is None:
            return app_key
        topapi = path.startswith("/topapi/")
        if problem == "missing":
            if topapi:  # as observed on real topapi (protocol §3.1, PROBE P9)
                raise OapiError(
                    88,
                    "ding talk error[subcode=40000,submsg=access_token is blank]",
                    40000,
                    "access_token is blank",
                )
            raise OapiError(41001, "缺少access_token参数")
        if topapi:
            raise OapiError(
                88,
                "ding talk error[subcode=40014,submsg=不合法的access_token]",
                40014,
                "不合法的access_token",
            )
        if problem == "expired":
            raise OapiError(42001, "access_token超时")
        raise OapiError(40014, "不合法的access_token")

    def check_app_token(self, token):
        with self.lock:
            return self.tokens.check_app(token)

    @staticmethod
    def throttle_error(is_api):
        if is_api:
            return ApiError(
                403,
                "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                "当前应用调用该接口已超过每秒调用次数限制，请稍后重试",
            )
        return OapiError(90018, "当前企业调用该接口超过每秒最大调用次数，请降低调用频率")

    def fault_response(self, fault, is_api):
        status = int(fault.get("http_status") or (400 if is_api and fault.get("code") else 200))
        if "body" in fault and fault["body"] is not None:
            body = fault["body"]
            if isinstance(body, str):
                return Response(body, status=status, content_type="application/json;charset=utf-8")
            return json_response(body, status=status)
        if is_api and fault.get("code"):
            return self.api_error(ApiError(status, fault["code"], fault.get("message") or "injected fault"))
        body = {"errcode": int(fault.get("errcode", -1)), "errmsg": fault.get("errmsg") or "系统繁忙"}
        if fault.get("sub_code") is not None:
            body.update(sub_code=str(fault["sub_code"]), sub_msg=fault.get("sub_msg") or "")
        if is_api and not fault.get("code"):
            return self.api_error(
                ApiError(status if status >= 400 else 500, str(body["errcode"]), body["errmsg"])
            )
        return json_response(dict(body, request_id=request_id()), status=status)

    @staticmethod
    def api_error(exc):
        body = {"code": exc.code, "requestid": api_request_id(), "message": exc.message}
        return json_response(body, status=exc.status, headers={"x-acs-request-id": body["requestid"]})

    def next_task_id(self):
        with self.lock:
            self.task_seq += 1
            return self.task_seq


# ----- helpers -----------------------------------------------------------------------------------
def request_id():
    return "".join(secrets.choice(_RID) for _ in range(13))


def api_request_id():
    return str(uuid.uuid4()).upper()


def json_response(body, status=200, headers=None):
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(data, status=status, headers=headers, content_type="application/json;charset=utf-8")


def parse_params(request, is_api):
    """Query arguments merged with a JSON or form-encoded body (DingTalk accepts both)."""
    params = {k: v for k, v in request.args.items() if k != "access_token"}
    if request.method in ("POST", "PUT", "PATCH"):
        raw = request.get_data(cache=True)
        ctype = request.mimetype or ""
        if raw and ("json" in ctype or raw.lstrip()[:1] in (b"{", b"[")):
            try:
                body = json.loads(raw)
            except ValueError as exc:
                if is_api:
                    raise ApiError(400, "InvalidParameter", "请求体不是合法的JSON") from exc
                raise OapiError(40035, "不合法的参数") from exc
            if isinstance(body, dict):
                params.update(body)
        elif raw and is_api:  # api.dingtalk.com takes JSON bodies only
            raise ApiError(400, "Missingbody", "body is mandatory for this action.")
        elif raw:
            params.update(request.form.items())
    return params


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 keep-alive (every answer has a Content-Length): clients reuse connections."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code="-", size="-"):
        if _logger.isEnabledFor(logging.DEBUG):
            super().log_request(code, size)


def serve(sandbox, port=0, host="127.0.0.1"):
    """Start a threaded server; returns (server, base_url). Call ``server.serve_forever()``."""
    server = make_server(host, port, sandbox, threaded=True, request_handler=_KeepAliveHandler)
    server.daemon_threads = True
    return server, "http://%s:%d" % (host, server.server_port)


def start_in_thread(sandbox, port=0):
    """Run the sandbox in a daemon thread (for tests); returns (server, base_url)."""
    server, url = serve(sandbox, port)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="dingtalk-sandbox", daemon=True)
    thread.start()
    return server, url
