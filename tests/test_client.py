"""DingTalkClient against the DingTalk sandbox (``python -m dingtalk_sandbox``), and the rate limiter.

Sandbox control API: docs/design.md ("Sandbox"). Each test gets a fresh sandbox process.
"""

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from fakes import FakeClock

from dingtalk.client import DingTalkClient, MemoryTokenStore, shared_limiter
from dingtalk.errors import (
    APIError,
    AuthCodeError,
    CredentialsError,
    IPNotAllowed,
    NotFound,
    PagingError,
    PermissionDenied,
    QuotaExceeded,
    RateLimitError,
    TokenError,
    TransportError,
)
from dingtalk.ratelimit import RateLimiter

APP_KEY = "dingsandboxappkey0001"
APP_SECRET = "sandbox-app-secret"
AGENT_ID = 100000001
BIG_DEPT = 2
ROLE_ID = 10
USER_LIST = "/topapi/v2/user/list"
USER_GET = "/topapi/v2/user/get"
TICKETS = "/v1.0/oauth2/jsapiTickets"
TOKEN = "/v1.0/oauth2/accessToken"  # the app token (protocol §3.1, §9.7), not oapi /gettoken


# --- helpers ---


def control(url, path, body=None):
    """Call the sandbox control API (POST when a body is given)."""
    if body is None and path in ("org", "stats", "messages"):
        response = requests.get(f"{url}/_sandbox/{path}", timeout=10)
    else:
        response = requests.post(f"{url}/_sandbox/{path}", json=body or {}, timeout=10)
    response.raise_for_status()
    return response.json()


def sandbox_calls(url, path):
    return control(url, "stats")["calls"].get(path, 0)


def sandbox_throttled(url, path):
    return control(url, "stats")["throttled"].get(path, 0)


def fault(url, path, **rule):
    control(url, "faults", {"path": path, **rule})


def make_client(url, **kwargs):
    kwargs.setdefault("timeout", 10)
    return DingTalkClient(APP_KEY, APP_SECRET, oapi_url=url, api_url=url, **kwargs)


def org_250():
    """Root + one department with 250 users, 5 role groups, a role held by all 250 users."""
    users = [
        {"userid": f"u{n:04d}", "unionid": f"union{n:04d}", "name": f"用户{n}", "dept_id_list": [BIG_DEPT]}
        for n in range(250)
    ]
    groups = [
        {"groupId": 100 + g, "name": f"角色组{g}", "roles": [{"id": 20 + g, "name": f"角色{g}"}]}
        for g in range(5)
    ]
    groups[0]["roles"].append({"id": ROLE_ID, "name": "全员", "members": [u["userid"] for u in users]})
    return {
        "departments": [
            {"dept_id": 1, "name": "公司"},
            {"dept_id": BIG_DEPT, "name": "研发部", "parent_id": 1},
        ],
        "users": users,
        "role_groups": groups,
    }


@pytest.fixture
def org(sandbox):
    """Sandbox URL with the org_250 organisation and clean stats."""
    control(sandbox, "reset", {"org": org_250()})
    return sandbox


@pytest.fixture
def client(org):
    return make_client(org)


class Sleeps(list):
    """Injectable sleep that records delays instead of waiting (for backoff tests)."""

    def __call__(self, seconds):
        self.append(seconds)


# --- access token ---


def test_token_fetched_once_and_cached(client, org):
    client.user_get("u0001")
    client.user_get("u0002")
    assert client.stats == {TOKEN: 1, USER_GET: 2}
    assert control(org, "stats")["calls"] == client.stats


def test_concurrent_first_calls_fetch_one_token(client, org):
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(client.user_get, [f"u{n:04d}" for n in range(16)]))
    assert sandbox_calls(org, TOKEN) == 1


def test_shared_token_store(org):
    store = MemoryTokenStore()
    make_client(org, token_store=store).user_get("u0001")
    make_client(org, token_store=store).user_get("u0002")
    assert sandbox_calls(org, TOKEN) == 1


class CountingStore(MemoryTokenStore):
    """A shared store (like Odoo's database row) that counts its reads."""

    reads = 0

    def get(self):
        self.reads += 1
        return super().get()


def test_shared_store_is_read_once_per_client_not_per_call(org):
    store = CountingStore()
    client = make_client(org, token_store=store)
    for n in range(1, 6):
        client.user_get(f"u{n:04d}")
    assert store.reads <= 2  # the first look-up, and the re-read under the lock before fetching
    assert sandbox_calls(org, TOKEN) == 1


def test_token_refreshed_five_minutes_before_expiry(org):
    now = [1_000_000.0]
    client = make_client(org, clock=lambda: now[0])
    client.access_token()
    _, expires_at = client.token_store.get()
    assert expires_at == now[0] + 7200 - 300
    now[0] = expires_at - 1
    client.access_token()
    assert client.stats[TOKEN] == 1
    now[0] = expires_at + 1
    client.access_token()
    assert client.stats[TOKEN] == 2


def test_short_lived_tokens_are_renewed(sandbox_factory):
    url = sandbox_factory("--token-ttl", "1")
    client = make_client(url)
    client.department_listsubid()
    time.sleep(1.2)
    client.department_listsubid()
    assert client.stats[TOKEN] == 2


def test_force_refresh(client):
    client.access_token()
    client.access_token(force=True)
    assert client.stats[TOKEN] == 2


def test_expired_token_mid_paging(client, org):
    """expire_tokens between two pages: the caller sees no error and exactly one extra token request."""
    pages = client.iter_user_list(BIG_DEPT)
    first = [next(pages) for _ in range(100)]
    control(org, "expire_tokens")
    users = first + list(pages)
    assert len({u["userid"] for u in users}) == 250
    stats = control(org, "stats")["calls"]
    assert stats[TOKEN] == 2
    assert stats[USER_LIST] == 3 + 1  # three pages plus the one rejected call


def test_expired_token_on_api_family(client, org):
    client.api("POST", TICKETS)
    control(org, "expire_tokens")
    assert client.api("POST", TICKETS)["jsapiTicket"]
    assert sandbox_calls(org, TOKEN) == 2


@pytest.mark.parametrize(
    "rule",
    [
        {"errcode": 88, "sub_code": "40014"},
        {"errcode": 42001},
        {"errcode": 40001},
        {"body": {"errcode": "40014", "errmsg": "不合法的access_token"}},
    ],
    ids=["88/40014", "42001", "40001", "string-40014"],
)
def test_token_error_codes_trigger_one_refresh(client, org, rule):
    fault(org, USER_GET, count=1, **rule)
    assert client.user_get("u0001")["userid"] == "u0001"
    assert client.stats == {TOKEN: 2, USER_GET: 2}


def test_persistent_token_error_is_raised_after_one_retry(client, org):
    fault(org, TICKETS, http_status=400, code="InvalidAuthentication", count=5)
    with pytest.raises(TokenError) as info:
        client.api("POST", TICKETS)
    error = info.value
    assert (error.errcode, error.http_status, error.api) == ("InvalidAuthentication", 400, TICKETS)
    assert error.request_id
    assert client.stats == {TOKEN: 2, TICKETS: 2}


# --- paging ---


def test_user_list_250_users_in_three_calls(client, org):
    users = list(client.iter_user_list(BIG_DEPT))
    assert [u["userid"] for u in users] == [f"u{n:04d}" for n in range(250)]
    assert client.stats[USER_LIST] == math.ceil(250 / 100)
    assert sandbox_calls(org, USER_LIST) == 3


def test_user_list_size_is_capped(client):
    assert len(list(client.iter_user_list(BIG_DEPT, size=500))) == 250
    assert client.stats[USER_LIST] == 3


def test_roles_offset_paging(client):
    groups = list(client.iter_roles(size=2))
    assert [g["groupId"] for g in groups] == [100, 101, 102, 103, 104]
    assert {r["id"] for r in groups[0]["roles"]} == {20, ROLE_ID}
    assert client.stats["/topapi/role/list"] == 3


def test_role_members_offset_paging(client):
    members = list(client.iter_role_members(ROLE_ID))
    assert len({m["userid"] for m in members}) == 250
    assert client.stats["/topapi/role/simplelist"] == 3


# --- single calls ---


def test_contacts_single_calls(client):
    assert client.department_listsubid() == [BIG_DEPT]
    assert [d["name"] for d in client.department_listsub()] == ["研发部"]
    assert client.department_get(BIG_DEPT)["parent_id"] == 1
    assert len(client.user_listid(BIG_DEPT)) == 250
    assert client.user_get("u0007")["unionid"] == "union0007"
    assert client.user_getbyunionid("union0007")["userid"] == "u0007"
    assert client.role_getrole(ROLE_ID) == {"name": "全员", "groupId": 100}


def test_not_found_errors(client):
    with pytest.raises(NotFound) as info:
        client.user_get("nobody")
    assert info.value.errcode == 60121 and info.value.request_id
    with pytest.raises(NotFound):
        client.department_get(999)
    with pytest.raises(NotFound):
        client.role_getrole(424242)


# --- typed errors from injected faults ---


@pytest.mark.parametrize(
    ("errcode", "cls"), [(60011, PermissionDenied), (60020, IPNotAllowed), (43007, PermissionDenied)]
)
def test_typed_oapi_errors(client, org, errcode, cls):
    fault(org, USER_GET, errcode=errcode)
    with pytest.raises(cls) as info:
        client.user_get("u0001")
    error = info.value
    assert (error.errcode, error.api, error.http_status) == (errcode, USER_GET, 200)
    assert error.request_id and str(errcode) in str(error)
    assert client.stats[USER_GET] == 1, "not retried"


# 60020 as DingTalk words it: "…访问ip不在白名单之中,request ip=203.119.196.81 appKey(…)" [KB:API/1447]
IP_ERRMSG = (
    "请参考FAQ：https://open-doc.dingtalk.com/microapp/faquestions/cvbtph。"
    "错误原因：访问ip不在白名单之中,request ip=203.119.196.81 appKey(dingsandboxappkey0001)"
)


@pytest.mark.parametrize(
    ("rule", "ip"),
    [
        ({"errcode": 60020, "errmsg": IP_ERRMSG}, "203.119.196.81"),
        (
            {
                "errcode": 88,
                "sub_code": "60020",
                "sub_msg": "访问ip不在白名单之中，request ip=198.51.100.4, appKey(x)",
            },
            "198.51.100.4",
        ),
        ({"errcode": 60020, "errmsg": "访问ip不在白名单之中，request ip=***.***.***.***, appKey(x)"}, None),
    ],
    ids=["60020", "88/60020", "masked-ip"],
)
def test_ip_whitelist_error_names_the_ip(client, org, rule, ip):
    fault(org, USER_GET, **rule)
    with pytest.raises(IPNotAllowed) as info:
        client.user_get("u0001")
    error = info.value
    assert error.ip == ip
    assert (ip or "this server's public (egress) IP address") in error.hint
    assert "服务器出口IP" in error.hint
    assert client.stats[USER_GET] == 1, "not retried"


def test_v1_ip_whitelist_error_on_the_token_call(org):
    """403 Forbidden.AccessDenied.IpNotInWhiteList [KB:API/0013], here with an IPv6 address."""
    client = make_client(org)
    message = "访问ip不在白名单之中,request ip=2409:8a28:ec1:aa10::25 appKey(dingsandboxappkey0001)"
    fault(org, TOKEN, http_status=403, code="Forbidden.AccessDenied.IpNotInWhiteList", message=message)
    with pytest.raises(IPNotAllowed) as info:
        client.access_token()
    assert (info.value.http_status, info.value.ip) == (403, "2409:8a28:ec1:aa10::25")
    assert "add 2409:8a28:ec1:aa10::25 to the app's IP whitelist" in info.value.hint
    assert client.stats == {TOKEN: 1} and client.token_store.get() is None


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        (USER_GET, {"errcode": 90020, "errmsg": "企业调用接口次数已达上限"}),
        (TICKETS, {"http_status": 403, "code": "Forbidden.AccessDenied.ApiCountLimitForOrg"}),
    ],
    ids=["90020", "ApiCountLimitForOrg"],
)
def test_monthly_quota_is_typed_and_not_retried(org, path, rule):
    """[KB:API/1433]: old APIs 90020, new APIs Forbidden.AccessDenied.ApiCountLimitForOrg."""
    sleeps = Sleeps()
    client = make_client(org, sleep=sleeps)
    fault(org, path, count=5, **rule)
    with pytest.raises(QuotaExceeded) as info:
        if path == USER_GET:
            client.user_get("u0001")
        else:
            client.api("POST", TICKETS)
    assert "monthly API calls" in info.value.hint and not info.value.is_retryable
    assert client.stats[path] == 1 and not sleeps, "a month's quota is not waited for"


@pytest.mark.parametrize("errcode", [90001, 90003, 90004, 90005, 90006, 45009])
def test_other_throttle_codes_are_backed_off(org, errcode):
    """[KB:API/0013]: calls "temporarily disabled" for calling too much (9000x) or over the limit (45009)."""
    sleeps = Sleeps()
    client = make_client(org, sleep=sleeps)
    fault(org, USER_GET, errcode=errcode, count=1)
    assert client.user_get("u0001")["userid"] == "u0001"
    assert client.stats[USER_GET] == 2 and len(sleeps) == 1


def test_throttling_that_outlasts_the_retries_says_to_wait(org):
    sleeps = Sleeps()
    client = make_client(org, sleep=sleeps, max_retries=2)
    fault(org, TICKETS, http_status=403, code="Forbidden.AccessDenied.QpsLimitForApi", count=10)
    with pytest.raises(RateLimitError) as info:
        client.api("POST", TICKETS)
    assert info.value.errcode == "Forbidden.AccessDenied.QpsLimitForApi" and len(sleeps) == 2
    assert "wait a minute" in info.value.hint


@pytest.mark.parametrize(
    ("errcode", "errmsg", "words"),
    [(40069, "不合法的分页大小", "page size"), (40068, "不合法的偏移量", "offset")],
)
def test_role_paging_errors(client, org, errcode, errmsg, words):
    """[KB:API/0013]: 40069 invalid page size, 40068 invalid offset."""
    fault(org, "/topapi/role/list", errcode=errcode, errmsg=errmsg)
    with pytest.raises(PagingError) as info:
        list(client.iter_roles())
    assert info.value.errcode == errcode and words in info.value.hint
    assert "/topapi/role/list" in info.value.hint


def test_bad_credentials(org):
    client = DingTalkClient(APP_KEY, "wrong-secret", oapi_url=org, api_url=org)
    with pytest.raises(CredentialsError) as info:
        client.user_get("u0001")
    error = info.value
    # v1.0 shape [KB:API/0033]: HTTP 400 {code: invalidClientIdOrSecret, message, requestid}
    assert (error.errcode, error.http_status, error.api) == ("invalidClientIdOrSecret", 400, TOKEN)
    assert error.request_id and "wrong-secret" not in str(error)
    assert str(error).startswith(f"DingTalk error invalidClientIdOrSecret on {TOKEN}: ")
    assert "AppKey and AppSecret" in error.hint
    assert client.stats == {TOKEN: 1}, "not retried"


def test_api_family_error_shape(client, org):
    fault(org, TICKETS, http_status=403, code="Forbidden.AccessDenied.AccessTokenPermissionDenied")
    with pytest.raises(PermissionDenied) as info:
        client.api("POST", TICKETS)
    assert info.value.http_status == 403 and len(info.value.request_id) > 10


def test_errcode_string_zero_is_success(client, org):
    fault(org, USER_GET, body={"errcode": "0", "errmsg": "ok", "result": {"userid": "x"}})
    body = client.oapi(USER_GET, {"userid": "u0001"})
    assert body["errcode"] == 0 and body["result"] == {"userid": "x"}


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>访问被拒绝</body></html>",
        {"status": 1111, "wait": 5, "source": "x5", "punish": "deny"},
        "[1]",
        "",
        {"result": {"has_more": False, "list": []}},
    ],
    ids=["html", "ip-ban", "json-list", "empty-body", "no-errcode"],
)
def test_non_dingtalk_answers_become_transport_errors(client, org, body):
    fault(org, USER_GET, body=body)
    with pytest.raises(TransportError) as info:
        client.user_get("u0001")
    assert info.value.api == USER_GET and "access_token" not in str(info.value)


def test_timeout_is_a_transport_error_without_the_token(org):
    client = make_client(org, timeout=0.3)
    token = client.access_token()
    control(org, "config", {"latency_ms": 1000})
    try:
        with pytest.raises(TransportError) as info:
            client.user_get("u0001")
    finally:
        control(org, "config", {"latency_ms": 0})
    assert "timed out" in str(info.value) and token not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreachable_server():
    client = DingTalkClient(APP_KEY, APP_SECRET, oapi_url="http://127.0.0.1:9", api_url="http://127.0.0.1:9")
    with pytest.raises(TransportError) as info:
        client.access_token()
    assert APP_SECRET not in str(info.value)


# --- throttling ---


def test_throttle_fault_is_retried_with_backoff(org):
    sleeps = Sleeps()
    client = make_client(org, sleep=sleeps, backoff=0.5)
    fault(org, USER_GET, errcode=90018, count=3)
    assert client.user_get("u0001")["userid"] == "u0001"
    assert client.stats[USER_GET] == 4
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):
        assert 0.5 * 2**attempt * 0.5 <= delay <= 0.5 * 2**attempt


@pytest.mark.parametrize("rule", [{"errcode": 90002}, {"errcode": -1}, {"errcode": 88, "sub_code": "90018"}])
def test_other_retryable_codes(org, rule):
    client = make_client(org, sleep=Sleeps())
    fault(org, USER_GET, count=1, **rule)
    assert client.user_get("u0001")["userid"] == "u0001"
    assert client.stats[USER_GET] == 2


def test_api_family_qps_answer_is_retried(org):
    client = make_client(org, sleep=Sleeps())
    fault(org, TICKETS, http_status=403, code="Forbidden.AccessDenied.QpmLimitForAppkeyAndApi", count=2)
    assert client.api("POST", TICKETS)["jsapiTicket"]
    assert client.stats[TICKETS] == 3


def test_gives_up_after_max_retries(org):
    sleeps = Sleeps()
    client = make_client(org, sleep=sleeps, max_retries=2, backoff=10, max_backoff=15)
    fault(org, USER_GET, errcode=90018, count=10)
    with pytest.raises(RateLimitError) as info:
        client.user_get("u0001")
    assert info.value.errcode == 90018 and info.value.is_rate_limit and info.value.request_id
    assert client.stats[USER_GET] == 3
    assert len(sleeps) == 2 and max(sleeps) <= 15


def test_burst_with_client_limiter(org):
    """60 concurrent calls on one API: the limiter keeps them under the sandbox's 20/s."""
    client = make_client(org, qps=20)
    client.access_token()
    with ThreadPoolExecutor(60) as pool:
        users = list(pool.map(client.user_get, [f"u{n:04d}" for n in range(60)]))
    assert len(users) == 60
    throttled = sandbox_throttled(org, USER_GET)
    assert throttled <= 2
    assert sandbox_calls(org, USER_GET) == client.stats[USER_GET] <= 60 + throttled


def test_burst_without_limiter_recovers_by_backoff(org):
    client = make_client(org, qps=None, max_retries=8, backoff=0.5)
    client.access_token()
    with ThreadPoolExecutor(60) as pool:
        users = list(pool.map(client.user_get, [f"u{n:04d}" for n in range(60)]))
    assert len(users) == 60
    throttled = sandbox_throttled(org, USER_GET)
    assert throttled > 0, "without the limiter the sandbox must have throttled"
    assert client.stats[USER_GET] == 60 + throttled


# --- login ---


def oauth_code(url, userid):
    params = {
        "client_id": APP_KEY,
        "response_type": "code",
        "redirect_uri": "http://odoo.test/cb",
        "state": "s",
        "userid": userid,
    }
    response = requests.get(f"{url}/oauth2/auth", params=params, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    return requests.utils.urlparse(response.headers["Location"]).query.split("code=")[1].split("&")[0]


def test_browser_login(client, org):
    tokens = client.user_access_token(oauth_code(org, "u0003"))
    assert tokens["accessToken"] and tokens["expireIn"] > 0
    me = client.contact_users_me(tokens["accessToken"])
    assert me["unionId"] == "union0003"
    assert TOKEN not in client.stats, "login needs no app token"


def test_browser_login_bad_code(client):
    with pytest.raises(AuthCodeError) as info:
        client.user_access_token("used-or-unknown")
    assert info.value.errcode == "invalidAuthCode" and info.value.http_status == 400


def test_in_app_login(client, org):
    code = control(org, "auth_code", {"userid": "u0004"})["code"]
    assert client.user_getuserinfo(code)["userid"] == "u0004"
    with pytest.raises(AuthCodeError) as info:
        client.user_getuserinfo(code)
    assert info.value.errcode == 40078


def test_invalid_user_token_is_not_an_app_token_refresh(client):
    with pytest.raises(TokenError):
        client.contact_users_me("not-a-token")
    assert TOKEN not in client.stats


# --- work notifications ---


def test_work_notification(client, org):
    msg = {"msgtype": "text", "text": {"content": "你好 🎉"}}
    answer = client.send_work_notification(AGENT_ID, msg, userid_list=["u0001", "u0002"])
    task_id = answer["task_id"]
    sent = control(org, "messages")["messages"]
    assert sent[-1]["userid_list"] == ["u0001", "u0002"] and sent[-1]["msg"] == msg
    result = client.get_send_result(AGENT_ID, task_id)
    assert set(result["unread_user_id_list"]) == {"u0001", "u0002"}


def test_work_notification_validates_recipients(client):
    msg = {"msgtype": "text", "text": {"content": "x"}}
    with pytest.raises(ValueError):
        client.send_work_notification(AGENT_ID, msg)
    with pytest.raises(ValueError):
        client.send_work_notification(AGENT_ID, msg, userid_list=[f"u{n}" for n in range(101)])
    with pytest.raises(ValueError):
        client.send_work_notification(AGENT_ID, msg, dept_id_list=list(range(21)))
    assert client.stats == {}


# --- no secrets in logs ---


def test_logs_hold_no_secret_token_or_code(client, org, caplog):
    caplog.set_level(logging.DEBUG)
    client.user_get("u0001")
    control(org, "expire_tokens")
    client.user_get("u0002")
    code = control(org, "auth_code", {"userid": "u0004"})["code"]
    client.user_getuserinfo(code)
    token = client.access_token()
    for secret in (APP_SECRET, token, code):
        assert secret not in caplog.text
    assert APP_SECRET not in repr(client)


# --- rate limiter (fake clock, no server) ---


def test_limiter_spaces_calls_per_key():
    clock = FakeClock()
    limiter = RateLimiter(3, 1.0, clock=clock, sleep=clock.sleep)
    grants = []
    for _ in range(7):
        limiter.acquire("/a")
        grants.append(clock.now)
    assert grants == [0, 0, 0, 1, 1, 1, 2]
    assert limiter.acquire("/b") == 0, "keys are independent"


def test_limiter_window_slides():
    clock = FakeClock()
    limiter = RateLimiter(2, 1.0, clock=clock, sleep=clock.sleep)
    limiter.acquire("/a")
    clock.now = 0.6
    limiter.acquire("/a")
    clock.now = 0.7
    assert limiter.acquire("/a") == pytest.approx(0.3)  # first grant leaves the window at 1.0
    assert limiter.acquire("/a") == pytest.approx(0.6)  # second grant leaves it at 1.6


def test_limiter_never_exceeds_rate_in_any_window():
    clock = FakeClock()
    limiter = RateLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    grants = []
    for step in range(200):
        clock.now += (step * 7919 % 13) / 40  # irregular arrivals
        limiter.acquire("/a")
        grants.append(clock.now)
    for index in range(len(grants) - 5):
        assert grants[index + 5] - grants[index] >= 1.0 - 1e-9


def test_limiter_is_thread_safe():
    """100 threads reserving at the same instant get distinct, correctly spaced slots."""
    limiter = RateLimiter(10, 0.5, clock=lambda: 0.0, sleep=lambda _: None)
    delays = []
    lock = threading.Lock()

    def take():
        delay = limiter.reserve("/a")
        with lock:
            delays.append(delay)

    threads = [threading.Thread(target=take) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(delays) == [pytest.approx(n // 10 * 0.5) for n in range(100)]


def test_limiter_rejects_bad_settings():
    with pytest.raises(ValueError):
        RateLimiter(0)


# --- error classification (no server) ---


@pytest.mark.parametrize(
    ("errcode", "sub_code", "token", "retry"),
    [
        (40014, None, True, False),
        (88, "42001", True, False),
        ("InvalidAuthentication", None, True, False),
        (41001, None, False, False),
        (90018, None, False, True),
        (-1, None, False, True),
        ("Forbidden.AccessDenied.QpsLimitForApi", None, False, True),
        ("Forbidden.AccessDenied.AccessTokenPermissionDenied", None, False, False),
        (88, "40000", False, False),
    ],
)
def test_error_classification(errcode, sub_code, token, retry):
    error = APIError(errcode, "msg", sub_code=sub_code)
    assert (error.is_token_error, error.is_retryable) == (token, retry)


def test_clients_of_one_app_share_the_rate_limit(org):
    """Odoo builds a client per job: with the shared limiter, several clients together stay under 20/s."""
    clients = [make_client(org, limiter=shared_limiter(APP_KEY)) for _ in range(3)]
    with ThreadPoolExecutor(15) as pool:
        list(pool.map(lambda n: clients[n % 3].user_get(f"u{n % 50 + 1:04d}"), range(45)))
    assert sandbox_throttled(org, USER_GET) == 0
    assert shared_limiter(APP_KEY) is shared_limiter(APP_KEY)


# --- pushes DingTalk gave up on (protocol §2.3) ---

FAILED = "/call_back/get_call_back_failed_result"


def park(url, *userids):
    for userid in userids:
        control(url, "failed", {"event": {"EventType": "user_add_org", "userId": [userid]}})


def test_failed_push_list_is_paged_and_emptied(org):
    control(org, "config", {"failed_visible_after": 0, "failed_page_size": 2})
    park(org, "u0001", "u0002", "u0003")
    client = make_client(org)
    pages = [client.get_call_back_failed_result() for _ in range(3)]
    assert [(len(p["failed_list"]), p["has_more"]) for p in pages] == [(2, True), (1, False), (0, False)]
    first = pages[0]["failed_list"][0]
    assert first["call_back_tag"] == "user_add_org" and first["user_add_org"]["userid"] == ["u0001"]
    assert sandbox_calls(org, FAILED) == 3


def test_failed_push_list_busy_answer_is_retried_a_timeout_is_not(org):
    control(org, "config", {"failed_visible_after": 0})
    park(org, "u0004")
    fault(org, FAILED, errcode=-1, count=1)
    sleeps = Sleeps()
    page = make_client(org, sleep=sleeps).get_call_back_failed_result()
    assert len(page["failed_list"]) == 1 and len(sleeps) == 1, "nothing was handed out with the error"
    park(org, "u0005")
    client = make_client(org, timeout=0.3)
    client.access_token()
    control(org, "config", {"latency_ms": 1000})
    try:
        with pytest.raises(TransportError):
            client.get_call_back_failed_result()
    finally:
        control(org, "config", {"latency_ms": 0})
    assert sandbox_calls(org, FAILED) == 3, "not asked again: the lost answer may have held events"


def test_owner_thread_store_keeps_pool_threads_off_the_store():
    """Only the thread that made the store touches the one behind it; a token a pool thread fetched waits in
    memory until the owner settles it."""
    import threading

    from dingtalk.client import MemoryTokenStore, OwnerThreadStore

    class Recording(MemoryTokenStore):
        def __init__(self):
            super().__init__()
            self.threads = set()

        def get(self):
            self.threads.add(threading.get_ident())
            return super().get()

        def set(self, token, expires_at):
            self.threads.add(threading.get_ident())
            super().set(token, expires_at)

    inner = Recording()
    store = OwnerThreadStore(inner)
    inner.set("old", 2e9)
    assert store.get() == ("old", 2e9)
    seen = {}

    def pool_thread():
        seen["get"] = store.get()
        store.set("new", 3e9)
        store.flush()  # not the owner: nothing reaches the store

    thread = threading.Thread(target=pool_thread)
    thread.start()
    thread.join()
    assert seen["get"] == ("old", 2e9), "the pool sees the owner's copy"
    assert inner.get() == ("old", 2e9) and inner.threads == {threading.get_ident()}
    store.flush()
    assert inner.get() == ("new", 3e9), "settled by the owner"
