"""DirectoryWalker (dingtalk/directory.py) against the DingTalk sandbox.

Each test starts its own sandbox with a generated organisation and compares what the walker yields with
the sandbox's ``GET /_sandbox/org`` and the client's per-path call counts with the minimum the endpoints
allow.
"""

import math
import threading
import time

import pytest
import requests

from dingtalk.client import DingTalkClient
from dingtalk.directory import DirectoryWalker, FetchError, Item

APP_KEY = "dingsandboxappkey0001"
APP_SECRET = "sandbox-app-secret"
LISTSUBID = "/topapi/v2/department/listsubid"
DEPT_GET = "/topapi/v2/department/get"
USER_LIST = "/topapi/v2/user/list"
ROLE_LIST = "/topapi/role/list"
SIMPLELIST = "/topapi/role/simplelist"
ORG_ARGS = ("--users", 300, "--departments", 30, "--roles", 6, "--leavers", 7, "--seed", 5)
PERMISSION_DENIED = 60011  # not retried by the client: one fault, one FetchError


# --- helpers ---


def control(url, path, body=None):
    """Call the sandbox control API (GET without a body, POST with one)."""
    if body is None:
        response = requests.get(f"{url}/_sandbox/{path}", timeout=10)
    else:
        response = requests.post(f"{url}/_sandbox/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def make_client(url, **kwargs):
    client = DingTalkClient(APP_KEY, APP_SECRET, oapi_url=url, api_url=url, **kwargs)
    client.access_token()
    client.reset_stats()
    return client


def walk(client, **kwargs):
    walker = DirectoryWalker(client, **kwargs)
    items = list(walker)
    return walker, items


def by_kind(items, kind):
    return [item for item in items if item.kind == kind]


def active_users(org):
    return [user for user in org["users"] if not user.get("left")]


def roles_of(org):
    return [(group, role) for group in org["role_groups"] for role in group["roles"]]


def minimum_calls(org):
    """Fewest calls per path that can read ``org``: one per department for listsubid and get, full pages
    (at least one per department) for user/list and simplelist, pages of 200 groups for role/list."""
    members = {dept["dept_id"]: 0 for dept in org["departments"]}
    for user in active_users(org):
        for dept_id in user["dept_id_list"]:
            members[dept_id] += 1
    pages = lambda count, size: max(1, math.ceil(count / size))  # noqa: E731
    return {
        LISTSUBID: len(members),
        DEPT_GET: len(members),
        USER_LIST: sum(pages(count, 100) for count in members.values()),
        ROLE_LIST: pages(len(org["role_groups"]), 200),
        SIMPLELIST: sum(pages(len(role["members"]), 100) for _group, role in roles_of(org)),
    }


@pytest.fixture
def org_url(sandbox_factory):
    """A sandbox with ~300 users, 30 departments, 6 roles and a few leavers."""
    return sandbox_factory(*ORG_ARGS)


# --- whole organisation ---


def test_walk_yields_whole_org_with_minimum_calls(org_url):
    org = control(org_url, "org")
    client = make_client(org_url)
    walker, items = walk(client)

    assert walker.complete and walker.errors == []
    assert all(isinstance(item, Item) for item in items)
    depts = {item.key: item.payload for item in by_kind(items, "dept")}
    assert depts.keys() == {str(dept["dept_id"]) for dept in org["departments"]}
    for dept in org["departments"]:
        got = depts[str(dept["dept_id"])]
        assert (got["name"], got.get("parent_id")) == (dept["name"], dept.get("parent_id"))
        assert got["dept_manager_userid_list"] == dept["dept_manager_userid_list"]

    users = by_kind(items, "user")
    expected = {user["userid"]: user for user in active_users(org)}
    assert len(users) == len({item.key for item in users}) == len(expected)
    assert {item.key for item in users} == expected.keys()
    multi = [userid for userid, user in expected.items() if len(user["dept_id_list"]) > 1]
    assert multi, "the generated org should have people in several departments"
    for item in users:
        assert sorted(item.payload["dept_id_list"]) == sorted(expected[item.key]["dept_id_list"])

    roles = {item.key: item.payload for item in by_kind(items, "role")}
    members = {item.key: item.payload for item in by_kind(items, "role_members")}
    assert len(roles) == len(members) == 6
    for group, role in roles_of(org):
        key = str(role["id"])
        assert roles[key] == {
            "id": role["id"],
            "name": role["name"],
            "group_id": group["groupId"],
            "group_name": group["name"],
        }
        assert members[key] == {"role_id": role["id"], "userids": role["members"]}

    assert walker.counts == {"dept": 30, "user": 300, "role": 6, "role_members": 6}
    stats = client.stats
    print("\ncalls:", stats, "minimum:", minimum_calls(org))
    assert stats == minimum_calls(org)


def test_departments_false_yields_users_only(org_url):
    client = make_client(org_url)
    walker, items = walk(client, departments=False, roles=False)

    assert walker.complete
    assert {item.kind for item in items} == {"user"}
    assert walker.counts == {"dept": 0, "user": 300, "role": 0, "role_members": 0}
    assert DEPT_GET not in client.stats and ROLE_LIST not in client.stats
    assert client.stats[LISTSUBID] == 30


def test_roles_only(org_url):
    client = make_client(org_url)
    walker, items = walk(client, departments=False, users=False)

    assert walker.complete
    assert walker.counts == {"dept": 0, "user": 0, "role": 6, "role_members": 6}
    assert USER_LIST not in client.stats and DEPT_GET not in client.stats


def test_user_list_pages_through_big_department(sandbox_factory):
    url = sandbox_factory("--users", 250, "--departments", 1, "--roles", 1)
    client = make_client(url)
    walker, items = walk(client)

    assert walker.complete and walker.counts["user"] == 250
    assert client.stats == minimum_calls(control(url, "org"))
    assert client.stats[USER_LIST] == 3


# --- errors ---


def test_failed_user_page_makes_walk_incomplete(org_url):
    control(org_url, "faults", {"path": USER_LIST, "errcode": PERMISSION_DENIED, "after": 5})
    walker, items = walk(make_client(org_url))

    assert not walker.complete
    [error] = walker.errors
    assert isinstance(error, FetchError)
    assert (error.api, error.errcode) == (USER_LIST, PERMISSION_DENIED)
    assert error.key.isdigit() and error.request_id
    assert walker.counts["dept"] == 30 and walker.counts["role_members"] == 6
    assert 0 < walker.counts["user"] < 300


def test_failed_listsubid_loses_subtree_and_makes_walk_incomplete(org_url):
    org = control(org_url, "org")
    control(org_url, "faults", {"path": LISTSUBID, "errcode": PERMISSION_DENIED, "after": 1})
    walker, items = walk(make_client(org_url))

    assert not walker.complete
    [error] = walker.errors
    assert error.api == LISTSUBID and error.request_id
    parent_of = {str(dept["dept_id"]): str(dept.get("parent_id")) for dept in org["departments"]}
    assert error.key in parent_of and parent_of[error.key] == "1"  # a child of the root failed
    lost = {key for key, parent in parent_of.items() if parent == error.key}
    found = {item.key for item in by_kind(items, "dept")}
    assert error.key in found and not found & lost
    assert walker.counts["role"] == 6 and walker.counts["user"] > 0


def test_failed_second_page_keeps_first_page(sandbox_factory):
    url = sandbox_factory("--users", 250, "--departments", 1, "--roles", 1)
    control(url, "faults", {"path": USER_LIST, "errcode": PERMISSION_DENIED, "after": 1})
    client = make_client(url)
    walker, items = walk(client)

    assert not walker.complete
    [error] = walker.errors
    assert (error.api, error.key) == (USER_LIST, "1") and error.request_id
    assert walker.counts["user"] == 100 and client.stats[USER_LIST] == 2


def test_retryable_fault_recorded_after_client_retries(org_url):
    control(org_url, "faults", {"path": ROLE_LIST, "errcode": -1, "count": 3})
    client = make_client(org_url, max_retries=2, backoff=0.01)
    walker, items = walk(client, departments=False, users=False)

    assert not walker.complete
    [error] = walker.errors
    assert (error.api, error.errcode, error.key) == (ROLE_LIST, -1, "")
    assert items == [] and client.stats[ROLE_LIST] == 3


def test_non_json_answer_is_a_fetch_error(org_url):
    control(org_url, "faults", {"path": SIMPLELIST, "body": "<html>gateway timeout</html>"})
    walker, items = walk(make_client(org_url), departments=False, users=False)

    assert not walker.complete
    [error] = walker.errors
    assert (error.api, error.errcode, error.request_id) == (SIMPLELIST, None, None)
    assert "non-JSON" in error.errmsg
    assert walker.counts == {"dept": 0, "user": 0, "role": 6, "role_members": 5}


def test_empty_user_page_is_a_fetch_error_not_an_empty_department(org_url):
    """An empty HTTP 200 must never look like a department without people (the sync would archive them)."""
    control(org_url, "faults", {"path": USER_LIST, "body": "", "count": 1})
    walker, _items = walk(make_client(org_url), departments=False, roles=False)

    assert not walker.complete
    [error] = walker.errors
    assert error.api == USER_LIST and "errcode" in error.errmsg


def test_vanished_department_is_skipped(org_url):
    control(org_url, "faults", {"path": DEPT_GET, "errcode": 60003, "errmsg": "部门不存在", "after": 4})
    walker, items = walk(make_client(org_url))

    assert walker.complete and walker.errors == []
    assert walker.counts == {"dept": 29, "user": 300, "role": 6, "role_members": 6}


def test_bug_in_a_task_reaches_the_consumer(org_url):
    client = make_client(org_url)
    client.department_get = lambda dept_id, language=None: 1 / 0
    with pytest.raises(ZeroDivisionError):
        walk(client)
    assert not [t for t in threading.enumerate() if t.name.startswith("dingtalk-directory")]


# --- concurrency and shutdown ---


def test_apis_run_concurrently(sandbox_factory):
    url = sandbox_factory("--users", 1000, "--departments", 60, "--roles", 6, "--latency-ms", 30, "--qps", 20)
    client = make_client(url)
    start = time.monotonic()
    walker, items = walk(client)
    elapsed = time.monotonic() - start

    assert walker.complete and walker.counts["user"] == 1000 and walker.counts["dept"] == 60
    calls = client.stats
    serial = sum(calls.values()) / 20
    busiest = max(calls.values()) / 20
    print(f"\ncalls {calls}\nelapsed {elapsed:.2f}s; busiest path {busiest:.2f}s; sum of paths {serial:.2f}s")
    assert elapsed < 0.8 * serial


@pytest.mark.parametrize("taken", [1, 50])
def test_closing_early_does_not_hang(sandbox_factory, taken):
    url = sandbox_factory("--users", 1000, "--departments", 60, "--latency-ms", 30)
    walker = DirectoryWalker(make_client(url), workers=2)
    iterator = iter(walker)
    for _ in range(taken):
        next(iterator)
    time.sleep(1)  # the workers fill the bounded queue and block on it
    assert walker._results.full()
    start = time.monotonic()
    iterator.close()
    assert time.monotonic() - start < 3
    assert not walker.complete
    assert not [t for t in threading.enumerate() if t.name.startswith("dingtalk-directory")]


def test_consumer_exception_stops_the_walk(org_url):
    walker = DirectoryWalker(make_client(org_url))
    with pytest.raises(RuntimeError, match="consumer"):
        for _item in walker:
            raise RuntimeError("consumer failed")
    assert not walker.complete
    assert not [t for t in threading.enumerate() if t.name.startswith("dingtalk-directory")]
