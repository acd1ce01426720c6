"""Generate a realistic organisation from counts: fast enough for 100,000 users / 3,000 departments."""

import random
import string

from . import names
from .org import Org, User

MAX_DEPTH = 6
_ALNUM = string.ascii_letters + string.digits
_DAY_MS = 86_400_000
_HIRED_FROM = 1_262_275_200_000  # 2010-01-01 00:00 +08:00, in ms
_HIRED_DAYS = 5_400


NOT_ACTIVATED = 0.04  # share of staff who have not activated DingTalk yet (active: false)
ACCESS_LIMITED = 0.02  # share of staff whose visibility is limited (hidden from user/list by default)


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
):
    """Build an ``Org`` with ``users`` staff (plus ``leavers`` who left), ``departments`` departments (root
    included) and ``roles`` roles spread over role groups. A share of the staff has not activated DingTalk
    (``active: false`` in user/get and user/list: 是否激活了钉钉, still staff) and a share is access-limited
    (left out of v2/user/list unless ``contain_access_limit``): [KB:API/0056-query-user-details,
    API/0062-queries-the-complete-information-of-a-department-user]; dingtalk-protocol.md §9.1, §9.4."""
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
    dept_id = user.dept_id_list[0]
    while True:
        leaders = org.depts[dept_id]["dept_manager_userid_list"]
        boss = next((u for u in leaders if u != user.userid), None)
        if boss:
            return boss
        if dept_id == 1:
            return None
        dept_id = org.depts[dept_id]["parent_id"]


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
