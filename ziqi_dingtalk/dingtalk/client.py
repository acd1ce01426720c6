"""HTTP client for DingTalk's two server API families (protocol §3–§6).

* oapi (``https://oapi.dingtalk.com``, topapi): token in ``?access_token=``, HTTP 200 with ``errcode``.
* api (``https://api.dingtalk.com/v1.0``): token in the ``x-acs-dingtalk-access-token`` header, errors are
  non-2xx answers with ``{code, message, requestid}``.

The client is thread-safe: one instance may serve a pool of fetching threads. It never logs a secret, a
token or an auth code, and its exceptions never carry a URL (the query holds the token or the secret).
"""

import collections
import contextlib
import contextvars
import logging
import random
import re
import threading
import time

import requests
from requests.adapters import HTTPAdapter

from .errors import APIError, TransportError, make_api_error
from .ratelimit import LimiterBusy, RateLimiter
from .stream import EVENTS as STREAM_EVENTS
from .stream import OPEN_PATH as STREAM_OPEN_PATH
from .stream import USER_AGENT as STREAM_USER_AGENT

_logger = logging.getLogger(__name__)

TOKEN_HEADER = "x-acs-dingtalk-access-token"
TOKEN_PATH = "/v1.0/oauth2/accessToken"  # the app access token (protocol §3.1)
REFRESH_MARGIN = 300  # seconds before DingTalk's expiry at which the token is replaced
# The limiter window is 10% longer than DingTalk's 1 s so network jitter never lets the server see qps+1.
LIMIT_PERIOD = 1.1
USER_LIST_MAX = 100
ROLE_LIST_MAX = 200
ROLE_MEMBERS_MAX = 100
NOTIFY_MAX_USERS = 100
NOTIFY_MAX_DEPTS = 20
_SECRET_QUERY = re.compile(r"((?:access_token|appsecret)=)[^&\s\"]+", re.IGNORECASE)


class _RedactSecrets(logging.Filter):
    """urllib3 logs request URLs at DEBUG, and oapi URLs carry the token (gettoken even the secret)."""

    def filter(self, record):
        message = record.getMessage()
        redacted = _SECRET_QUERY.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactSecrets())


# Set by never_wait(): calls made in this context (thread or task) may not queue or back off.
_NEVER_WAIT = contextvars.ContextVar("dingtalk_never_wait", default=False)


@contextlib.contextmanager
def never_wait():
    """Within this block, a call that the rate limiter would delay raises LimiterBusy instead of sleeping,
    and a throttled or busy answer is raised at once instead of retried after a backoff.

    For interactive calls (sign-ins): a person waiting at the login page gets "too many" at once, and a flood
    of sign-in attempts cannot hold workers asleep behind the app's limiter.
    """
    token = _NEVER_WAIT.set(True)
    try:
        yield
    finally:
        _NEVER_WAIT.reset(token)


_SHARED_LIMITERS = {}
_SHARED_LIMITERS_LOCK = threading.Lock()


def shared_limiter(app_key, qps=20):
    """The process-wide limiter of an app: DingTalk counts calls per app and API, not per client object."""
    with _SHARED_LIMITERS_LOCK:
        limiter = _SHARED_LIMITERS.get((app_key, qps))
        if limiter is None:
            limiter = _SHARED_LIMITERS[(app_key, qps)] = RateLimiter(qps, LIMIT_PERIOD)
        return limiter


class TokenStore:
    """Where the app access token is cached; may be shared by threads and processes (e.g. a DB row).

    ``expires_at`` is an epoch time after which the client stops using the token; the client already
    sets it REFRESH_MARGIN seconds before DingTalk's own expiry.
    """

    def get(self):
        """Return ``(token, expires_at)`` or None."""
        raise NotImplementedError

    def set(self, token, expires_at):
        raise NotImplementedError

    def clear(self):
        raise NotImplementedError


class MemoryTokenStore(TokenStore):
    """Token store for one process (tests, scripts)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._value = None

    def get(self):
        with self._lock:
            return self._value

    def set(self, token, expires_at):
        with self._lock:
            self._value = (token, expires_at)

    def clear(self):
        with self._lock:
            self._value = None


class OwnerThreadStore(TokenStore):
    """A store that may only be used by the thread that made it (one holding a database cursor), seen by
    other threads (a pool doing HTTP) through a copy in memory: what they fetch stays in that copy until
    the owner calls :meth:`flush` (``DingTalkClient.settle_token``), so no thread but the owner ever
    touches the store behind it."""

    def __init__(self, store):
        self._store = store
        self._owner = threading.get_ident()
        self._copy = MemoryTokenStore()
        self._pending = None  # a token a pool thread fetched, not in the store yet

    def flush(self):
        """Owner thread: put a token a pool thread fetched into the store."""
        if self._mine() and self._pending:
            pending, self._pending = self._pending, None
            self._store.set(*pending)

    def _mine(self):
        return threading.get_ident() == self._owner

    def get(self):
        if not self._mine():
            return self._copy.get()
        value = self._store.get()
        if value:
            self._copy.set(*value)
        return value

    def set(self, token, expires_at):
        self._copy.set(token, expires_at)
        if self._mine():
            self._pending = None
            self._store.set(token, expires_at)
        else:
            self._pending = (token, expires_at)

    def clear(self):
        self._copy.clear()
        if self._mine():
            self._store.clear()


def _new_session():
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _coerce_code(value):
    """DingTalk sometimes sends numbers as strings ("errcode": "0")."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def _json_body(response, path):
    """The answer as a dict, or TransportError for HTML pages, IP bans and other non-DingTalk answers."""
    status = response.status_code
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        ctype = response.headers.get("Content-Type", "unknown type")
        raise TransportError(
            f"DingTalk {path} answered HTTP {status} with non-JSON content ({ctype}); "
            "a gateway error or an IP-ban page?",
            api=path,
            http_status=status,
        )
    if "punish" in body or body.get("status") == 1111:
        raise TransportError(
            f"DingTalk refused {path} (status {body.get('status')}, wait {body.get('wait')} min): "
            "the egress IP is probably banned for too many calls",
            api=path,
            http_status=status,
        )
    return body


def _request_id(body):
    return body.get("request_id") or body.get("requestid") or body.get("requestId")


def _oapi_result(response, path):
    """Whole body of an oapi answer (errcode coerced to int) or the typed error it carries."""
    body = _json_body(response, path)
    if "errcode" not in body and not response.ok:
        return _api_result(response, path, body)
    if "errcode" not in body:
        # every oapi answer carries errcode; an empty or foreign 200 must never pass for "no results"
        raise TransportError(
            f"DingTalk {path} answered HTTP {response.status_code} without an errcode",
            api=path,
            http_status=response.status_code,
        )
    errcode = _coerce_code(body.get("errcode", 0))
    if errcode != 0:
        raise make_api_error(
            errcode,
            body.get("errmsg", ""),
            sub_code=body.get("sub_code"),
            sub_msg=body.get("sub_msg"),
            request_id=_request_id(body),
            http_status=response.status_code,
            api=path,
        )
    body["errcode"] = 0
    return body


def _api_result(response, path, body=None):
    """Body of a 2xx api answer or the typed error of a non-2xx one."""
    body = _json_body(response, path) if body is None else body
    if response.ok:
        return body
    code = _coerce_code(body.get("code", body.get("errcode")))
    if code is None:
        raise TransportError(
            f"DingTalk {path} answered HTTP {response.status_code}",
            api=path,
            http_status=response.status_code,
        )
    raise make_api_error(
        code,
        body.get("message", body.get("errmsg", "")),
        request_id=_request_id(body),
        http_status=response.status_code,
        api=path,
    )


def _compact(**values):
    return {key: value for key, value in values.items() if value is not None}


def _id_list(values):
    if values is None or isinstance(values, str):
        return values
    return ",".join(str(value) for value in values)


class DingTalkClient:
    """DingTalk server API client for one app (AppKey/AppSecret).

    ``qps`` (None or 0 = off) limits calls per API path per second on the client side; pass a shared
    ``limiter`` (see :func:`shared_limiter`) so that every client of one app in a process counts together;
    ``max_retries``
    bounds the backoff retries on throttling and "system busy" answers; ``sleep`` and ``clock`` (epoch
    seconds, used for token expiry) are injectable for tests.
    """

    def __init__(
        self,
        app_key,
        app_secret,
        *,
        oapi_url="https://oapi.dingtalk.com",
        api_url="https://api.dingtalk.com",
        token_store=None,
        timeout=10,
        qps=20,
        session=None,
        max_retries=4,
        backoff=1.0,
        max_backoff=8.0,
        sleep=time.sleep,
        clock=time.time,
        limiter=None,
    ):
        self.app_key = app_key
        self._app_secret = app_secret
        self.oapi_url = oapi_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.token_store = token_store if token_store is not None else MemoryTokenStore()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._clock = clock
        self._limiter = limiter if limiter is not None else (RateLimiter(qps, LIMIT_PERIOD) if qps else None)
        self._session = session if session is not None else _new_session()
        self._token_lock = threading.Lock()
        self._token = None  # (token, expires_at) last read from or written to the store
        self._stats_lock = threading.Lock()
        self._stats = collections.Counter()

    def __repr__(self):
        return f"<DingTalkClient app_key={self.app_key!r} oapi_url={self.oapi_url!r}>"

    # --- statistics ---

    @property
    def stats(self):
        """HTTP requests made per API path (retries and token requests included)."""
        with self._stats_lock:
            return dict(self._stats)

    def reset_stats(self):
        with self._stats_lock:
            self._stats.clear()

    # --- access token ---

    def access_token(self, force=False):
        """The app access token: from memory or the store, or fetched (_fetch_token) when missing or nearly
        expired. The store is read only when this client has no valid token of its own, so a shared (database)
        store costs one read per client, not one per call."""
        if force:
            return self._refresh_token(stale=self._known_token())
        return self._known_token() or self._refresh_token(stale=None)

    def settle_token(self):
        """From the thread that made this client, after concurrent work: keep in the token store a token one
        of the pool's threads had to fetch (the one in the store was refused), so the next client of this
        app does not start with the refused one."""
        flush = getattr(self.token_store, "flush", None)
        if flush:
            flush()

    def _valid(self, cached):
        return cached[0] if cached and cached[0] and cached[1] > self._clock() else None

    def _known_token(self):
        token = self._valid(self._token)
        if token is None:
            self._token = self.token_store.get()
            token = self._valid(self._token)
        return token

    def _refresh_token(self, stale):
        """Fetch a new token unless another thread or process already replaced ``stale`` in the store."""
        with self._token_lock:
            self._token = self.token_store.get()
            token = self._valid(self._token)
            if token and token != stale:
                return token
            return self._fetch_token()

    def _fetch_token(self):
        """POST /v1.0/oauth2/accessToken {appKey, appSecret} -> {accessToken, expireIn} (protocol §3.1, §9.7):
        exempt from the monthly API quota, unlike oapi /gettoken; the token works on both API families.
        A wrong key or secret answers 400 invalidClientIdOrSecret -> CredentialsError."""
        body = self._call(
            "api",
            "POST",
            TOKEN_PATH,
            json={"appKey": self.app_key, "appSecret": self._app_secret},
            token=False,
        )
        token = body.get("accessToken")
        if not token:
            raise TransportError(f"DingTalk {TOKEN_PATH} answer has no accessToken", api=TOKEN_PATH)
        expires_in = int(body.get("expireIn") or 7200)
        expires_at = self._clock() + expires_in - min(REFRESH_MARGIN, expires_in // 10)
        self.token_store.set(token, expires_at)
        self._token = (token, expires_at)
        _logger.info("DingTalk access token fetched for app %s (expires in %ss)", self.app_key, expires_in)
        return token

    # --- generic calls ---

    def oapi(self, path, body=None, *, params=None, method="POST", token=True):
        """Call an oapi (topapi) path; return the whole JSON body. ``body`` is sent as JSON."""
        return self._call("oapi", method, path, params=params, json=body, token=token)

    def api(self, method, path, *, json=None, params=None, user_token=None, token=True):
        """Call an api.dingtalk.com path (``/v1.0/...``); ``user_token`` replaces the app token."""
        use_app_token = token and not user_token
        return self._call(
            "api", method, path, params=params, json=json, token=use_app_token, user_token=user_token
        )

    def _call(self, family, method, path, *, params=None, json=None, token=True, user_token=None):
        """One logical call: refresh-and-retry once on token errors, back off on throttling."""
        attempt = 0
        refreshed = False
        while True:
            app_token = self.access_token() if token else None
            try:
                return self._request(family, method, path, params, json, app_token or user_token)
            except APIError as error:
                if token and error.is_token_error and not refreshed:
                    _logger.info(
                        "DingTalk %s rejected the access token (%s); refreshing", path, error.errcode
                    )
                    refreshed = True
                    self._refresh_token(stale=app_token)
                elif error.is_retryable and attempt < self.max_retries and not _NEVER_WAIT.get():
                    self._backoff(path, attempt, error)
                    attempt += 1
                else:
                    raise

    def _backoff(self, path, attempt, error):
        delay = min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)
        _logger.info(
            "DingTalk %s busy (%s): retry %d/%d in %.2fs",
            path,
            error.errcode,
            attempt + 1,
            self.max_retries,
            delay,
        )
        self._sleep(delay)

    def _request(self, family, method, path, params, json, auth_token):
        params = dict(params or {})
        headers = {}
        if family == "oapi":
            base, parse = self.oapi_url, _oapi_result
            if auth_token:
                params["access_token"] = auth_token
        else:
            base, parse = self.api_url, _api_result
            if auth_token:
                headers[TOKEN_HEADER] = auth_token
        response = self._send(method, base + path, path, params=params, json=json, headers=headers)
        return parse(response, path)

    def _send(self, method, url, path, **kwargs):
        if self._limiter and _NEVER_WAIT.get():
            if not self._limiter.try_acquire(path):
                raise LimiterBusy(path)
        elif self._limiter:
            self._limiter.acquire(path)
        with self._stats_lock:
            self._stats[path] += 1
        try:
            response = self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise TransportError(f"DingTalk {path} timed out after {self.timeout}s", api=path) from None
        except requests.RequestException as exc:
            # The exception text holds the URL, hence the token: keep only its type.
            raise TransportError(f"DingTalk {path} unreachable ({type(exc).__name__})", api=path) from None
        _logger.debug("DingTalk %s %s -> HTTP %s", method, path, response.status_code)
        return response

    def _result(self, path, body):
        return self.oapi(path, body).get("result") or {}

    # --- paged contacts endpoints (generators) ---

    def iter_user_list(self, dept_id, size=USER_LIST_MAX, language=None):
        """Users directly in ``dept_id`` (topapi/v2/user/list, cursor paging, size capped at 100), the
        access-limited ones included (DingTalk leaves them out unless asked: protocol §9.4)."""
        body = _compact(
            dept_id=dept_id,
            cursor=0,
            size=min(size, USER_LIST_MAX),
            contain_access_limit=True,
            language=language,
        )
        while True:
            result = self._result("/topapi/v2/user/list", body)
            yield from result.get("list") or ()
            if not result.get("has_more") or result.get("next_cursor") is None:
                return
            body["cursor"] = result["next_cursor"]

    def iter_roles(self, size=ROLE_LIST_MAX):
        """Role groups ``{groupId, name, roles: [{id, name}]}`` (topapi/role/list, size capped at 200)."""
        return self._iter_offset("/topapi/role/list", {}, min(size, ROLE_LIST_MAX))

    def iter_role_members(self, role_id, size=ROLE_MEMBERS_MAX):
        """Members ``{userid, name, manageScopes}`` of a role (topapi/role/simplelist, size capped at 100)."""
        return self._iter_offset("/topapi/role/simplelist", {"role_id": role_id}, min(size, ROLE_MEMBERS_MAX))

    def _iter_offset(self, path, body, size):
        offset = 0
        while True:
            result = self._result(path, {**body, "size": size, "offset": offset})
            items = result.get("list") or []
            yield from items
            if not items or not result.get("hasMore", result.get("has_more")):
                return
            offset += size

    # --- single contacts calls (return the ``result`` part) ---

    def auth_scopes(self):
        """The app's contacts scope (通讯录权限范围): ``{"authed_dept": [dept_id], "authed_user": [userid]}``
        (``GET /auth/scopes``, [KB:API/0053]); the whole organisation is ``authed_dept: [1]``."""
        return self.oapi("/auth/scopes", method="GET").get("auth_org_scopes") or {}

    def department_listsubid(self, dept_id=1):
        """Ids of the direct sub-departments of ``dept_id``."""
        return self._result("/topapi/v2/department/listsubid", {"dept_id": dept_id}).get("dept_id_list", [])

    def department_listsub(self, dept_id=1, language=None):
        """Direct sub-departments ``[{dept_id, name, parent_id, ...}]`` of ``dept_id``."""
        body = _compact(dept_id=dept_id, language=language)
        return self.oapi("/topapi/v2/department/listsub", body).get("result") or []

    def department_get(self, dept_id, language=None):
        return self._result("/topapi/v2/department/get", _compact(dept_id=dept_id, language=language))

    def user_get(self, userid, language=None):
        """A person's details. DingTalk leaves ``manager_userid`` out when the person has no direct manager;
        the answer always has it here (empty for none), unlike a topapi/v2/user/list entry, which never
        shows managers (protocol §9.2)."""
        result = self._result("/topapi/v2/user/get", _compact(userid=userid, language=language))
        return {**result, "manager_userid": result.get("manager_userid") or ""}

    def user_listid(self, dept_id):
        """Userids directly in ``dept_id``."""
        return self._result("/topapi/user/listid", {"dept_id": dept_id}).get("userid_list", [])

    def user_getbyunionid(self, unionid):
        """``{userid, contact_type}`` of a unionid."""
        return self._result("/topapi/user/getbyunionid", {"unionid": unionid})

    def role_getrole(self, role_id):
        """``{name, groupId}`` of a role (top-level ``role`` key, no ``result``)."""
        return self.oapi("/topapi/role/getrole", {"roleId": role_id}).get("role") or {}

    # --- event subscription ---

    def get_call_back_failed_result(self):
        """One page of the pushes DingTalk gave up on after its retries (protocol §2.3): the whole body,
        ``{"failed_list": [...] (at most 200), "has_more": bool}``. DingTalk forgets what it answered, at the
        latest on the next call: store a page before asking for the next. An error answer returned nothing,
        so it is retried like any call; a timeout is not (the answer may be lost with what it held)."""
        return self.oapi("/call_back/get_call_back_failed_result", method="GET")

    # --- login ---

    def user_getuserinfo(self, code):
        """In-DingTalk (H5) login: ``{userid, unionid, name, sys, sys_level, ...}`` for an auth code."""
        return self._result("/topapi/v2/user/getuserinfo", {"code": code})

    def user_access_token(self, code):
        """Browser OAuth2 login: auth code -> ``{accessToken, refreshToken, expireIn, corpId}``."""
        body = {
            "clientId": self.app_key,
            "clientSecret": self._app_secret,
            "code": code,
            "grantType": "authorization_code",
        }
        return self.api("POST", "/v1.0/oauth2/userAccessToken", json=body, token=False)

    def contact_users_me(self, user_token):
        """Profile ``{nick, unionId, openId, mobile, email, ...}`` of the user owning ``user_token``."""
        return self.api("GET", "/v1.0/contact/users/me", user_token=user_token)

    # --- work notifications (§6) ---

    def send_work_notification(self, agent_id, msg, userid_list=None, dept_id_list=None, to_all_user=False):
        """Send ``msg`` (``{"msgtype": "text", "text": {"content": ...}}``); return the body with task_id."""
        userid_list, dept_id_list = _id_list(userid_list), _id_list(dept_id_list)
        if userid_list and userid_list.count(",") >= NOTIFY_MAX_USERS:
            raise ValueError(f"at most {NOTIFY_MAX_USERS} users per work notification")
        if dept_id_list and dept_id_list.count(",") >= NOTIFY_MAX_DEPTS:
            raise ValueError(f"at most {NOTIFY_MAX_DEPTS} departments per work notification")
        if not (userid_list or dept_id_list or to_all_user):
            raise ValueError("a work notification needs users, departments or to_all_user")
        body = _compact(
            agent_id=agent_id,
            msg=msg,
            userid_list=userid_list or None,
            dept_id_list=dept_id_list or None,
            to_all_user=to_all_user or None,
        )
        return self.oapi("/topapi/message/corpconversation/asyncsend_v2", body)

    def get_send_result(self, agent_id, task_id):
        """Delivery report ``send_result`` ({read_user_id_list, unread_user_id_list, ...}) of a task."""
        body = {"agent_id": agent_id, "task_id": task_id}
        return self.oapi("/topapi/message/corpconversation/getsendresult", body).get("send_result") or {}

    # --- Stream mode (protocol §7) ---

    def open_stream(self, subscriptions=STREAM_EVENTS, local_ip=""):
        """``POST /v1.0/gateway/connections/open`` -> ``(endpoint, ticket)``: a WebSocket endpoint and a
        ticket valid 90 s for one connection to it [PEDIA in protocol §7]. The app's credentials travel in
        the body; no access token."""
        body = self.api(
            "POST",
            STREAM_OPEN_PATH,
            json={
                "clientId": self.app_key,
                "clientSecret": self._app_secret,
                "subscriptions": list(subscriptions),
                "ua": STREAM_USER_AGENT,
                "localIp": local_ip,
            },
            token=False,
        )
        if not body.get("endpoint") or not body.get("ticket"):
            raise TransportError(
                f"DingTalk {STREAM_OPEN_PATH} answer has no endpoint or ticket", api=STREAM_OPEN_PATH
            )
        return body["endpoint"], body["ticket"]
