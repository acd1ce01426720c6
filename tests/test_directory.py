"""DirectoryWalker and ManagerReader (dingtalk/directory.py) against the DingTalk sandbox.

Each test starts its own sandbox with a generated organisation and compares what the walker yields with
the sandbox's ``GET /_sandbox/org`` and the client's per-path call counts with the minimum the endpoints
allow. The walk reads no direct managers (user/get, one call per person; only people granted to the app
by name outside the listed departments are read with it): ManagerReader reads them for the people it is
given, in its own threads. Tests that need no throttling use an unthrottled sandbox and client
(``fast_client``) to keep the suite quick.
"""

import math
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from dingtalk.client import LIMIT_PERIOD, DingTalkClient
from dingtalk.directory import (
    MANAGER_WORKERS,
    DirectoryWalker,
    FetchError,
    Item,
    ManagerReader,
    parents_first,
)

APP_KEY = "dingsandboxappkey0001"
APP_SECRET = "sandbox-app-secret"
LISTSUBID = "/topapi/v2/department/listsubid"
DEPT_GET = "/topapi/v2/department/get"
USER_LIST = "/topapi/v2/user/list"
USER_GET = "/topapi/v2/user/get"
ROLE_LIST = "/topapi/role/list"
SIMPLELIST = "/topapi/role/simplelist"
ORG_ARGS = ("--users", 300, "--departments", 30, "--roles", 6, "--leavers", 7, "--seed", 5, "--qps", 0)
# 60 people, DingTalk's 20 calls/s per path and 30 ms per answer: three windows of the client's limiter
THROTTLED_ARGS = ("--users", 60, "--departments", 3, "--roles", 1, "--latency-ms", 30, "--qps", 20)
QPS = 20
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


def fast_client(url):
    """A client without its rate limiter, for a sandbox without one (``--qps 0``)."""
    return make_client(url, qps=None)


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


def expected_managers(org):
    """userid → direct manager ("" for none) of everyone active, as user/get shows them (a manager who left
    is no manager any more)."""
    managers = {user["userid"]: user.get("manager_userid") or "" for user in active_users(org)}
    return {userid: manager if manager in managers else "" for userid, manager in managers.items()}


def read_managers(client, userids, **kwargs):
    """``(managers, errors)`` of a ManagerReader over ``userids``."""
    with ManagerReader(client, userids, **kwargs) as reader:
        return reader.result()


def no_reader_threads():
    return not [t for t in threading.enumerate() if t.name.startswith("dingtalk-managers")]


def minimum_calls(org):
    """Fewest calls per path that can read ``org``: one per department for listsubid and get, full pages
    (at least one per department) for user/list and simplelist, pages of 200 groups for role/list, one
    /auth/scopes. No user/get: user/list gives everyone in the listed departments (a person granted to the
    app by name outside them would cost one; the scope of these organisations is the whole of it)."""
    members = {dept["dept_id"]: 0 for dept in org["departments"]}
    for user in active_users(org):
        for dept_id in user["dept_id_list"]:
            members[dept_id] += 1
    pages = lambda count, size: max(1, math.ceil(count / size))  # noqa: E731
    calls = {
        LISTSUBID: len(members),
        DEPT_GET: len(members),
        USER_LIST: sum(pages(count, 100) for count in members.values()),
        ROLE_LIST: pages(len(org["role_groups"]), 200),
        SIMPLELIST: sum(pages(len(role["members"]), 100) for _group, role in roles_of(org)),
    }
    calls["/auth/scopes"] = 1  # people granted by name are read on their own
    return calls


@pytest.fixture
def org_url(sandbox_factory):
    """A sandbox with ~300 users, 30 departments, 6 roles and a few leavers."""
    return sandbox_factory(*ORG_ARGS)


# --- whole organisation ---


def test_walk_yields_whole_org_with_minimum_calls(org_url):
    org = control(org_url, "org")
    client = fast_client(org_url)
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
    assert not any("manager_userid" in item.payload for item in users), "user/list shows no managers"

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

    assert walker.out_of_scope == set()

    assert control(org_url, "scope")["scope"]["authed_user"] == []  # nobody granted by name
    assert walker.counts == {"dept": 30, "user": 300, "role": 6, "role_members": 6}
    stats = client.stats
    print("\ncalls:", stats, "minimum:", minimum_calls(org))
    assert stats == minimum_calls(org) and USER_GET not in stats


def test_departments_false_yields_users_only(org_url):
    client = make_client(org_url)
    walker, items = walk(client, departments=False, roles=False)

    assert walker.complete
    assert {item.kind for item in items} == {"user"}
    assert walker.counts == {"dept": 0, "user": 300, "role": 0, "role_members": 0}
    assert DEPT_GET not in client.stats and ROLE_LIST not in client.stats and USER_GET not in client.stats
    assert client.stats[LISTSUBID] == 30


def test_roles_only(org_url):
    client = make_client(org_url)
    walker, items = walk(client, departments=False, users=False)

    assert walker.complete
    assert walker.counts == {"dept": 0, "user": 0, "role": 6, "role_members": 6}
    assert USER_LIST not in client.stats and DEPT_GET not in client.stats and USER_GET not in client.stats


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

    assert walker.complete and walker.errors == [] and walker.out_of_scope == set()
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


# --- contacts scope (listsubid ignores it; department/get and user/list answer 50004) ---


def in_scope(org, scope):
    """Dept ids in ``scope``: granted, or below a granted department."""
    parent = {dept["dept_id"]: dept.get("parent_id") for dept in org["departments"]}
    granted = set(scope["authed_dept"])

    def inside(dept_id):
        while dept_id not in granted:
            if dept_id == 1:
                return False
            dept_id = parent[dept_id]
        return True

    return {dept_id for dept_id in parent if inside(dept_id)}


def test_out_of_scope_departments_are_reported_not_errors(org_url):
    """Scope: the other top departments, and one sub-department C of top department D. The root, D and D's
    other sub-departments are outside: the walk is complete, reports them, and lists the people of C."""
    org = control(org_url, "org")
    children = {}
    for dept in org["departments"]:
        children.setdefault(dept.get("parent_id"), []).append(dept["dept_id"])
    top = children[1]
    top_d = next(d for d in top if len(children.get(d, ())) >= 2)
    sub_c = children[top_d][0]
    scope = {"authed_dept": [d for d in top if d != top_d] + [sub_c], "authed_user": []}
    control(org_url, "scope", scope)
    inside = in_scope(org, scope)
    outside = {dept["dept_id"] for dept in org["departments"]} - inside
    assert {1, top_d, *children[top_d][1:]} <= outside and sub_c in inside
    listed = {u["userid"] for u in active_users(org) if set(u["dept_id_list"]) & inside}
    below_c = in_scope(org, {"authed_dept": [sub_c]})
    assert any(set(u["dept_id_list"]) & below_c for u in active_users(org)), "people to list below C"
    assert listed < {u["userid"] for u in active_users(org)}

    client = fast_client(org_url)
    walker, items = walk(client)

    assert walker.complete and walker.errors == []
    assert walker.out_of_scope == {str(d) for d in outside}
    assert {item.key for item in by_kind(items, "dept")} == {str(d) for d in inside}
    assert {item.key for item in by_kind(items, "user")} == listed  # people below C among them
    assert client.stats[LISTSUBID] == len(org["departments"])  # the tree is walked below D too
    assert client.stats[DEPT_GET] == len(org["departments"])
    assert USER_GET not in client.stats

    # user/get answers 50002 for the people outside the scope: left out, not errors
    managers, errors = read_managers(client, [u["userid"] for u in active_users(org)])
    assert errors == [] and managers.keys() == listed
    assert managers == {
        userid: manager for userid, manager in expected_managers(org).items() if userid in listed
    }


def test_generated_partial_scope_walks_complete(org_url):
    control(org_url, "reset", {"users": 120, "departments": 20, "seed": 8, "out_of_scope": 5})
    org, scope = control(org_url, "org"), control(org_url, "scope")["scope"]
    client = fast_client(org_url)
    walker, items = walk(client)

    outside = {dept["dept_id"] for dept in org["departments"]} - in_scope(org, scope)
    assert len(outside) == 5 and walker.complete
    assert walker.out_of_scope == {str(d) for d in outside}
    # granted by name, their departments all outside the scope: in no user/list, read with user/get
    [named] = scope["authed_user"]
    [named_user] = [user for user in active_users(org) if user["userid"] == named]
    assert set(named_user["dept_id_list"]) <= outside
    [person] = [item for item in by_kind(items, "user") if item.key == named]
    assert person.payload["userid"] == named
    assert person.payload["manager_userid"] == expected_managers(org)[named]  # user/get's answer
    assert client.stats[USER_GET] == 1, "the walk reads nobody else with user/get"
    others = [item for item in by_kind(items, "user") if item.key != named]
    assert others and not any("manager_userid" in item.payload for item in others)

    # everyone the walk yielded is in the scope: ManagerReader has an answer for each
    userids = [item.key for item in by_kind(items, "user")]
    managers, errors = read_managers(client, userids)
    assert errors == [] and managers.keys() == set(userids)


# --- direct managers (ManagerReader: one user/get per person) ---


def test_manager_reader_names_managers_who_are_not_leaders_and_none(org_url):
    org = control(org_url, "org")
    client = fast_client(org_url)
    walker, items = walk(client, departments=False, roles=False)
    assert walker.complete and USER_GET not in client.stats
    users = {item.key: item.payload for item in by_kind(items, "user")}
    assert not any("manager_userid" in payload for payload in users.values()), "user/list has no managers"

    with ManagerReader(client, users) as reader:
        managers, errors = reader.result()

    assert errors == [] and managers == expected_managers(org)
    assert client.stats[USER_GET] == len(users) == 300
    assert "" in managers.values()  # user/get without manager_userid: no direct manager
    leaders = {uid for dept in org["departments"] for uid in dept["dept_manager_userid_list"]}
    assert {m for m in managers.values() if m} - leaders, "some direct managers lead no department"
    assert no_reader_threads()


def test_manager_reader_leaves_out_people_gone_or_outside_scope(org_url):
    """A person who leaves the scope (50002) or the company (60121, or 33012) between user/list and
    user/get: left out of the managers, not an error."""
    org = control(org_url, "org")
    control(org_url, "faults", {"path": USER_GET, "errcode": 50002, "count": 2, "after": 10})
    control(org_url, "faults", {"path": USER_GET, "errcode": 60121, "after": 20})
    control(org_url, "faults", {"path": USER_GET, "errcode": 33012, "after": 30})
    client = fast_client(org_url)
    userids = [user["userid"] for user in active_users(org)]

    managers, errors = read_managers(client, userids + userids[:10])  # each person read once

    assert errors == [] and len(managers) == 296
    assert client.stats[USER_GET] == 300
    assert managers.items() <= expected_managers(org).items()
    assert all(rule["fired"] == rule["count"] for rule in control(org_url, "faults")["faults"])

    leavers = [user["userid"] for user in org["users"] if user.get("left")]
    assert len(leavers) == 7
    assert read_managers(client, leavers) == ({}, [])  # the sandbox answers 60121 for them


def test_failed_manager_reads_are_fetch_errors_and_the_walk_stays_complete(org_url):
    control(org_url, "faults", {"path": USER_GET, "errcode": PERMISSION_DENIED, "after": 5})
    control(
        org_url, "faults", {"path": USER_GET, "body": "<html>502</html>", "http_status": 502, "after": 50}
    )
    client = fast_client(org_url)
    walker, items = walk(client)

    assert walker.complete and walker.errors == []  # the walk makes no user/get
    assert walker.counts == {"dept": 30, "user": 300, "role": 6, "role_members": 6}
    assert USER_GET not in client.stats
    assert not any(rule["fired"] for rule in control(org_url, "faults")["faults"])

    userids = [item.key for item in by_kind(items, "user")]
    managers, errors = read_managers(client, userids)

    assert all(isinstance(error, FetchError) for error in errors)
    denied, gateway = sorted(errors, key=lambda error: error.errcode is None)
    assert (denied.api, denied.errcode) == (USER_GET, PERMISSION_DENIED) and denied.request_id
    assert (gateway.api, gateway.errcode, gateway.request_id) == (USER_GET, None, None)
    assert "non-JSON" in gateway.errmsg
    assert denied.key != gateway.key and {denied.key, gateway.key} <= set(userids)
    assert managers.keys() == set(userids) - {denied.key, gateway.key}
    assert client.stats[USER_GET] == 300  # neither is retried


def test_manager_reader_of_nobody_calls_nothing(org_url):
    client = fast_client(org_url)
    assert read_managers(client, []) == ({}, [])
    assert USER_GET not in client.stats and no_reader_threads()


class RecordingSession(requests.Session):
    """Records (path, start, end) of every request, for counting what ran at the same time."""

    def __init__(self):
        super().__init__()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self.mount("http://", adapter)
        self.calls, self._lock = [], threading.Lock()

    def request(self, method, url, *args, **kwargs):
        start = time.monotonic()
        try:
            return super().request(method, url, *args, **kwargs)
        finally:
            with self._lock:
                self.calls.append((urlsplit(url).path, start, time.monotonic()))

    def spans(self, path):
        return [(start, end) for called, start, end in self.calls if called == path]


def most_at_once(spans):
    edges = sorted([(start, 1) for start, _end in spans] + [(end, -1) for _start, end in spans])
    running = peak = 0
    for _time, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_manager_reader_reads_while_the_caller_works(sandbox_factory):
    """ManagerReader starts its user/get calls when it is made, on several threads: they go on while the
    caller does its own work (here: sleeps), so result() comes about when the last call is answered, not
    after the caller's work plus the reads."""
    url = sandbox_factory(*THROTTLED_ARGS)
    userids = [user["userid"] for user in active_users(control(url, "org"))]
    session = RecordingSession()
    client = make_client(url, session=session)
    work = 2.0  # seconds; the reads need about two limiter periods (20 calls per 1.1 s)

    start = time.monotonic()
    with ManagerReader(client, userids) as reader:
        time.sleep(work)
        worked = time.monotonic()
        managers, errors = reader.result()
    elapsed = time.monotonic() - start

    assert errors == [] and len(managers) == len(userids) == 60
    gets = session.spans(USER_GET)
    assert len(gets) >= 60  # more when a call was throttled and retried (timing jitter on a busy machine)
    assert most_at_once(gets) >= 2, "the reads run on several threads"
    assert sum(call_start < worked for call_start, _end in gets) >= QPS, "the reads ran during the work"
    first, last = min(s for s, _e in gets), max(e for _s, e in gets)
    reading = last - first
    print(f"\nelapsed {elapsed:.2f}s; caller's work {work:.2f}s; user/get first to last {reading:.2f}s")
    assert reading >= (len(userids) / QPS - 1) * LIMIT_PERIOD - 0.1, "the client's limiter is kept"
    assert elapsed < reading + work / 2, "the reads overlap the caller's work"
    assert no_reader_threads()


def test_leaving_manager_reader_early_cancels_pending_reads(sandbox_factory):
    url = sandbox_factory(*THROTTLED_ARGS)
    userids = [user["userid"] for user in active_users(control(url, "org"))]
    session = RecordingSession()
    client = make_client(url, session=session)

    with ManagerReader(client, userids):
        time.sleep(0.3)  # the limiter's first window, then the workers wait for the next one
        left = time.monotonic()
    leaving = time.monotonic() - left

    gets = session.spans(USER_GET)
    print(f"\n{len(gets)} of {len(userids)} read; leaving took {leaving:.2f}s")
    # only the reads already running (at most one per worker) are finished, waiting one window at most
    assert 0 < len(gets) == client.stats[USER_GET] <= QPS + MANAGER_WORKERS < len(userids)
    assert leaving < LIMIT_PERIOD + 1
    assert no_reader_threads()


def test_parents_are_placed_before_children_and_cycles_are_broken():
    payloads = {
        "3": {"parent_id": 2},
        "2": {"parent_id": 1},
        "1": {},
        "8": {"parent_id": 9},
        "9": {"parent_id": 8},
    }
    order, cycles = parents_first(payloads)
    assert order.index("1") < order.index("2") < order.index("3")
    assert set(order) == set(payloads)
    assert len(cycles) == 1 and cycles[0] in {"8", "9"} and payloads[cycles[0]]["parent_id"] is None
