"""One batch of DingTalk events reads what it needs once, concurrently, within a time budget (plain Python:
HTTP in a small bounded pool, no database)."""

import collections
import time
from concurrent.futures import ThreadPoolExecutor

from . import errors as dt_errors
from .client import USER_LIST_MAX

PREFETCH_WORKERS = 8


class BudgetSpent(Exception):
    """The batch's time budget is spent: no DingTalk call starts; the event waits for the next batch."""


class BatchClient:
    """The company's client for one batch of events: what several events of the batch ask for (a person
    named twice, the role list) is fetched once. Still "the current state": read during this batch.

    People can be read two ways, each with its own quota of 20 calls/s: topapi/v2/user/get (one person)
    and topapi/v2/user/list (a department, 100 people a page). ``prefetch`` reads some people through the
    list of the department Odoo knows them in (``by_list``), so that a burst of people events uses both
    quotas; whoever is not found there (moved, left) is read with user/get after all.

    No call starts after ``deadline`` (``time.monotonic()``; None: no limit): it fails with BudgetSpent."""

    def __init__(self, client, deadline=None):
        self._client = client
        self.deadline = deadline
        self._memo = {}

    def _outcome(self, fetch):
        if self.deadline is not None and time.monotonic() > self.deadline:
            return False, BudgetSpent()
        try:
            return True, fetch()
        except dt_errors.APIError as error:
            return False, error

    def prefetch(self, userids=(), dept_ids=(), role_ids=(), by_list=None):
        """Fetch what the batch will ask for concurrently (HTTP only, in threads; each API path stays under
        its rate limit in the client), so applying the events waits on DingTalk once, not once per event.
        ``by_list`` maps DingTalk department ids to the userids (among ``userids``) to look for there.
        The access token is read here, in the caller's thread: the pool's threads only do HTTP."""
        self._client.access_token()
        by_list = {dept: set(wanted) for dept, wanted in (by_list or {}).items() if wanted}
        through_list = set().union(*by_list.values()) if by_list else set()
        jobs = {("user", u): (lambda u=u: self._client.user_get(u)) for u in userids if u not in through_list}
        jobs.update({("list", d): (lambda d=d, w=w: self._find_in_list(d, w)) for d, w in by_list.items()})
        jobs.update({("dept", d): (lambda d=d: self._client.department_get(d)) for d in dept_ids})
        if role_ids:
            jobs[("roles",)] = lambda: list(self._client.iter_roles())
        jobs.update({("members", r): (lambda r=r: list(self._client.iter_role_members(r))) for r in role_ids})
        self._run(jobs)
        found = {}
        for dept in by_list:
            ok, value = self._memo.pop(("list", dept))
            if ok:
                found.update(value)
        for userid, payload in found.items():
            self._memo[("user", userid)] = (True, payload)
        # not in the department Odoo knew (moved, left, or the list failed): read them one by one
        self._run({("user", u): (lambda u=u: self._client.user_get(u)) for u in through_list - set(found)})
        self._client.settle_token()

    def _find_in_list(self, dept_id, wanted):
        """The people of ``wanted`` listed in ``dept_id``; stops paging once all are found."""
        found = {}
        for payload in self._client.iter_user_list(dept_id):
            if payload.get("userid") in wanted:
                found[payload["userid"]] = payload
                if len(found) == len(wanted):
                    break
        return found

    def _run(self, jobs):
        jobs = {key: fetch for key, fetch in jobs.items() if key not in self._memo}
        if not jobs:
            return
        with ThreadPoolExecutor(min(PREFETCH_WORKERS, len(jobs))) as pool:
            outcomes = dict(zip(jobs, pool.map(self._outcome, jobs.values()), strict=True))
        self._memo.update(outcomes)

    def _once(self, key, fetch):
        if key not in self._memo or isinstance(self._memo[key][1], BudgetSpent):
            self._memo[key] = self._outcome(fetch)
        ok, value = self._memo[key]
        if not ok:
            raise value
        return value

    def user_get(self, userid):
        """A person's payload: user/get's answer (with ``manager_userid``, empty for none), or their entry in
        user/list (without it: the list does not show managers)."""
        return dict(self._once(("user", userid), lambda: self._client.user_get(userid)))

    def departments_read(self):
        """Ids of the departments DingTalk returned in this batch (the events' and their new parents)."""
        return [key[1] for key, (ok, _value) in self._memo.items() if key[0] == "dept" and ok]

    def department_get(self, dept_id):
        return self._once(("dept", dept_id), lambda: self._client.department_get(dept_id))

    def iter_roles(self):
        return iter(self._once(("roles",), lambda: list(self._client.iter_roles())))

    def iter_role_members(self, role_id):
        return iter(self._once(("members", role_id), lambda: list(self._client.iter_role_members(role_id))))


def plan_list_reads(user_gets, placements):
    """Which people of a batch to read through the user/list of the department Odoo knows them in, so that
    a burst of people events uses both quotas (user/get: one call per person; user/list: one call per
    USER_LIST_MAX members of the department, 20 calls/s each). ``user_gets``: people the batch reads;
    ``placements``: ``(userid, dept_id, members of that department)`` rows of the people who may be read
    that way. Whole departments are taken, cheapest first, as long as that lowers the larger of the two
    call counts. Returns dept_id (int) → userids."""
    groups, pages = collections.defaultdict(set), {}
    for userid, dept_key, members in placements:
        if not str(dept_key).isdigit():
            continue
        groups[int(dept_key)].add(userid)
        pages[int(dept_key)] = max(1, -(-members // USER_LIST_MAX))
    gets, lists, plan = user_gets, 0, {}
    for dept in sorted(groups, key=lambda d: (pages[d] / len(groups[d]), d)):
        if max(gets - len(groups[dept]), lists + pages[dept]) < max(gets, lists):
            gets, lists = gets - len(groups[dept]), lists + pages[dept]
            plan[dept] = groups[dept]
    return plan
