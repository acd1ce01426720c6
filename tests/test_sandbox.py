"""The DingTalk sandbox (``dingtalk_sandbox``): wire format, limits, control API, crypto, generator.

Most tests run the sandbox in-process on a free loopback port; one runs the real command line.
"""

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fakes import CallbackReceiver as Receiver

from dingtalk_sandbox import CallbackCrypto, CallbackCryptoError, Org, Sandbox, generate, start_in_thread

ROOT = Path(__file__).resolve().parent.parent
APP_KEY, APP_SECRET, AGENT_ID = "dingsandboxappkey0001", "sandbox-app-secret", 100000001
BIG = 2  # department with 250 direct members in small_org()
ROLE = 10  # role held by the first 130 users


def small_org():
    users = [
        {"userid": f"u{n:03d}", "unionid": f"un{n:03d}", "name": f"用户{n}", "dept_id_list": [BIG]}
        for n in range(250)
    ]
    users[0]["dept_id_list"] = [BIG, 3]
    users.append({"userid": "gone", "unionid": "ungone", "name": "离职", "dept_id_list": [BIG], "left": True})
    groups = [
        {"groupId": 100 + g, "name": f"组{g}", "roles": [{"id": 20 + g, "name": f"角色{g}"}]}
        for g in range(5)
    ]
    groups[0]["roles"].append({"id": ROLE, "name": "全员", "members": [f"u{n:03d}" for n in range(130)]})
    depts = [
        {"dept_id": 1, "name": "公司"},
        {"dept_id": BIG, "name": "研发中心", "parent_id": 1, "dept_manager_userid_list": ["u000"]},
        {"dept_id": 3, "name": "前端组", "parent_id": BIG},
    ]
    return {"departments": depts, "users": users, "role_groups": groups}


@pytest.fixture
def sb():
    sandbox = Sandbox(Org.from_json(small_org()))
    server, url = start_in_thread(sandbox)
    sandbox.url = url
    yield sandbox
    server.shutdown()
    server.server_close()


def ctl(sb, path, body=None):
    if body is None:
        return requests.get(f"{sb.url}/_sandbox/{path}", timeout=10).json()
    return requests.post(f"{sb.url}/_sandbox/{path}", json=body, timeout=10).json()


def token(sb):
    answer = requests.get(
        f"{sb.url}/gettoken", params={"appkey": APP_KEY, "appsecret": APP_SECRET}, timeout=5
    )
    return answer.json()["access_token"]


def oapi(sb, path, body=None, tok=None, form=False):
    params = {} if tok is False else {"access_token": tok or token(sb)}
    kwargs = {"data": body} if form else {"json": body or {}}
    return requests.post(f"{sb.url}{path}", params=params, timeout=10, **kwargs).json()


# ----- crypto (protocol §1.6) --------------------------------------------------------------------
VECTORS = [
    (
        "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij",
        "123456",
        "suite4xxxxxxxxxxxxxxx",
        "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0",
        "1445827045067",
        "nEXhMP4r",
        "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9V"
        "rYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==",
        '{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}',
        b"hU3bEfGZZewzhG5a",
    ),
    (
        "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7",
        "mryue",
        "ding6ccabc44d2c8d38b",
        "03044561471240d4a14bb09372dfcfd4fd0e40cb",
        "1608001896814",
        "WL4PK6yA",
        "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNu"
        "kR+t8SB/qk4ROMu3",
        '{"EventType":"check_url"}',
        b"l7Y3EcX2CU5w8av3",
    ),
    (
        "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus",
        "tokenxxxx",
        "dingxxxxxx",
        "f36f4ba5337d426c7d4bca0dbcb06b3ddc1388fc",
        "1605695694141",
        "WelUQl6bCqcBa2fM",
        "X1VSe9cTJUMZu60d3kyLYTrBq5578ZRJtteU94wG0Q4Uk6E/wQYeJRIC0/UFW5Wkya1Ihz9oXAdLlyC9TRaqsQ==",
        "success",
        None,
    ),
    (
        "1234567890123456789012345678901234567890123",
        "123456",
        "dingsnotzck6pm5veliw",
        "9a95a004dd16f5c307e849b994173f76aa26e5eb",
        "1614767836",
        "A7Co0cJLMzIDtMMI",
        "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA==",
        "success",
        b"dICkEDLj0eb6yAbc",
    ),
]


@pytest.mark.parametrize("vector", VECTORS, ids=["V1", "V2", "V3", "V4"])
def test_crypto_official_vectors(vector):
    aes_key, tok, receiver, signature, timestamp, nonce, encrypt, plaintext, prefix = vector
    crypto = CallbackCrypto(tok, aes_key, receiver)
    assert crypto.signature(timestamp, nonce, encrypt) == signature
    assert crypto.decrypt_request(signature, timestamp, nonce, encrypt) == plaintext
    if prefix is None:
        prefix = crypto.decrypt_buffer(encrypt)[:16]
    assert crypto.decrypt_buffer(encrypt)[:16] == prefix
    assert crypto.encrypt(plaintext, random_prefix=prefix) == encrypt


def test_crypto_round_trip_and_rejections():
    crypto = CallbackCrypto("tok", "a" * 43, "dingapp")
    answer = crypto.encrypt_response("success")
    assert "\n" not in answer["encrypt"]
    assert crypto.decrypt_request(
        answer["msg_signature"], answer["timeStamp"], answer["nonce"], answer["encrypt"]
    ) == ("success")
    with pytest.raises(CallbackCryptoError):
        crypto.verify("0" * 40, answer["timeStamp"], answer["nonce"], answer["encrypt"])
    with pytest.raises(CallbackCryptoError):
        CallbackCrypto("tok", "a" * 43, "other").decrypt(answer["encrypt"])
    with pytest.raises(CallbackCryptoError):
        CallbackCrypto("tok", "short", "x")


# ----- generator ---------------------------------------------------------------------------------
def test_generator_shape():
    org = generate(users=2000, departments=120, roles=20, seed=7, leavers=5)
    counts = org.counts()
    assert counts == {"departments": 120, "users": 2000, "leavers": 5, "role_groups": 3, "roles": 20}
    for dept_id, dept in org.depts.items():  # connected tree rooted at 1
        seen = set()
        while dept_id != 1:
            assert dept_id not in seen and dept["parent_id"] in org.depts
            seen.add(dept_id)
            dept_id = dept["parent_id"]
            dept = org.depts[dept_id]
    assert max(org.depth(d) for d in org.depts) >= 3
    for dept in org.depts.values():
        for userid in dept["dept_manager_userid_list"]:
            assert dept["dept_id"] in org.users[userid].dept_id_list and not org.users[userid].left
    active = [u for u in org.users.values() if not u.left]
    multi = sum(len(u.dept_id_list) > 1 for u in active)
    assert 0.05 * len(active) < multi < 0.15 * len(active)
    assert sum(u.boss for u in active) == 1
    assert len({u.unionid for u in org.users.values()}) == len({u.mobile for u in org.users.values()}) == 2005
    # direct managers: nearly everyone has one (not the boss, not a few others), never themself
    managed = [u for u in active if u.manager_userid]
    assert 0.9 * len(active) < len(managed) < len(active) - 1
    assert all(org.active_user(u.manager_userid) and u.manager_userid != u.userid for u in managed)
    sample = active[10]
    surnames = (
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    )
    assert all(
        u.name[0] in surnames + "沈姚卢姜崔钟谭陆汪范金欧司诸" and 2 <= len(u.name) <= 4 for u in active
    )
    assert sample.hired_date > 1_262_000_000_000 and sample.state_code == "86" and "@" in sample.email
    assert {g["name"] for g in org.groups.values()} >= {"职务", "岗位"}
    assert generate(users=50, seed=3).to_json() == generate(users=50, seed=3).to_json()


def test_generator_100k_is_fast(tmp_path):
    started = time.monotonic()
    org = generate(users=100_000, departments=3_000, roles=40, seed=1)
    elapsed = time.monotonic() - started
    assert org.counts()["users"] == 100_000 and org.counts()["departments"] == 3_000
    assert elapsed < 15, elapsed


def test_dump_and_reload_round_trip(tmp_path):
    org = generate(users=300, departments=30, roles=15, seed=2, leavers=3)
    path = tmp_path / "org.json"
    org.dump(path)
    assert Org.load(path).to_json() == org.to_json()


def test_command_line_ready_line_and_dump(tmp_path):
    dump = tmp_path / "org.json"
    cmd = [sys.executable, "-m", "dingtalk_sandbox", "--port", "0", "--users", "40", "--departments", "6"]
    proc = subprocess.Popen([*cmd, "--dump", str(dump)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("SANDBOX READY http://127.0.0.1:")
        url = line.split()[2]
        answer = requests.get(
            f"{url}/gettoken", params={"appkey": APP_KEY, "appsecret": APP_SECRET}, timeout=5
        )
        assert answer.json()["errcode"] == 0
    finally:
        proc.terminate()
        proc.wait(10)
    assert len(json.loads(dump.read_text())["users"]) == 40


# ----- tokens and errors ---------------------------------------------------------------------------
def test_gettoken_same_token_and_bad_credentials(sb):
    assert token(sb) == token(sb)
    bad = requests.get(f"{sb.url}/gettoken", params={"appkey": APP_KEY, "appsecret": "x"}, timeout=5).json()
    assert bad["errcode"] == 40096 and bad["request_id"]
    answer = requests.post(
        f"{sb.url}/v1.0/oauth2/accessToken", json={"appKey": APP_KEY, "appSecret": "x"}, timeout=5
    )
    assert answer.status_code == 400 and answer.json()["code"] == "invalidClientIdOrSecret"
    good = requests.post(
        f"{sb.url}/v1.0/oauth2/accessToken", json={"appKey": APP_KEY, "appSecret": APP_SECRET}, timeout=5
    ).json()
    assert good == {"accessToken": token(sb), "expireIn": 7200}


def test_token_errors(sb):
    missing = oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok=False)
    assert (missing["errcode"], missing["sub_code"]) == (88, "40000")
    bogus = oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok="nope")
    assert (bogus["errcode"], bogus["sub_code"]) == (88, "40014")
    tok = token(sb)
    assert ctl(sb, "expire_tokens", {})["ok"]
    expired = oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok=tok)
    assert (expired["errcode"], expired["sub_code"]) == (88, "40014")
    old_api = requests.get(f"{sb.url}/get_jsapi_ticket", params={"access_token": tok}, timeout=5).json()
    assert old_api["errcode"] == 42001
    assert requests.get(f"{sb.url}/get_jsapi_ticket", timeout=5).json()["errcode"] == 41001
    fresh = token(sb)
    assert fresh != tok and oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok=fresh)["errcode"] == 0
    v1 = f"{sb.url}/v1.0/oauth2/jsapiTickets"
    no_header = requests.post(v1, json={}, timeout=5)
    assert (
        no_header.status_code == 400 and no_header.json()["code"] == "AuthenticationFailed.MissingParameter"
    )
    stale = requests.post(v1, json={}, headers={"x-acs-dingtalk-access-token": tok}, timeout=5)
    assert (
        stale.status_code == 400
        and stale.json()["code"] == "InvalidAuthentication"
        and stale.json()["requestid"]
    )


def test_token_ttl_expires(sb):
    ctl(sb, "config", {"token_ttl": 0.3})
    tok = token(sb)
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok=tok)["errcode"] == 0
    time.sleep(0.4)
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok=tok)["errcode"] == 88


# ----- contacts ------------------------------------------------------------------------------------
def test_user_list_paging_direct_members_only(sb):
    tok, cursor, seen, pages = token(sb), 0, [], 0
    while True:
        result = oapi(sb, "/topapi/v2/user/list", {"dept_id": BIG, "cursor": cursor, "size": 100}, tok)[
            "result"
        ]
        seen += [u["userid"] for u in result["list"]]
        pages += 1
        if not result["has_more"]:
            assert "next_cursor" not in result
            break
        cursor = result["next_cursor"]
    assert pages == 3 and seen == [f"u{n:03d}" for n in range(250)]
    item = oapi(sb, "/topapi/v2/user/list", {"dept_id": BIG, "cursor": 0, "size": 1}, tok)["result"]["list"][
        0
    ]
    assert item["leader"] is True and isinstance(item["dept_order"], int) and item["dept_id_list"] == [BIG, 3]
    assert (
        oapi(sb, "/topapi/v2/user/list", {"dept_id": 1, "cursor": 0, "size": 100}, tok)["result"]["list"]
        == []
    )
    assert (
        oapi(sb, "/topapi/v2/user/list", {"dept_id": BIG, "cursor": 0, "size": 101}, tok)["errcode"] == 40035
    )
    assert (
        oapi(sb, "/topapi/v2/user/list", {"dept_id": 999, "cursor": 0, "size": 10}, tok)["errcode"] == 60003
    )
    listid = oapi(sb, "/topapi/user/listid", {"dept_id": 3}, tok)["result"]["userid_list"]
    assert listid == ["u000"]


def test_access_limited_people_are_listed_only_when_asked_for(sb):
    """v2/user/list leaves access-limited people out unless contain_access_limit is true (KB API/0062);
    user/get and user/listid know them all the same."""
    ctl(sb, "mutate", {"op": "add_user", "userid": "hidden01", "name": "受限", "dept_id_list": [3]})
    sb.org.users["hidden01"].access_limited = True
    tok = token(sb)
    plain = oapi(sb, "/topapi/v2/user/list", {"dept_id": 3, "cursor": 0, "size": 100}, tok)["result"]["list"]
    asked = oapi(
        sb,
        "/topapi/v2/user/list",
        {"dept_id": 3, "cursor": 0, "size": 100, "contain_access_limit": True},
        tok,
    )["result"]["list"]
    assert "hidden01" not in [u["userid"] for u in plain]
    assert "hidden01" in [u["userid"] for u in asked]
    assert "access_limited" not in asked[-1], "not a DingTalk field"
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "hidden01"}, tok)["result"]["userid"] == "hidden01"


def test_generated_staff_includes_people_not_activated_and_access_limited():
    org = generate(users=2000, departments=50, roles=5, seed=4)
    staff = [u for u in org.users.values() if not u.left]
    not_activated = [u for u in staff if not u.active]
    limited = [u for u in staff if u.access_limited]
    assert 0.02 * len(staff) < len(not_activated) < 0.07 * len(staff)
    assert 0.005 * len(staff) < len(limited) < 0.04 * len(staff)
    assert not any(u.boss for u in not_activated + limited)
    # the flags come from a generator of their own: the rest of a seeded organisation is unchanged
    plain = generate(users=2000, departments=50, roles=5, seed=4, not_activated=0, access_limited=0)
    assert [u.userid for u in plain.users.values()] == [u.userid for u in org.users.values()]


def test_departments(sb):
    tok = token(sb)
    assert oapi(sb, "/topapi/v2/department/listsubid", {"dept_id": 1}, tok)["result"] == {
        "dept_id_list": [BIG]
    }
    sub = oapi(sb, "/topapi/v2/department/listsub", {"dept_id": BIG}, tok, form=True)["result"]
    assert sub == [
        {"dept_id": 3, "name": "前端组", "parent_id": BIG, "create_dept_group": False, "auto_add_user": False}
    ]
    dept = oapi(sb, "/topapi/v2/department/get", {"dept_id": BIG}, tok)["result"]
    assert (
        dept["dept_manager_userid_list"] == ["u000"] and dept["parent_id"] == 1 and dept["name"] == "研发中心"
    )
    assert {"order", "hide_dept", "outer_dept", "dept_permits", "user_permits", "member_count"} <= set(dept)
    unknown = oapi(sb, "/topapi/v2/department/get", {"dept_id": 424242}, tok)
    assert unknown["errcode"] == 60003 and unknown["errmsg"] and unknown["request_id"]


def test_user_get(sb):
    tok = token(sb)
    user = oapi(sb, "/topapi/v2/user/get", {"userid": "u000"}, tok)["result"]
    assert user["userid"] == "u000" and user["unionid"] == "un000" and user["dept_id_list"] == [BIG, 3]
    assert user["leader_in_dept"] == [{"dept_id": BIG, "leader": True}, {"dept_id": 3, "leader": False}]
    assert user["role_list"] == [{"id": ROLE, "name": "全员", "group_name": "组0"}]
    assert [d["dept_id"] for d in user["dept_order_list"]] == [BIG, 3]
    assert "mobile" not in user and "email" not in user and user["active"] is True  # empty fields omitted
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "nobody"}, tok)["errcode"] == 60121
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "gone"}, tok)["errcode"] == 60121  # leaver
    assert oapi(sb, "/topapi/v2/user/get", {}, tok)["errcode"] == 33012
    by_union = oapi(sb, "/topapi/user/getbyunionid", {"unionid": "un007"}, tok)["result"]
    assert by_union == {"contact_type": 0, "userid": "u007"}


def test_roles(sb):
    tok = token(sb)
    first = oapi(sb, "/topapi/role/list", {"size": 2, "offset": 0}, tok)["result"]
    assert first["hasMore"] is True and [g["groupId"] for g in first["list"]] == [100, 101]
    assert first["list"][0]["roles"] == [{"id": 20, "name": "角色0"}, {"id": ROLE, "name": "全员"}]
    last = oapi(sb, "/topapi/role/list", {"size": 2, "offset": 4}, tok)["result"]
    assert last["hasMore"] is False and len(last["list"]) == 1
    assert oapi(sb, "/topapi/role/list", {"size": 201}, tok)["errcode"] == 40035
    members, offset = [], 0
    while True:
        page = oapi(sb, "/topapi/role/simplelist", {"role_id": ROLE, "size": 100, "offset": offset}, tok)[
            "result"
        ]
        members += page["list"]
        if not page["hasMore"]:
            break
        offset += 100
    assert len(members) == 130 and members[0] == {"userid": "u000", "name": "用户0"}
    assert oapi(sb, "/topapi/role/simplelist", {"role_id": 5555}, tok)["errcode"] == 33011
    assert oapi(sb, "/topapi/role/getrole", {"roleId": ROLE}, tok)["role"] == {"name": "全员", "groupId": 100}


# ----- limits, faults, stats ---------------------------------------------------------------------
def test_qps_limit_oapi_and_api(sb):
    tok = token(sb)
    with requests.Session() as session:
        codes = [
            session.post(
                f"{sb.url}/topapi/v2/user/get", params={"access_token": tok}, json={"userid": "u001"}
            ).json()["errcode"]
            for _ in range(25)
        ]
    assert codes.count(0) == 20 and codes.count(90018) == 5
    assert ctl(sb, "stats")["throttled"]["/topapi/v2/user/get"] == 5
    time.sleep(1.05)
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok)["errcode"] == 0
    headers = {"x-acs-dingtalk-access-token": tok}
    statuses = [
        requests.post(f"{sb.url}/v1.0/oauth2/jsapiTickets", headers=headers, json={}) for _ in range(22)
    ]
    assert [r.status_code for r in statuses].count(403) == 2
    assert statuses[-1].json()["code"] == "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"


def test_faults(sb):
    tok = token(sb)
    ctl(sb, "faults", {"path": "/topapi/v2/user/get", "errcode": -1, "count": 2, "after": 1})
    codes = [oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok)["errcode"] for _ in range(4)]
    assert codes == [0, -1, -1, 0]
    ctl(sb, "faults", {"path": "/topapi/user/listid", "body": ""})
    empty = requests.post(f"{sb.url}/topapi/user/listid", params={"access_token": tok}, json={"dept_id": BIG})
    assert empty.status_code == 200 and empty.content == b""
    ctl(sb, "faults", {"path": "/v1.0/oauth2/jsapiTickets", "http_status": 503, "code": "ServiceUnavailable"})
    ctl(sb, "faults/clear", {})
    headers = {"x-acs-dingtalk-access-token": tok}
    assert requests.post(f"{sb.url}/v1.0/oauth2/jsapiTickets", headers=headers, json={}).status_code == 200
    calls = ctl(sb, "stats")["calls"]
    assert calls["/topapi/v2/user/get"] == 4 and calls["/gettoken"] == 1
    ctl(sb, "stats/reset", {})
    assert ctl(sb, "stats") == {"calls": {}, "throttled": {}}


# ----- mutations and event push ------------------------------------------------------------------
def test_mutations_are_reflected(sb):
    tok = token(sb)
    added = ctl(sb, "mutate", {"op": "add_user", "userid": "new1", "name": "新人", "dept_id_list": [3]})
    assert added["event"]["EventType"] == "user_add_org" and added["event"]["userId"] == ["new1"]
    assert "new1" in oapi(sb, "/topapi/user/listid", {"dept_id": 3}, tok)["result"]["userid_list"]
    changed = ctl(sb, "mutate", {"op": "update_user", "userid": "new1", "title": "架构师"})["event"]
    # diffInfo shows the documented fields, changed or not (KB EV/0086), and the changed others
    assert changed["EventType"] == "user_modify_org"
    assert changed["diffInfo"]["curr"] == {"name": "新人", "position": "架构师"}
    assert changed["diffInfo"]["prev"] == {"name": "新人"}
    ctl(sb, "mutate", {"op": "move_user", "userid": "new1", "dept_id_list": [BIG]})
    user = oapi(sb, "/topapi/v2/user/get", {"userid": "new1"}, tok)["result"]
    assert user["title"] == "架构师" and user["dept_id_list"] == [BIG]
    left = ctl(sb, "mutate", {"op": "remove_user", "userid": "new1"})["event"]
    assert left["EventType"] == "user_leave_org"
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "new1"}, tok)["errcode"] == 60121
    dept = ctl(sb, "mutate", {"op": "add_dept", "name": "测试组", "parent_id": BIG, "dept_id": 50})["event"]
    assert dept["EventType"] == "org_dept_create" and dept["deptId"] == [50]
    ctl(sb, "mutate", {"op": "update_dept", "dept_id": 50, "name": "质量组", "parent_id": 1})
    assert oapi(sb, "/topapi/v2/department/get", {"dept_id": 50}, tok)["result"]["parent_id"] == 1
    assert ctl(sb, "mutate", {"op": "remove_dept", "dept_id": BIG})["ok"] is False  # has members
    assert ctl(sb, "mutate", {"op": "remove_dept", "dept_id": 50})["event"]["EventType"] == "org_dept_remove"
    assert oapi(sb, "/topapi/v2/department/get", {"dept_id": 50}, tok)["errcode"] == 60003
    role = ctl(sb, "mutate", {"op": "add_role", "name": "财务", "group_id": 101, "role_id": 77})["event"]
    assert role["EventType"] == "label_conf_add" and role["labelIdList"] == [77]
    members = ctl(sb, "mutate", {"op": "set_role_members", "role_id": 77, "userids": ["u001", "u002"]})[
        "event"
    ]
    assert members["EventType"] == "label_user_change" and members["action"] == "add"
    listed = oapi(sb, "/topapi/role/simplelist", {"role_id": 77}, tok)["result"]["list"]
    assert [m["userid"] for m in listed] == ["u001", "u002"]
    ctl(sb, "mutate", {"op": "update_role", "role_id": 77, "name": "会计"})
    assert oapi(sb, "/topapi/role/getrole", {"roleId": 77}, tok)["role"]["name"] == "会计"
    assert ctl(sb, "mutate", {"op": "remove_role", "role_id": 77})["event"]["EventType"] == "label_conf_del"
    assert ctl(sb, "mutate", {"op": "nonsense"})["ok"] is False
    org = ctl(sb, "org")
    assert any(u["userid"] == "new1" and u.get("left") for u in org["users"])


@pytest.fixture
def receiver():
    rec = Receiver(APP_KEY)
    yield rec
    rec.close()


def test_push_event_both_dialects(sb, receiver):
    cfg = {"url": receiver.url, "token": Receiver.TOKEN, "aes_key": Receiver.AES_KEY}
    assert ctl(sb, "callback", cfg)["ok"]
    check = ctl(sb, "push_event", {"event": {"EventType": "check_url"}})
    assert check["success"] is True and receiver.received[-1][1] == {"EventType": "check_url"}
    event = {"EventType": "user_add_org", "userId": ["u001"]}
    pascal = ctl(sb, "push_event", {"event": event, "dialect": "pascal", "signature_param": "signature"})
    query, payload = receiver.received[-1]
    assert (
        pascal["success"] and "signature" in query and "msg_signature" not in query and "timeStamp" in query
    )
    assert (
        payload["UserId"] == ["u001"]
        and payload["CorpId"] == "dingsandboxcorp0001"
        and "TimeStamp" in payload
    )
    camel = ctl(sb, "push_event", {"event": event, "dialect": "camel", "timestamp_param": "timestamp"})
    query, payload = receiver.received[-1]
    assert camel["success"] and "msg_signature" in query and "timestamp" in query
    assert payload["userId"] == ["u001"] and payload["eventId"] and isinstance(payload["EventTime"], int)
    forged = ctl(sb, "push_event", {"event": event, "tamper": "signature"})
    assert forged["success"] is False and forged["status"] == 403
    assert ctl(sb, "push_event", {"event": event, "tamper": "receiver"})["success"] is False


def test_push_detects_bad_answer(sb, receiver):
    ctl(sb, "callback", {"url": receiver.url, "token": Receiver.TOKEN, "aes_key": Receiver.AES_KEY})
    receiver.crypto.receiver_id = "someone-else"  # answers with the wrong receiver id, rejects ours
    assert ctl(sb, "push_event", {"event": {"EventType": "check_url"}})["success"] is False


def test_auto_push_on_mutation(sb, receiver):
    cfg = {"url": receiver.url, "token": Receiver.TOKEN, "aes_key": Receiver.AES_KEY, "auto_push": True}
    ctl(sb, "callback", dict(cfg, dialect="pascal"))
    answer = ctl(sb, "mutate", {"op": "add_dept", "name": "新部门", "parent_id": 1})
    assert answer["push"][0]["success"] is True
    assert receiver.received[-1][1]["EventType"] == "org_dept_create"
    assert receiver.received[-1][1]["DeptId"] == answer["event"]["deptId"]
    assert len(ctl(sb, "pushes")["pushes"]) == 1


# ----- login and notifications ---------------------------------------------------------------------
def test_oauth_login_chain(sb):
    params = {
        "redirect_uri": "http://127.0.0.1:8069/auth_dingtalk/signin?db=x",
        "response_type": "code",
        "client_id": APP_KEY,
        "scope": "openid",
        "state": "st@te",
        "prompt": "consent",
    }
    page = requests.get(f"{sb.url}/oauth2/auth", params=params, timeout=5)
    assert page.status_code == 200 and 'data-userid="u005"' in page.text and 'id="dt-user-u005"' in page.text
    assert 'data-userid="gone"' not in page.text
    chosen = requests.post(f"{sb.url}/oauth2/auth", data={**params, "userid": "u005"}, allow_redirects=False)
    assert chosen.status_code == 302
    target = urlsplit(chosen.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert target.path == "/auth_dingtalk/signin" and query["db"] == "x" and query["state"] == "st@te"
    assert query["code"] == query["authCode"]
    exchange = {
        "clientId": APP_KEY,
        "clientSecret": APP_SECRET,
        "code": query["code"],
        "grantType": "authorization_code",
    }
    answer = requests.post(f"{sb.url}/v1.0/oauth2/userAccessToken", json=exchange, timeout=5)
    user_token = answer.json()["accessToken"]
    assert answer.json()["corpId"] == "dingsandboxcorp0001" and answer.json()["refreshToken"]
    again = requests.post(f"{sb.url}/v1.0/oauth2/userAccessToken", json=exchange, timeout=5)
    assert again.status_code == 400 and again.json()["code"]
    me = requests.get(
        f"{sb.url}/v1.0/contact/users/me", headers={"x-acs-dingtalk-access-token": user_token}
    ).json()
    assert me["unionId"] == "un005" and me["nick"] == "用户5" and "userid" not in me
    assert oapi(sb, "/topapi/user/getbyunionid", {"unionid": me["unionId"]})["result"]["userid"] == "u005"
    bad = requests.get(f"{sb.url}/oauth2/auth", params=dict(params, client_id="other"), timeout=5)
    assert bad.status_code == 400


def test_oauth_login_by_an_account_outside_the_organisation(sb):
    """Someone not in the organisation can scan (no exclusiveLogin) [KB:API/0019]; users/me answers their
    profile, user/getbyunionid does not know them: 60121 [KB:API/0064]."""
    outsider = ctl(sb, "outsiders", {"name": "外部访客", "mobile": "13900000000"})["outsider"]
    assert outsider["unionid"] and ctl(sb, "outsiders")["outsiders"] == [outsider]
    assert ctl(sb, "outsiders", {"name": "重复", "unionid": "un005"})["ok"] is False, "un005 is a member"
    params = {
        "redirect_uri": "http://odoo.test/cb",
        "response_type": "code",
        "client_id": APP_KEY,
        "state": "s",
    }
    page = requests.get(f"{sb.url}/oauth2/auth", params=params, timeout=5).text
    assert f'id="dt-outsider-{outsider["unionid"]}"' in page and 'name="unionid"' in page
    for choose in ({"unionid": outsider["unionid"]}, None):
        if choose is None:  # the control API's login_as takes an outsider's unionid too
            ctl(sb, "config", {"login_as": outsider["unionid"]})
        chosen = requests.get(
            f"{sb.url}/oauth2/auth", params={**params, **(choose or {})}, allow_redirects=False, timeout=5
        )
        assert chosen.status_code == 302
        code = parse_qs(urlsplit(chosen.headers["Location"]).query)["code"][0]
        exchange = {
            "clientId": APP_KEY,
            "clientSecret": APP_SECRET,
            "code": code,
            "grantType": "authorization_code",
        }
        answer = requests.post(f"{sb.url}/v1.0/oauth2/userAccessToken", json=exchange, timeout=5).json()
        assert answer["accessToken"] and "corpId" not in answer, "no organisation of this app was chosen"
        me = requests.get(
            f"{sb.url}/v1.0/contact/users/me", headers={"x-acs-dingtalk-access-token": answer["accessToken"]}
        ).json()
        assert (
            me["unionId"] == outsider["unionid"]
            and me["nick"] == "外部访客"
            and me["mobile"] == "13900000000"
        )
        unknown = oapi(sb, "/topapi/user/getbyunionid", {"unionid": me["unionId"]})
        assert unknown["errcode"] == 60121
    ctl(sb, "config", {"login_as": None})
    assert outsider in ctl(sb, "org")["outsiders"]
    assert ctl(sb, "reset", {"org": ctl(sb, "org")})["ok"] and ctl(sb, "outsiders")["outsiders"] == [outsider]


def test_inapp_auth_code_single_use(sb):
    code = ctl(sb, "auth_code", {"userid": "u003"})["code"]
    tok = token(sb)
    result = oapi(sb, "/topapi/v2/user/getuserinfo", {"code": code}, tok)["result"]
    assert result["userid"] == "u003" and result["unionid"] == "un003" and result["sys_level"] == 0
    assert oapi(sb, "/topapi/v2/user/getuserinfo", {"code": code}, tok)["errcode"] == 40078


def test_work_notification_recorded(sb):
    tok = token(sb)
    msg = {"msgtype": "text", "text": {"content": "你好"}}
    body = {"agent_id": AGENT_ID, "userid_list": "u001,u002,ghost", "msg": json.dumps(msg)}
    sent = oapi(sb, "/topapi/message/corpconversation/asyncsend_v2", body, tok, form=True)
    assert sent["errcode"] == 0 and isinstance(sent["task_id"], int)
    record = ctl(sb, "messages")["messages"][-1]
    assert record["userid_list"] == ["u001", "u002", "ghost"] and record["msg"] == msg
    result = oapi(
        sb,
        "/topapi/message/corpconversation/getsendresult",
        {"agent_id": AGENT_ID, "task_id": sent["task_id"]},
    )
    assert result["send_result"]["invalid_user_id_list"] == ["ghost"]
    too_many = dict(body, userid_list=",".join(f"u{n:03d}" for n in range(101)))
    assert oapi(sb, "/topapi/message/corpconversation/asyncsend_v2", too_many, tok)["errcode"] == 40035
    big = dict(body, msg={"msgtype": "text", "text": {"content": "字" * 800}})
    assert oapi(sb, "/topapi/message/corpconversation/asyncsend_v2", big, tok)["errcode"] == 40035
    assert (
        oapi(sb, "/topapi/message/corpconversation/asyncsend_v2", dict(body, agent_id=1), tok)["errcode"] != 0
    )


def test_reset_generates(sb):
    counts = ctl(sb, "reset", {"users": 30, "departments": 5, "roles": 4, "seed": 9})["counts"]
    assert counts["users"] == 30 and counts["departments"] == 5
    tok = token(sb)  # the app survives a reset
    assert oapi(sb, "/topapi/v2/department/listsubid", {"dept_id": 1}, tok)["errcode"] == 0


# ----- contacts scope and direct managers ----------------------------------------------------------
# Scope: KB API/0053 (auth/scopes), 0083 / 0065 (listsubid, listid not limited), 0062 (user/list 50004),
# 0013 / 0161 (50002, 50004). Managers: KB API/0056 (manager_userid only when set), EV/0086 (diffInfo).
LIST_FIELDS = {  # v2/user/list items: KB API/0062 and the SDK's OapiV2UserListResponse.ListUserResponse
    *("userid", "unionid", "name", "avatar", "state_code", "mobile", "hide_mobile", "telephone"),
    *("job_number", "title", "email", "org_email", "work_place", "remark", "dept_id_list", "dept_order"),
    *("extension", "hired_date", "active", "admin", "boss", "leader", "exclusive_account"),
    *("exclusive_account_type", "login_id"),
}


def test_contacts_scope_limits_get_and_list_not_listsubid_or_listid(sb):
    assert ctl(sb, "scope") == {"ok": True, "scope": {"authed_dept": [1], "authed_user": []}}
    assert ctl(sb, "scope", {"authed_dept": [3], "authed_user": ["u005"]})["ok"]
    tok = token(sb)
    assert oapi(sb, "/topapi/v2/department/listsubid", {"dept_id": 1}, tok)["result"]["dept_id_list"] == [BIG]
    assert oapi(sb, "/topapi/v2/department/listsubid", {"dept_id": BIG}, tok)["result"]["dept_id_list"] == [3]
    assert len(oapi(sb, "/topapi/user/listid", {"dept_id": BIG}, tok)["result"]["userid_list"]) == 250
    for dept_id in (1, BIG):  # above the granted department: outside
        answer = oapi(sb, "/topapi/v2/department/get", {"dept_id": dept_id}, tok)
        assert (answer["errcode"], answer["errmsg"]) == (50004, "请求的部门id不在授权范围内")
        listed = oapi(sb, "/topapi/v2/user/list", {"dept_id": dept_id, "cursor": 0, "size": 10}, tok)
        assert listed["errcode"] == 50004 and listed["request_id"]
    assert oapi(sb, "/topapi/v2/department/get", {"dept_id": 3}, tok)["result"]["name"] == "前端组"
    listed = oapi(sb, "/topapi/v2/user/list", {"dept_id": 3, "cursor": 0, "size": 10}, tok)["result"]
    assert [u["userid"] for u in listed["list"]] == ["u000"]
    unknown = oapi(sb, "/topapi/v2/department/get", {"dept_id": 424242}, tok)
    assert unknown["errcode"] == 60003  # an unknown department is unknown before it is out of scope
    outside = oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok)
    assert (outside["errcode"], outside["errmsg"]) == (50002, "请求的员工userid不在授权范围内")
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "u000"}, tok)["errcode"] == 0  # one dept in scope
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "u005"}, tok)["errcode"] == 0  # granted by name
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "gone"}, tok)["errcode"] == 60121  # left: not 50002
    scopes = requests.get(f"{sb.url}/auth/scopes", params={"access_token": tok}, timeout=5).json()
    assert scopes["errcode"] == 0
    assert scopes["auth_org_scopes"] == {"authed_dept": [3], "authed_user": ["u005"]}
    assert ctl(sb, "org")["scope"] == {"authed_dept": [3], "authed_user": ["u005"]}
    assert Org.from_json(ctl(sb, "org")).scope() == {"authed_dept": [3], "authed_user": ["u005"]}
    assert ctl(sb, "scope", {"authed_dept": [999]})["ok"] is False
    assert ctl(sb, "scope", {"all": True})["scope"] == {"authed_dept": [1], "authed_user": []}
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "u001"}, tok)["errcode"] == 0


def test_generated_scope_leaves_a_top_of_the_tree_out():
    assert generate(users=300, departments=30, seed=5).scope() == {"authed_dept": [1], "authed_user": []}
    org = generate(users=300, departments=30, seed=5, out_of_scope=6)
    outside = {d for d in org.depts if not org.dept_in_scope(d)}
    assert len(outside) == 6 and 1 in outside
    assert all(org.depts[d]["parent_id"] in outside for d in outside - {1})  # a department in covers below
    inside_below_outside = [d for d in org.depts if d not in outside and org.depts[d]["parent_id"] in outside]
    assert sorted(inside_below_outside) == org.scope()["authed_dept"]
    [named] = org.scope()["authed_user"]
    assert set(org.users[named].dept_id_list) <= outside and org.user_in_scope(org.users[named])
    staff = [u for u in org.users.values() if not u.left]
    assert 0 < sum(not org.user_in_scope(u) for u in staff) < len(staff)
    plain = generate(users=300, departments=30, seed=5)  # the rest of a seeded organisation is unchanged
    assert [u.to_dict() for u in plain.users.values()] == [u.to_dict() for u in org.users.values()]


def test_reset_with_out_of_scope(sb):
    ctl(sb, "reset", {"users": 60, "departments": 12, "seed": 3, "out_of_scope": 4})
    scope = ctl(sb, "scope")["scope"]
    assert scope["authed_dept"] and 1 not in scope["authed_dept"]
    assert oapi(sb, "/topapi/v2/department/get", {"dept_id": 1})["errcode"] == 50004
    assert oapi(sb, "/topapi/v2/department/get", {"dept_id": scope["authed_dept"][0]})["errcode"] == 0


def test_user_list_carries_only_its_documented_fields(sb):
    ctl(sb, "reset", {"users": 80, "departments": 6, "seed": 2})
    ctl(sb, "config", {"qps": 0})
    org, tok = ctl(sb, "org"), token(sb)
    for dept in org["departments"]:
        page = oapi(sb, "/topapi/v2/user/list", {"dept_id": dept["dept_id"], "cursor": 0, "size": 100}, tok)
        for item in page["result"]["list"]:
            assert set(item) <= LIST_FIELDS, set(item) - LIST_FIELDS
    managers = {u["userid"]: u.get("manager_userid") for u in org["users"]}
    for userid, manager in managers.items():
        person = oapi(sb, "/topapi/v2/user/get", {"userid": userid}, tok)["result"]
        assert person.get("manager_userid") == manager  # left out when there is none
    assert None in managers.values() and len(set(managers.values())) > 2


def test_generated_direct_managers_are_not_always_the_department_leader():
    org = generate(users=2000, departments=120, roles=5, seed=7)
    staff = [u for u in org.users.values() if not u.left]
    leaders = {u for d in org.depts.values() for u in d["dept_manager_userid_list"]}

    def leads_one_of(manager, user):
        return any(manager in org.depts[d]["dept_manager_userid_list"] for d in user.dept_id_list)

    team_led = [u for u in staff if u.manager_userid and u.manager_userid not in leaders]
    assert len(team_led) > 0.1 * len(staff)
    assert all(not leads_one_of(u.manager_userid, u) for u in team_led)
    assert 0.01 * len(staff) < sum(not u.manager_userid for u in staff) < 0.06 * len(staff)
    for user in staff:  # no cycles: every chain of managers ends
        seen, current = set(), user
        while current.manager_userid:
            assert current.userid not in seen
            seen.add(current.userid)
            current = org.users[current.manager_userid]


def test_changing_and_removing_a_manager_pushes_user_modify_org(sb, receiver):
    ctl(sb, "callback", {"url": receiver.url, "token": Receiver.TOKEN, "aes_key": Receiver.AES_KEY})
    ctl(sb, "mutate", {"op": "update_user", "userid": "u007", "hired_date": 1_597_573_616_828})
    set_to = ctl(sb, "mutate", {"op": "update_user", "userid": "u007", "manager_userid": "u001"})
    diff = set_to["event"]["diffInfo"]
    assert diff["userid"] == "u007" and diff["prev"] == {"name": "用户7", "hiredDate": "2020-08-16"}
    assert diff["curr"] == {"name": "用户7", "hiredDate": "2020-08-16", "managerUserid": "u001"}
    tok = token(sb)
    assert oapi(sb, "/topapi/v2/user/get", {"userid": "u007"}, tok)["result"]["manager_userid"] == "u001"
    removed = ctl(sb, "mutate", {"op": "update_user", "userid": "u007", "manager_userid": None})["event"]
    assert removed["diffInfo"]["prev"]["managerUserid"] == "u001"
    assert "managerUserid" not in removed["diffInfo"]["curr"]  # cleared: left out, like telephone in EV/0086
    assert "manager_userid" not in oapi(sb, "/topapi/v2/user/get", {"userid": "u007"}, tok)["result"]
    assert ctl(sb, "push_event", {"event": removed})["success"]
    assert receiver.received[-1][1]["diffInfo"] == removed["diffInfo"]
    for wrong in ("nobody", "u007", "gone"):  # unknown, themself, left
        refused = ctl(sb, "mutate", {"op": "update_user", "userid": "u007", "manager_userid": wrong})
        assert refused["ok"] is False


# ----- failed pushes: retries, parking, get_call_back_failed_result (protocol §2.3, §9.6) -------------
FAILED_PATH = "/call_back/get_call_back_failed_result"
FAST = {"push_retry_delays": [0.05, 0.05], "failed_visible_after": 0}


def closed_url():
    """A callback URL nothing listens on: every push is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d/dingtalk/callback" % sock.getsockname()[1]


def pull_failed(sb, tok=None):
    params = {"access_token": tok or token(sb)}
    return requests.get(f"{sb.url}{FAILED_PATH}", params=params, timeout=5).json()


def settled(sb, timeout=5):
    """The sandbox's failed-push state once no retry is left to run."""
    deadline = time.monotonic() + timeout
    while True:
        state = ctl(sb, "failed")
        if not state["scheduled"] or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def test_failed_push_defaults_are_dingtalks(sb):
    cfg = ctl(sb, "config")
    assert cfg["push_retry_delays"] == [10.0, 30.0]  # KB API/0015: 10 s, then 30 s
    assert cfg["failed_page_size"] == 200 and cfg["failed_visible_after"] == 180.0
    assert ctl(sb, "config", {"failed_page_size": 0})["ok"] is False


def test_refused_push_is_retried_then_parked_and_pulled_once(sb):
    ctl(sb, "config", FAST)
    cfg = {"url": closed_url(), "token": "T0ken", "aes_key": Receiver.AES_KEY, "auto_push": True}
    ctl(sb, "callback", cfg)
    answer = ctl(sb, "mutate", {"op": "update_user", "userid": "u001", "title": "总监"})
    assert answer["push"][0]["success"] is False and "cannot reach" in answer["push"][0]["error"]
    state = settled(sb)
    assert state["counts"] == {"events": 1, "retries": 2, "parked": 1}
    attempts = ctl(sb, "pushes")["pushes"]
    assert [p["attempt"] for p in attempts] == [1, 2, 3]
    assert [p["parked"] for p in attempts] == [False, False, True] and attempts[0]["retry_in"] == 0.05
    assert len({p["payload"]["eventId"] for p in attempts}) == 1, "a retry sends the same event again"
    assert attempts[1]["url"] != attempts[0]["url"], "with a fresh signature, timestamp and nonce"
    pulled = pull_failed(sb)
    assert pulled["errcode"] == 0 and pulled["has_more"] is False
    assert pulled["failed_list"] == [
        {
            "user_modify_org": {"userid": ["u001"], "corpid": "dingsandboxcorp0001"},
            "call_back_tag": "user_modify_org",
            "event_time": attempts[0]["payload"]["EventTime"],
        }
    ]
    assert pull_failed(sb)["failed_list"] == [], "each call forgets what it answered"
    served = ctl(sb, "failed")
    assert served["parked"] == [] and served["served"][0]["event_id"] == answer["event"]["eventId"]


def test_a_retry_that_succeeds_is_not_parked(sb, receiver):
    ctl(sb, "config", FAST)
    real, failures = receiver.crypto.decrypt_request, [1]

    def down_once(*args):  # the receiver refuses the first push (403), then works again
        if failures[0]:
            failures[0] -= 1
            raise CallbackCryptoError("down")
        return real(*args)

    receiver.crypto.decrypt_request = down_once
    cfg = {"url": receiver.url, "token": Receiver.TOKEN, "aes_key": Receiver.AES_KEY, "auto_push": True}
    ctl(sb, "callback", dict(cfg, dialect="pascal"))
    first = ctl(sb, "mutate", {"op": "add_dept", "name": "新部门", "parent_id": 1})["push"][0]
    assert first["success"] is False and first["status"] == 403
    state = settled(sb)
    assert state["counts"] == {"events": 1, "retries": 1, "delivered_retry": 1} and state["parked"] == []
    assert receiver.received[-1][1] == first["payload"], "the retry is the same payload"
    pulled = pull_failed(sb)
    assert (pulled["failed_list"], pulled["has_more"]) == ([], False)


def test_failed_list_pages_of_page_size_and_entry_shapes(sb):
    ctl(sb, "config", {"failed_visible_after": 0, "failed_page_size": 2})
    role = {"EventType": "label_user_change", "userIdList": ["u003"], "labelIdList": [20], "action": "add"}
    joined = {"EventType": "user_add_org", "userId": ["u002"], "timeStamp": "1700000000001"}
    entries = [
        ctl(sb, "failed", {"event": joined}),
        ctl(sb, "failed", {"event": {"EventType": "org_dept_remove", "DeptId": [3]}, "dialect": "pascal"}),
        ctl(sb, "failed", {"event": role}),
    ]
    assert entries[0]["entry"] == {
        "user_add_org": {"userid": ["u002"], "corpid": "dingsandboxcorp0001"},
        "call_back_tag": "user_add_org",
        "event_time": 1700000000001,
    }
    assert entries[1]["entry"]["org_dept_remove"] == {"deptid": [3], "corpid": "dingsandboxcorp0001"}
    assert entries[2]["entry"]["label_user_change"]["roleLabelChange"] == {
        "userIdList": ["u003"],
        "labelIdList": [20],
        "action": "add",
    }
    tok = token(sb)
    first, second = pull_failed(sb, tok), pull_failed(sb, tok)
    assert (len(first["failed_list"]), first["has_more"]) == (2, True)
    assert (len(second["failed_list"]), second["has_more"]) == (1, False)
    assert first["failed_list"] + second["failed_list"] == [e["entry"] for e in entries]


def test_parked_events_wait_before_they_can_be_pulled(sb):
    ctl(sb, "config", {"failed_visible_after": 60})
    ctl(sb, "failed", {"event": {"EventType": "user_leave_org", "userId": ["u004"]}})
    assert pull_failed(sb)["failed_list"] == [] and ctl(sb, "failed")["parked"][0]["visible"] is False
    ctl(sb, "config", {"failed_visible_after": 0})  # applies to events parked from now on
    assert pull_failed(sb)["failed_list"] == []


def test_failed_list_needs_a_token_and_reset_forgets_it(sb):
    assert requests.get(f"{sb.url}{FAILED_PATH}", timeout=5).json()["errcode"] == 41001
    ctl(sb, "config", {"failed_visible_after": 0})
    ctl(sb, "failed", {"event": {"EventType": "user_add_org", "userId": ["u005"]}})
    ctl(sb, "reset", {"org": small_org()})
    assert ctl(sb, "failed")["parked"] == [] and pull_failed(sb)["failed_list"] == []


def test_test_pushes_are_retried_only_when_asked(sb):
    ctl(sb, "config", FAST)
    ctl(sb, "callback", {"url": closed_url(), "token": "T0ken", "aes_key": Receiver.AES_KEY})
    event = {"EventType": "user_add_org", "userId": ["u006"]}
    assert ctl(sb, "push_event", {"event": event})["success"] is False
    assert ctl(sb, "push_event", {"event": event, "retry": True, "tamper": "signature"})["success"] is False
    assert ctl(sb, "push_event", {"event": {"EventType": "check_url"}, "retry": True})["success"] is False
    assert settled(sb)["counts"] == {}, "a one-off push, a tampered one and the URL check are not retried"
    ctl(sb, "push_event", {"event": event, "retry": True})
    assert settled(sb)["counts"] == {"events": 1, "retries": 2, "parked": 1}
