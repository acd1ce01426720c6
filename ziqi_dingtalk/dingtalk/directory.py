"""Concurrent read of a whole DingTalk organisation (departments, users, roles) for a full sync, and of the
direct managers of people, a batch at a time, while the caller writes what it has.

Threads here only make HTTP calls through one (thread-safe) :class:`~.client.DingTalkClient`; results go
through a bounded queue to the consumer, which iterates in its own thread (for Odoo: the one holding the
cursor). Each API path is a *lane* with its own share of the pool, so threads waiting for one path's
rate limiter never hold up another path: the walk takes about max(calls per path) / qps seconds, not
the sum. The client counts the calls per path (``client.stats``).

Direct managers (直属主管) are only in topapi/v2/user/get, never in v2/user/list (protocol §4, §9.2): one
user/get per person, by far the busiest path. The walk leaves them out (it is done in a few seconds per
thousand people); :class:`ManagerReader` reads them for one batch of people in its own threads while the
caller applies that batch, so DingTalk's slowest reads overlap Odoo's writes. Contacts scope (通讯录权限范围,
§9.3): listsubid ignores it; department/get and user/list answer 50004 outside it, user/get 50002.
"""

import collections
import functools
import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .client import USER_LIST_MAX
from .errors import DEPT_OUTSIDE_SCOPE, USER_OUTSIDE_SCOPE, APIError, NotFound, OutsideScope, TransportError

_logger = logging.getLogger(__name__)

ROOT_DEPT_ID = 1
LISTSUBID = "/topapi/v2/department/listsubid"
DEPT_GET = "/topapi/v2/department/get"
USER_LIST = "/topapi/v2/user/list"
USER_GET = "/topapi/v2/user/get"
AUTH_SCOPES = "/auth/scopes"
ROLE_LIST = "/topapi/role/list"
ROLE_MEMBERS = "/topapi/role/simplelist"
KINDS = ("dept", "user", "role", "role_members")
# Answers that do not fail the walk: the department or person vanished meanwhile (NotFound: 60003, 60121,
# 33012) or is outside the app's contacts scope (50004 on a department, 50002 on a person).
_VANISHED_OK = frozenset({LISTSUBID, DEPT_GET, USER_LIST, USER_GET})
MANAGER_WORKERS = 4  # user/get's 20 calls/s need few threads (its answers come in tens of milliseconds)
_OUTSIDE_SCOPE = {DEPT_GET: DEPT_OUTSIDE_SCOPE, USER_LIST: DEPT_OUTSIDE_SCOPE, USER_GET: USER_OUTSIDE_SCOPE}
_DONE = object()  # end of the walk (queue sentinel)
_PUT_POLL = 0.1  # seconds between checks of the stop flag while the queue is full


@dataclass(frozen=True)
class Item:
    """One thing read from DingTalk.

    ``kind`` / ``key`` / ``payload``: ``dept`` / dept_id (str) / the department/get result; ``user`` /
    userid / the user object of topapi/v2/user/list (or, for a person granted to the app by name, the
    user/get answer, which has ``manager_userid``); ``role`` / role id (str) / ``{id, name, group_id,
    group_name}``;
    ``role_members`` / role id (str) / ``{role_id, userids}`` (the complete member list).
    """

    kind: str
    key: str
    payload: dict


@dataclass
class FetchError:
    """A call that failed (after the client's own retries); the walk went on without its result."""

    api: str
    key: str
    errcode: object
    errmsg: str
    request_id: str | None

    @classmethod
    def from_exception(cls, api, key, error):
        """From an APIError or a TransportError (errcode and request_id None: DingTalk did not answer)."""
        errcode, request_id = getattr(error, "errcode", None), getattr(error, "request_id", None)
        return cls(getattr(error, "api", None) or api, str(key), errcode, str(error), request_id)


class DirectoryWalker:
    """Iterate over every department, user and role of the organisation, fetched concurrently.

    ``for item in DirectoryWalker(client): ...`` yields :class:`Item` objects in completion order, each
    user once. Afterwards ``complete`` is True only when every call succeeded; these answers are not
    failures: a department or person that vanished during the walk (60003; user/get 60121, 33012), a
    department outside the app's contacts scope (50004 on department/get or user/list: nothing yielded for
    it, its id in ``out_of_scope``, the tree below it still walked) and a person granted by name but
    outside it after all (user/get 50002). ``errors`` lists the :class:`FetchError` of the others and
    ``counts`` the items yielded per kind. Closing the iterator early stops the walk.

    ``workers`` threads are shared evenly by the lanes (one per API path).
    """

    def __init__(self, client, *, departments=True, users=True, roles=True, workers=12, language="zh_CN"):
        self.client = client
        self.departments = departments
        self.users = users
        self.roles = roles
        self.workers = max(1, workers)
        self.language = language
        self.complete = False
        self.errors = []
        self.counts = dict.fromkeys(KINDS, 0)
        self.out_of_scope = set()  # dept ids (str) that department/get or user/list answered 50004 for

    # --- consumer side (caller's thread) ---

    def __iter__(self):
        self.complete, self.errors, self.counts = False, [], dict.fromkeys(KINDS, 0)
        self.out_of_scope = set()
        self._results = queue.Queue(maxsize=4 * self.workers)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending = 0
        self._waiting = collections.defaultdict(collections.deque)
        self._running = collections.Counter()
        self._lane_caps = self._caps()
        self._listed = set()  # userids already listed (a granted person listed too is not read again)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dingtalk-directory")
        try:
            yield from self._consume()
        finally:
            self._stop.set()
            self._pool.shutdown(wait=True, cancel_futures=True)
            settle = getattr(self.client, "settle_token", None)  # in the consumer's (the owner's) thread
            if settle:
                settle()

    def _caps(self):
        """Threads per lane: ``workers`` shared evenly."""
        wanted = ("dept", self.departments), ("users", self.users), ("roles", self.roles)
        lanes = ["tree", *(lane for lane, on in wanted if on)]
        return dict.fromkeys(lanes, max(1, self.workers // len(lanes)))

    def _consume(self):
        seen_users = set()
        self._submit("tree", self._start)
        while (message := self._results.get()) is not _DONE:
            if isinstance(message, FetchError):
                _logger.warning(
                    "DingTalk directory: %s %s failed: %s", message.api, message.key, message.errmsg
                )
                self.errors.append(message)
            elif isinstance(message, BaseException):
                raise message
            else:
                for item in message:
                    if item.kind == "user":
                        if item.key in seen_users:
                            continue
                        seen_users.add(item.key)
                    self.counts[item.kind] += 1
                    yield item
        self.complete = not self.errors
        if self.out_of_scope:
            _logger.info(
                "DingTalk directory: %d departments outside the app's contacts scope", len(self.out_of_scope)
            )

    # --- scheduling (any thread) ---

    def _submit(self, lane, task, *args):
        """Run ``task(*args)`` in ``lane``: at most ``_lane_caps[lane]`` threads, the rest wait in line."""
        if self._stop.is_set():
            return
        with self._lock:
            self._pending += 1
            if self._running[lane] >= self._lane_caps[lane]:
                self._waiting[lane].append((task, args))
                return
            self._running[lane] += 1
        self._pool.submit(self._run_lane, lane, task, args)

    def _run_lane(self, lane, task, args):
        """Worker loop of one lane thread: run tasks of this lane until its line is empty."""
        while not self._stop.is_set():
            try:
                task(*args)
            except Exception as error:  # a bug, not a DingTalk error: hand it to the consumer
                self._put(error)
            with self._lock:
                self._pending -= 1
                done = self._pending == 0
                if self._waiting[lane]:
                    task, args = self._waiting[lane].popleft()
                else:
                    self._running[lane] -= 1
                    task = None
            if done:
                self._put(_DONE)
            if task is None:
                return

    def _put(self, message):
        """Queue ``message`` for the consumer; False when the walk was stopped meanwhile."""
        while not self._stop.is_set():
            try:
                self._results.put(message, timeout=_PUT_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _call(self, api, key, fetch):
        """``fetch()``, or None when it failed (see :meth:`_record`)."""
        try:
            return fetch()
        except (APIError, TransportError) as error:
            self._record(api, key, error)
            return None

    def _guarded(self, api, key, iterator):
        """The items of ``iterator`` until it ends or fails (see :meth:`_record`)."""
        try:
            yield from iterator
        except (APIError, TransportError) as error:
            self._record(api, key, error)

    def _record(self, api, key, error):
        """Queue a FetchError, unless the answer only says that the department or person vanished meanwhile
        or is outside the app's contacts scope (a department's id then goes to ``out_of_scope``)."""
        if api in _VANISHED_OK and isinstance(error, NotFound):
            return
        if api in _OUTSIDE_SCOPE and getattr(error, "errcode", None) == _OUTSIDE_SCOPE[api]:
            if api != USER_GET:
                _logger.debug("DingTalk directory: department %s is outside the contacts scope", key)
                with self._lock:
                    self.out_of_scope.add(str(key))
            return
        self._put(FetchError.from_exception(api, key, error))

    # --- tasks (pool threads) ---

    def _start(self):
        """First task: every other one descends from it, so the pending count only reaches 0 at the end."""
        if self.roles:
            self._submit("roles", self._list_roles)
        if self.users:
            self._submit("tree", self._read_granted_people)
        self._schedule_dept(ROOT_DEPT_ID)
        self._walk_dept(ROOT_DEPT_ID)

    def _walk_dept(self, dept_id):
        """List the children of ``dept_id`` and schedule the work for each of them."""
        fetch = functools.partial(self.client.department_listsubid, dept_id)
        for child in self._call(LISTSUBID, dept_id, fetch) or ():
            self._submit("tree", self._walk_dept, child)
            self._schedule_dept(child)

    def _schedule_dept(self, dept_id):
        if self.departments:
            self._submit("dept", self._get_dept, dept_id)
        if self.users:
            self._submit("users", self._list_users, dept_id)

    def _get_dept(self, dept_id):
        fetch = functools.partial(self.client.department_get, dept_id, self.language)
        dept = self._call(DEPT_GET, dept_id, fetch)
        if dept is not None:
            self._put([Item("dept", str(dept_id), dept)])

    def _list_users(self, dept_id):
        """Page through the direct members of ``dept_id``, queueing each page as it arrives."""
        users = self.client.iter_user_list(dept_id, language=self.language)
        for page in self._guarded(USER_LIST, dept_id, _pages(users, USER_LIST_MAX)):
            self._newly_listed(user["userid"] for user in page)
            if not self._put([Item("user", user["userid"], user) for user in page]):
                return

    def _newly_listed(self, userids):
        with self._lock:
            new = [userid for userid in dict.fromkeys(userids) if userid not in self._listed]
            self._listed.update(new)
        return new

    def _read_granted_people(self):
        """People granted to the app by name (``authed_user`` of its contacts scope): one whose departments
        are all outside the scope is in no user/list the app may read, so each is read with user/get."""
        scope = self._call(AUTH_SCOPES, "", self.client.auth_scopes)
        for userid in (scope or {}).get("authed_user") or ():
            self._submit("users", self._get_person, userid)

    def _get_person(self, userid):
        """Queue a person granted by name, read with user/get (so with their direct manager), unless a user
        list had them already."""
        if not self._newly_listed([userid]):
            return
        person = self._call(USER_GET, userid, functools.partial(self.client.user_get, userid, self.language))
        if person is not None:
            self._put([Item("user", userid, person)])

    def _list_roles(self):
        """Queue every role (role groups flattened) and schedule the member list of each."""
        for group in self._guarded(ROLE_LIST, "", self.client.iter_roles()):
            items = [_role_item(group, role) for role in group.get("roles") or ()]
            if not self._put(items):
                return
            for item in items:
                self._submit("roles", self._list_role_members, item.payload["id"])

    def _list_role_members(self, role_id):
        """Queue the member list of ``role_id`` once it is complete."""
        members = self._call(ROLE_MEMBERS, role_id, functools.partial(self._role_member_ids, role_id))
        if members is not None:
            self._put([Item("role_members", str(role_id), {"role_id": role_id, "userids": members})])

    def _role_member_ids(self, role_id):
        return [member["userid"] for member in self.client.iter_role_members(role_id)]


class ManagerReader:
    """The direct managers (直属主管) of some people, read with topapi/v2/user/get (one call per person, the
    only API that shows them) in a few threads of its own, while the caller does its own work::

        with ManagerReader(client, userids) as reader:
            ...  # write what the batch already has
            managers, errors = reader.result()

    ``managers``: userid → manager's userid ("" for none) of everyone DingTalk answered for; a person who
    vanished meanwhile (60121, 33012) or is outside the app's contacts scope (50002) is left out, and so is
    one whose call failed: ``errors`` has its :class:`FetchError`. Threads only do HTTP: the caller reads
    the access token first (``client.access_token()``) and settles it after (``client.settle_token()``).
    Leaving the ``with`` block cancels the reads not started yet."""

    def __init__(self, client, userids, language="zh_CN", workers=MANAGER_WORKERS):
        self.client = client
        self.language = language
        userids = list(dict.fromkeys(userids))
        self._pool = ThreadPoolExecutor(
            max(1, min(workers, len(userids))), thread_name_prefix="dingtalk-managers"
        )
        self._futures = {userid: self._pool.submit(self._read, userid) for userid in userids}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _read(self, userid):
        try:
            return self.client.user_get(userid, self.language)["manager_userid"] or ""
        except (NotFound, OutsideScope):
            return None
        except (APIError, TransportError) as error:
            return FetchError.from_exception(USER_GET, userid, error)

    def result(self):
        """Wait for every answer: ``(managers, errors)``."""
        managers, errors = {}, []
        for userid, future in self._futures.items():
            answer = future.result()
            if isinstance(answer, FetchError):
                errors.append(answer)
            elif answer is not None:
                managers[userid] = answer
        return managers, errors


def _pages(items, size):
    """Group an iterator into lists of ``size`` (the client's paging generators yield items one by one)."""
    page = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def _role_item(group, role):
    payload = {
        "id": role["id"],
        "name": role.get("name"),
        "group_id": group.get("groupId"),
        "group_name": group.get("name"),
    }
    return Item("role", str(role["id"]), payload)


def parents_first(payloads):
    """Department keys of ``payloads`` (department/get answers keyed by dept_id) ordered so that a parent
    comes before its children (DingTalk may list them the other way round), and the keys whose parent was
    dropped to break a cycle, which DingTalk should never send (their payload's parent_id is set to None)."""
    ordered, placed, cycles = [], set(), []

    def place(key, trail):
        if key in placed or key not in payloads:
            return
        if key in trail:
            cycles.append(key)
            payloads[key] = dict(payloads[key], parent_id=None)
            return
        place(str(payloads[key].get("parent_id") or ""), trail | {key})
        placed.add(key)
        ordered.append(key)

    for key in sorted(payloads):
        place(key, frozenset())
    return ordered, cycles
