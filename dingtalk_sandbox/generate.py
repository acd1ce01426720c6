"""Generate a realistic organisation from counts: fast enough for 100,000 users / 3,000 departments."""

import random
import string

from . import avatars, names
from .org import Org, User

MAX_DEPTH = 6
_ALNUM = string.ascii_letters + string.digits
_DAY_MS = 86_400_000
_HIRED_FROM = 1_262_275_200_000  # 2010-01-01 00:00 +08:00, in ms
_HIRED_DAYS = 5_400


NOT_ACTIVATED = 0.04  # share of staff who have not activated DingTalk yet (active: false)
ACCESS_LIMITED = 0.02  # share of staff whose visibility is limited (hidden from user/list by default)
REPORTS_TO_TEAM_LEAD = 0.3  # share of a bigger department's staff whose direct manager is not its leader
NO_MANAGER = 0.03  # share of staff without a direct manager (user/get then has no manager_userid)


def generate(
    users=100,
    departments=10,
    roles=12,
    seed=0,
    leavers=0,
    corp_id=None,
    app=None,
    not_activated=NOT_ACTIVATED,
    access_limited=ACCESS_LIMITED,
    out_of_scope=0,
    reports_to_team_lead=REPORTS_TO_TEAM_LEAD,
    no_manager=NO_MANAGER,
):
    """Build an ``Org`` with ``users`` staff (plus ``leavers`` who left), ``departments`` departments (root
    included) and ``roles`` roles spread over role groups. A share of the staff has not activated DingTalk
    (``active: false`` in user/get and user/list: 是否激活了钉钉, still staff) and a share is access-limited
    (left out of v2/user/list unless ``contain_access_limit``): [KB:API/0056-query-user-details,
    API/0062-queries-the-complete-information-of-a-department-user]; dingtalk-protocol.md §9.1, §9.4.
    Direct managers: see :func:`_direct_managers`. ``out_of_scope`` departments are left out of the app's
    contacts scope (:func:`_restrict_scope`); by default the scope is the whole organisation."""
    rng = random.Random(seed)
    org = Org(corp_id or "dingsandboxcorp0001", app=app)
    _departments(org, rng, max(1, departments))
    people = _people(org, rng, users + leavers)
    _place(org, rng, people[:users])
    for user in people[users:]:
        user.left = True
        user.dept_id_list = [rng.choice(list(org.depts))]
        org.add_user(user)
    _managers(org, rng)
    _roles(org, rng, roles, people[:users])
    _flag_people(people[:users], random.Random(seed + 7919), not_activated, access_limited)
    avatars.assign(people, random.Random(seed + 15_485_863))  # most have a photo (avatars.py)
    _direct_managers(org, random.Random(seed + 104_729), reports_to_team_lead, no_manager)
    if out_of_scope:
        _restrict_scope(org, random.Random(seed + 1_299_709), out_of_scope)
    return org


def _flag_people(people, rng, not_activated, access_limited):
    """Mark some staff as not activated and some as access-limited (never the boss); a random generator of
    its own, so that the rest of an organisation of a given seed does not change."""
    for user in people:
        if user.boss:
            continue
        user.active = rng.random() >= not_activated
        user.access_limited = rng.random() < access_limited


def _departments(org, rng, count):
    org.add_dept({"dept_id": 1, "name": org.corp_name, "order": 0})
    order = [1]
    depth = {1: 0}
    used = {1: set()}
    next_id = 100_000_000 + rng.randrange(1_000_000)
    for i in range(1, count):
        parent = order[int(len(order) * rng.random() ** 1.6)]
        if parent == 1 and len(org.children[1]) >= len(names.TOP_DEPTS):
            parent = rng.choice(org.children[1])
        while depth[parent] >= MAX_DEPTH:
            parent = org.depts[parent]["parent_id"]
        name = _dept_name(rng, depth[parent], used[parent])
        next_id += rng.randrange(1, 5000)
        org.add_dept(
            {
                "dept_id": next_id,
                "name": name,
                "parent_id": parent,
                "order": i,
                "create_dept_group": rng.random() < 0.3,
                "auto_add_user": rng.random() < 0.3,
            }
        )
        order.append(next_id)
        depth[next_id] = depth[parent] + 1
        used[next_id] = set()


def _dept_name(rng, parent_depth, used):
    if parent_depth == 0:
        base = names.TOP_DEPTS[len(used) % len(names.TOP_DEPTS)]
    elif rng.random() < 0.5:
        base = rng.choice(names.REGIONS) + rng.choice(names.SUB_DEPTS)
    else:
        base = rng.choice(names.SUB_DEPTS)
    name, n = base, 1
    while name in used:  # sibling names are unique in DingTalk
        n += 1
        name = "%s%d" % (base, n)
    used.add(name)
    return name


def _people(org, rng, count):
    surnames = names.SURNAMES
    weights = [1.0 / (i + 3) for i in range(len(surnames))]
    picked_surnames = rng.choices(surnames, weights=weights, k=count)
    given = names.GIVEN
    mobiles, unionids, out = set(), set(), []
    base = rng.randrange(10**8, 9 * 10**8)
    for i in range(count):
        surname, sur_py = picked_surnames[i]
        first = rng.choice(given)
        if rng.random() < 0.7:
            second = rng.choice(given)
            name, pinyin = surname + first[0] + second[0], sur_py + "." + first[1] + second[1]
        else:
            name, pinyin = surname + first[0], sur_py + "." + first[1]
        mobile = "1%d%09d" % (rng.choice((3, 5, 7, 8, 9)), rng.randrange(10**9))
        while mobile in mobiles:
            mobile = "1%d%09d" % (rng.choice((3, 5, 7, 8, 9)), rng.randrange(10**9))
        mobiles.add(mobile)
        unionid = "".join(rng.choices(_ALNUM, k=24)) + "iE"
        while unionid in unionids:
            unionid = "".join(rng.choices(_ALNUM, k=24)) + "iE"
        unionids.add(unionid)
        job_number = "%06d" % (i + 1)
        out.append(
            User(
                userid="0%09d%06d" % (base, i),
                unionid=unionid,
                name=name,
                mobile=mobile,
                state_code="86",
                email="%s%s@sandbox-corp.cn" % (pinyin, job_number[-4:]),
                title=rng.choice(names.TITLES),
                job_number=job_number,
                work_place=rng.choice(names.WORK_PLACES),
                hired_date=_HIRED_FROM + rng.randrange(_HIRED_DAYS) * _DAY_MS,
            )
        )
    return out


def _place(org, rng, people):
    dept_ids = list(org.depts)
    non_root = dept_ids[1:] or dept_ids
    for i, user in enumerate(people):
        # one person per department first (so each has someone to lead it), then at random
        primary = non_root[i] if i < len(non_root) else rng.choice(dept_ids)
        depts = [primary]
        if rng.random() < 0.1 and len(dept_ids) > 2:
            other = rng.choice(non_root)
            if other != primary:
                depts.append(other)
        user.dept_id_list = depts
        org.add_user(user)
    if people:
        boss = people[-1] if len(people) > len(non_root) else people[0]
        _move(org, boss, [1])
        boss.boss = boss.admin = True
        boss.title = "总经理"


def _move(org, user, dept_ids):
    for dept_id in user.dept_id_list:
        org.members[dept_id].remove(user.userid)
    user.dept_id_list = list(dept_ids)
    for dept_id in dept_ids:
        org.members[dept_id].append(user.userid)


def _managers(org, rng):
    for dept_id, dept in org.depts.items():
        members = org.members[dept_id]
        if not members:
            continue
        leaders = (
            [members[0]] if dept_id != 1 else [u for u in members if org.users[u].boss][:1] or members[:1]
        )
        if len(members) > 20 and rng.random() < 0.2:
            leaders.append(members[1])
        dept["dept_manager_userid_list"] = leaders
        dept["org_dept_owner"] = leaders[0]
        for userid in leaders:
            user = org.users[userid]
            if not user.boss:
                user.title = rng.choice(names.MANAGER_TITLES)
    for user in org.users.values():
        if user.left:
            continue
        user.manager_userid = _manager_of(org, user)


def _manager_of(org, user):
    """The nearest leader above the person: the leader of their first department, or for a leader the leader
    of the nearest department above the highest one they lead. So co-leaders do not report to each other
    and a chain of managers always climbs the tree: it never loops."""
    led = org.leader_depts(user.userid)
    dept_id = min(led, key=org.depth) if led else user.dept_id_list[0]
    while True:
        leaders = org.depts[dept_id]["dept_manager_userid_list"]
        if leaders and user.userid not in leaders:
            return leaders[0]
        if dept_id == 1:
            return None
        dept_id = org.depts[dept_id]["parent_id"]


def _direct_managers(org, rng, reports_to_team_lead, no_manager):
    """Direct managers (直属主管) are a field of each person, set by hand, not the department leader: user/get
    returns ``manager_userid`` only "when 直属主管 has a value in the person's profile"
    [KB:API/0056-query-user-details]. Besides the leaders, a department of four or more has a team lead
    whom a share of colleagues report to, and a share of all staff has no direct manager. A generator of
    its own (no cycles: team leads and leaders keep the nearest leader above), so that the rest of an
    organisation of a given seed does not change."""
    leaders = {userid for dept in org.depts.values() for userid in dept["dept_manager_userid_list"]}
    for dept_id, members in org.members.items():
        staff = [u for u in members if u not in leaders and org.users[u].dept_id_list[0] == dept_id]
        lead = staff[0] if len(staff) >= 4 else None
        for userid in staff:
            roll = rng.random()
            if roll < no_manager:
                org.users[userid].manager_userid = None
            elif lead and userid != lead and roll < no_manager + reports_to_team_lead:
                org.users[userid].manager_userid = lead


def _restrict_scope(org, rng, count):
    """Leave ``count`` departments out of the app's contacts scope. A department in the scope covers the
    ones below it (the whole organisation is ``authed_dept: [1]``,
    [KB:API/0053-obtain-corpsecret-authorization-scope]), so the departments outside are a top part of the
    tree: the root and departments whose parent is outside too. The scope is then the children of those
    that are in, plus by name (``authed_user``) one person whose departments are all outside, if any."""
    outside, frontier = {1}, list(org.children[1])
    while len(outside) < count and frontier:
        dept_id = frontier.pop(rng.randrange(len(frontier)))
        outside.add(dept_id)
        frontier.extend(org.children[dept_id])
    granted = [child for dept_id in outside for child in org.children[dept_id] if child not in outside]
    hidden = {u for d in outside for u in org.members[d] if set(org.users[u].dept_id_list) <= outside}
    org.set_scope(granted, [rng.choice(sorted(hidden))] if hidden else [])


def _roles(org, rng, count, people):
    role_id = 1_000_000_000 + rng.randrange(10**8)
    made, round_no = 0, 0
    while made < count:
        for group_name, role_names in names.ROLE_GROUPS:
            if made >= count:
                break
            suffix = "" if round_no == 0 else str(round_no + 1)
            role_id += rng.randrange(1, 1000)
            group = org.add_group(role_id, group_name + suffix)
            for role_name in role_names:
                if made >= count:
                    break
                role_id += rng.randrange(1, 1000)
                size = min(len(people), rng.randrange(1, max(2, min(60, len(people) // 4))))
                members = [u.userid for u in rng.sample(people, size)] if people else []
                org.add_role(role_id, role_name, group["groupId"], members)
                made += 1
        round_no += 1
