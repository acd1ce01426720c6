import collections
import datetime
import hashlib
import json
import logging
import time

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, config

from ..compat import constraint, cron_progress, employee_department
from ..dingtalk import errors as dt_errors
from ..dingtalk.batch import BatchClient, BudgetSpent, plan_list_reads
from ..dingtalk.events import manager_changes
from .cron_wake import wake_events_cron
from .import_report import ImportReport

_logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_MINUTES = (1, 5, 15, 60)
BATCH = 50  # events per committed step: short transactions, so a DingTalk retry never waits on one
# A batch's DingTalk reads (20 calls/s per API) must fit its time budget (see _batch_budget): an event naming
# more than EVENT_IDS people, departments and roles is split into parts of EVENT_IDS ids, and a batch takes
# events in order only while their ids stay under BATCH_IDS (at least one event).
EVENT_IDS = 100
BATCH_IDS = 150
ID_FIELDS = ("userid_list", "dept_id_list", "label_id_list")
BATCH_BUDGET = 30  # seconds at most
BATCHES_PER_RUN = 10  # ir.cron runs a job up to 10 batches in a row (MAX_BATCH_PER_CRON_JOB)
# attempts started per event, counted apart from the event's row (see _count_attempts)
ATTEMPT_TABLE = "ziqi_dingtalk_event_attempt"
# the cron's wake-up sequences of 18.0.1.0.0 (each stored event now triggers it): dropped on upgrade
LEGACY_SEQUENCES = ("ziqi_dingtalk_event_wake_round", "ziqi_dingtalk_event_wake_triggered")
DUE = """state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now() AT TIME ZONE 'UTC')"""
# never stored: the verification events' random values and keys of other callback kinds
SECRET_KEYS = {"Random", "TestSuiteKey", "AuthCode", "SuiteTicket", "SuiteKey", "Token", "AesKey"}
# people events whose person Odoo may already know in a department (see _list_plan)
LISTABLE_EVENTS = {"user_modify_org", "user_active_org"}
VERIFICATION_EVENTS = {"check_url", "check_create_suite_url", "check_update_suite_url"}
PEOPLE_EVENTS = ("user_add_org", "user_modify_org", "user_active_org", "user_leave_org")
DEPARTMENT_EVENTS = ("org_dept_create", "org_dept_modify", "org_dept_remove")
ROLE_EVENTS = ("label_user_change", "label_conf_add", "label_conf_modify", "label_conf_del")
# the family handler of each event type that has no ``_handle_<EventType>`` of its own
EVENT_FAMILIES = {
    **dict.fromkeys(PEOPLE_EVENTS, "_handle_people"),
    **dict.fromkeys(DEPARTMENT_EVENTS, "_handle_departments"),
    **dict.fromkeys(ROLE_EVENTS, "_handle_roles"),
    **dict.fromkeys(("org_admin_add", "org_admin_remove"), "_handle_admins"),
}
FAMILY_ORDER = ("_handle_departments", "_handle_people", "_handle_roles", "_handle_admins")


class _OneByOne(Exception):
    """The events of a family could not be applied together: each is applied on its own."""


def _id_list(ids):
    """The stored form of the DingTalk ids an event names: a JSON list of strings, or NULL for none."""
    return json.dumps([str(value) for value in ids]) if ids else None


class ZiqiDingtalkEvent(models.Model):
    """The event inbox: every DingTalk event is stored here before it is acknowledged, then applied."""

    _name = "ziqi.dingtalk.event"
    _description = "DingTalk Event"
    _order = "id desc"
    _rec_name = "event_type"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    event_type = fields.Char("Event", required=True, readonly=True, index=True)
    event_key = fields.Char(
        required=True, readonly=True, help="DingTalk's eventId, or a hash of the content."
    )
    # the DingTalk ids an event names, as strings (JSON lists; shown and searched through the fields below)
    userid_list = fields.Json("DingTalk userid", readonly=True)
    dept_id_list = fields.Json("DingTalk Departments", readonly=True)
    label_id_list = fields.Json("DingTalk Roles", readonly=True)
    people = fields.Char(compute="_compute_named", search="_search_people")
    departments = fields.Char(compute="_compute_named", search="_search_departments")
    roles = fields.Char(compute="_compute_named", search="_search_roles")
    data = fields.Json(readonly=True)
    received_at = fields.Datetime(readonly=True, default=fields.Datetime.now, index=True)
    state = fields.Selection(
        [("pending", "Pending"), ("done", "Applied"), ("skipped", "Skipped"), ("failed", "Failed")],
        required=True,
        default="pending",
        readonly=True,
        index=True,
    )
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(readonly=True, index=True)
    processed_at = fields.Datetime(readonly=True)
    result = fields.Char(readonly=True)
    last_error = fields.Text(readonly=True)

    _event_key_uniq = constraint("unique(company_id, event_key)", "Each DingTalk event is stored once.")

    def init(self):
        self.env.cr.execute(
            SQL("DROP SEQUENCE IF EXISTS %s", SQL(", ").join(map(SQL.identifier, LEGACY_SEQUENCES)))
        )
        self.env.cr.execute(
            SQL(
                """CREATE TABLE IF NOT EXISTS %s (
                       event_id integer PRIMARY KEY REFERENCES ziqi_dingtalk_event(id) ON DELETE CASCADE,
                       started integer NOT NULL)""",
                SQL.identifier(ATTEMPT_TABLE),
            )
        )

    # --- the inbox (HTTP pushes: ziqi.dingtalk.callback) ---

    @api.model
    def _store(self, company, event):
        """Insert the event once and wake the cron; returns the new id, or None for a duplicate (DingTalk's
        retry of a stored event), which triggers nothing."""
        data = {key: value for key, value in event.raw.items() if key not in SECRET_KEYS}
        key = event.event_id or hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()
        # a retry of a stored event: answered without inserting (an INSERT would wait on the cron's lock)
        self.env.cr.execute(
            "SELECT 1 FROM ziqi_dingtalk_event WHERE company_id = %s AND event_key = %s", [company.id, key]
        )
        if self.env.cr.fetchone():
            return None
        self.env.cr.execute(
            """INSERT INTO ziqi_dingtalk_event (company_id, event_type, event_key, userid_list, dept_id_list,
                   label_id_list, data, received_at, state, attempts,
                   create_uid, write_uid, create_date, write_date)
               VALUES (%s, %s, %s, %s, %s, %s, %s, now() at time zone 'UTC', 'pending', 0,
                       %s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
               ON CONFLICT (company_id, event_key) DO NOTHING RETURNING id""",
            [
                company.id,
                event.type,
                key,
                _id_list(event.user_ids),
                _id_list(event.dept_ids),
                _id_list(event.label_ids),
                json.dumps(data),
                self.env.uid,
                self.env.uid,
            ],
        )
        row = self.env.cr.fetchone()
        if row:  # every stored event wakes the cron, so none waits for its fallback interval
            self._insert_trigger()
        return row and row[0]

    def _insert_trigger(self):
        wake_events_cron(self.env)

    # --- applying ---

    @api.model
    def _cron_process(self):
        """One batch: the due events, oldest first, each on its own (a failing one is retried later), within
        a time budget. Odoo runs the next batch at once while ``remaining`` is reported."""
        deadline = time.monotonic() + self._batch_budget()
        events = self._take_batch()
        large = events.filtered(lambda event: event._id_count() > EVENT_IDS)
        large._split()
        finished = large | (events - large)._within_cap()._process(deadline)
        remaining = self._remaining(finished)
        if remaining:
            # Odoo deletes the older triggers of a run that reports nothing done: a trigger of now keeps
            # the cron due while events are waiting
            self._insert_trigger()
        # nothing finished (the due events are locked by another worker): not "remaining", which makes Odoo
        # 19 run the job again at once; the trigger above keeps it due
        cron_progress(self.env, done=len(finished), remaining=remaining if finished else 0)

    @api.model
    def _batch_budget(self):
        """Seconds a batch may take: BATCH_BUDGET, and at most a twelfth of Odoo's real-time limit for a
        cron run, as Odoo runs up to BATCHES_PER_RUN batches of a job in a row within that one limit."""
        limit = config.get("limit_time_real_cron") or 0
        if limit <= 0:
            limit = config.get("limit_time_real") or 0
        return min(BATCH_BUDGET, limit / (BATCHES_PER_RUN + 2)) if limit > 0 else BATCH_BUDGET

    @api.model
    def _take_batch(self):
        self.flush_model(["state", "next_attempt_at"])
        # NO KEY UPDATE: _count_attempts' foreign key check (KEY SHARE, on another cursor) must not wait
        self.env.cr.execute(
            SQL(
                """SELECT id FROM ziqi_dingtalk_event WHERE %s
                   ORDER BY id LIMIT %s FOR NO KEY UPDATE SKIP LOCKED""",
                SQL(DUE),
                BATCH,
            )
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    def _within_cap(self):
        """The first of these events, then the next ones while their ids stay under BATCH_IDS."""
        total, ids = 0, []
        for event in self:
            total += max(1, event._id_count())
            if ids and total > BATCH_IDS:
                break
            ids.append(event.id)
        return self.browse(ids)

    def _split(self):
        """Replace each of these events by parts of at most EVENT_IDS ids: new inbox rows (keys ``<key>#1``,
        ``<key>#2``...) applied like any event, after the events already waiting; the event itself is done."""
        vals_list = []
        for event in self:
            ids = [(fname, value) for fname in ID_FIELDS for value in event._ids_of(fname)]
            parts = [ids[start : start + EVENT_IDS] for start in range(0, len(ids), EVENT_IDS)]
            for number, part in enumerate(parts, 1):
                named = {fname: [v for f, v in part if f == fname] or False for fname in ID_FIELDS}
                vals_list.append(
                    dict(
                        named,
                        company_id=event.company_id.id,
                        event_type=event.event_type,
                        event_key=f"{event.event_key}#{number}",
                        data={"split_from": event.id, "part": number, "parts": len(parts)},
                        received_at=event.received_at,
                    )
                )
            result = self.env._("split into %(count)s parts", count=len(parts))
            event.write({"state": "done", "result": result, "processed_at": fields.Datetime.now()})
        self.create(vals_list)

    def _process(self, deadline):
        """Apply these events; returns those finished (applied, skipped or failed). The first one is always
        applied; the others wait for the next batch once the time budget is spent."""
        if not self:
            return self
        started = self._count_attempts()
        spent = self.filtered(lambda event: started[event.id] > MAX_ATTEMPTS)
        for event in spent:  # killed with the server each time: failed for good, never run again
            error = self.env._(
                "its last attempts did not end: the server stopped them (a time limit or a restart)"
            )
            event._failed(error, started[event.id] - 1)
        untried = self.browse()
        for company in (self - spent).company_id:
            batch = (self - spent).filtered(lambda event, c=company: event.company_id == c)
            if company._dingtalk_is_configured():  # else, e.g. the AppSecret was removed after the push
                untried |= batch._apply(company, started, deadline, first=self[:1])
                continue
            error = UserError(self.env._("DingTalk is not configured for %(company)s.", company=company.name))
            for event in batch:
                event._failed(error, started[event.id])
        untried._uncount_attempts()
        return self - untried

    def _count_attempts(self):
        """Count an attempt of each of these events, committed on a cursor of its own before the work starts,
        so that a run the server kills (its real-time limit) counts too, and an event whose runs are always
        killed ends failed (see _process) instead of running again after every restart. In a table of its
        own, which the cron's transaction never writes: Odoo's transactions are REPEATABLE READ, and could
        not update a row another transaction changed after their snapshot. {event id: attempts started}"""
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    """INSERT INTO %(table)s AS a (event_id, started) SELECT id, 1 FROM unnest(%(ids)s) id
                       ON CONFLICT (event_id) DO UPDATE SET started = a.started + 1
                       RETURNING event_id, started""",
                    table=SQL.identifier(ATTEMPT_TABLE),
                    ids=self.ids,
                )
            )
            return dict(cr.fetchall())

    def _uncount_attempts(self):
        """Give back the attempt counted for these events, which waited for the next batch untried."""
        if self:
            with self.env.registry.cursor() as cr:
                cr.execute(
                    SQL(
                        "UPDATE %s SET started = started - 1 WHERE event_id = ANY(%s)",
                        SQL.identifier(ATTEMPT_TABLE),
                        self.ids,
                    )
                )

    def _apply(self, company, started, deadline, first):
        """Apply these events of ``company``; returns those left untried once the budget was spent."""
        client = BatchClient(company._dingtalk_client(), deadline)
        self._prefetch(client, company)
        importer = self.env["ziqi.dingtalk.importer"]
        untried = self.browse()
        for events in self._in_apply_order():
            if len(events) > 1:
                untried |= events._apply_together(client, started, deadline, first)
            else:
                client.deadline = None if events == first else deadline
                untried |= events._apply_one(client, started)
        applied = self - untried
        touched = {event.event_type.split("_")[0] for event in applied}
        people = applied.filtered(lambda event: event.event_type.startswith("user_"))
        userids = set(people._named("userid_list"))
        if touched & {"user", "org"}:  # what these people and departments can change, not the company
            importer._apply_managers(company, userids, {str(d) for d in client.departments_read()})
        if touched & {"user", "label"}:
            report = ImportReport()
            importer._apply_role_groups(company, report)
            for problem in report.problems:
                _logger.warning("DingTalk %s %s: %s", problem.kind, problem.key, problem.message)
        return untried

    def _in_apply_order(self):
        """These events as groups applied together: the events of each family (see EVENT_FAMILIES) with
        one importer call, departments first, then people, then roles (what a person or role names
        exists first; each event reads DingTalk's current state, so their order within a batch does not
        matter otherwise); then each other event on its own, in order."""
        families = {name: self.browse() for name in FAMILY_ORDER}
        alone = []
        for event in self:
            name = event._handler_name()
            if name in families:
                families[name] |= event
            else:
                alone.append(event)
        return [events for events in families.values() if events] + alone

    def _apply_together(self, client, started, deadline, first):
        """Apply these events of one family with one call of its handler, in one savepoint, within the
        budget; if that fails, runs out of budget or stops at the archive safety threshold, each on its
        own (a poison event never fails the others, the threshold counts each event's leavers as it comes,
        and ``first`` is applied whatever the budget). Returns those left untried."""
        client.deadline = deadline
        report = ImportReport()
        try:
            with self.env.cr.savepoint():
                outcomes = getattr(self, self[0]._handler_name())(client, report)
                if report.stopped:
                    raise _OneByOne()
        except Exception as error:  # any failure: the events are applied one by one
            if not isinstance(error, _OneByOne | BudgetSpent):
                _logger.debug("DingTalk events %s failed together; one by one", self.ids, exc_info=True)
            untried = self.browse()
            for event in self:
                client.deadline = None if event == first else deadline
                untried |= event._apply_one(client, started)
            return untried
        self._record_outcomes(outcomes, report)
        return self.browse()

    def _apply_one(self, client, started):
        """Apply this event on its own, in a savepoint. Returns it when left untried (budget spent)."""
        report = ImportReport()
        try:
            with self.env.cr.savepoint():
                handler = getattr(self, self._handler_name())
                outcomes = handler(client, report)
                if not isinstance(outcomes, dict):  # a ``_handle_<EventType>``: one (state, result)
                    outcomes = {self: outcomes}
        except BudgetSpent:
            return self
        except Exception as error:  # a poison event never blocks the ones behind it
            _logger.debug("DingTalk event #%s failed", self.id, exc_info=True)
            self._failed(error, started[self.id])
            return self.browse()
        self._record_outcomes(outcomes, report)
        return self.browse()

    def _record_outcomes(self, outcomes, report):
        """Record how each event was applied (``outcomes``: event → (state, result)), with the notes of
        ``report`` about the ids it names; a stop at the archive safety threshold fails the event
        (alerted: an admin must look). Events recorded alike are written at once."""
        if report.stopped:
            self.company_id._dingtalk_alert(
                f"[Odoo] DingTalk {self.company_id.name}: {report.problems[-1].message}", throttle=False
            )
        now = fields.Datetime.now()
        alike = collections.defaultdict(list)
        for event, (state, result) in outcomes.items():
            named = {value for fname in ID_FIELDS for value in event._ids_of(fname)}
            notes = "; ".join(
                f"{p.key}: {p.message}" if p.key else p.message
                for p in report.problems
                if not p.key or p.key in named or len(outcomes) == 1
            )
            vals = {
                "state": "failed" if report.stopped else state,
                "result": f"{result} ({notes})"[:500] if notes else result,
                "processed_at": now,
                "last_error": notes[:2000] if report.stopped else False,
            }
            alike[tuple(sorted(vals.items()))].append(event.id)
        for vals, event_ids in alike.items():
            self.browse(event_ids).write(dict(vals))

    def _prefetch(self, client, company):
        def named(prefix, fname):
            return {v for event in self if event.event_type.startswith(prefix) for v in event._ids_of(fname)}

        userids = named("user_", "userid_list")
        client.prefetch(
            userids=userids,
            by_list=self._list_plan(company, userids),
            dept_ids={int(d) for d in named("org_dept_", "dept_id_list")},
            role_ids={int(r) for r in named("label_", "label_id_list")},
        )

    def _list_plan(self, company, userids):
        """Which people of the batch to read through the user/list of the department Odoo knows them in
        (see plan_list_reads). A person who just joined is not in Odoo yet, and one who left is not
        listed: those are read with user/get."""
        listable = {
            u for event in self if event.event_type in LISTABLE_EVENTS for u in event._ids_of("userid_list")
        }
        if not listable:
            return {}
        self.env["hr.employee"].flush_model(["dingtalk_userid", "dingtalk_department_ids"])
        join, department = employee_department(self.env, "e")
        self.env.cr.execute(
            SQL(
                """SELECT e.dingtalk_userid, d.dingtalk_id,
                          (SELECT count(*) FROM hr_employee_dingtalk_department_rel r
                           WHERE r.department_id = d.id)
                   FROM hr_employee e %s JOIN hr_department d ON d.id = %s
                   WHERE e.company_id = %s AND e.active AND e.dingtalk_userid = ANY(%s)
                     AND d.dingtalk_id IS NOT NULL""",
                join,
                department,
                company.id,
                sorted(listable),
            )
        )
        return plan_list_reads(len(userids), self.env.cr.fetchall())

    # --- what each event does ---
    # A handler is ``_handle_<EventType>(client, report)`` returning ``(state, result)``: another module adds
    # an event type by inheriting this model and defining one. The directory's events read the current
    # state from DingTalk (they carry ids only, and may come out of order or twice) through the importer.

    def _handler_name(self):
        name = f"_handle_{self.event_type}"
        return name if hasattr(self, name) else EVENT_FAMILIES.get(self.event_type, "_handle_unknown")

    def _handle_unknown(self, client, report):
        return "skipped", "no handler"

    # The family handlers apply every event of theirs in a batch (``self``) with one importer call and
    # return {event: (state, result)}.

    def _handle_people(self, client, report):
        hints = {}
        for event in self:  # the latest event's word on a person's manager stands
            hints.update(manager_changes((event.data or {}).get("diffInfo")))
        importer = self.env["ziqi.dingtalk.importer"]
        fates = importer._refresh_people(self.company_id, client, self._named("userid_list"), report, hints)
        if report.stopped:
            message = self.env._(
                "Not archived: that many people at once would pass the archive safety threshold. Check "
                "DingTalk, then retry this event (after raising the threshold if they really left)."
            )
            return dict.fromkeys(self, ("failed", message))
        return {event: event._outcome(fates, "userid_list") for event in self}

    def _handle_departments(self, client, report):
        importer = self.env["ziqi.dingtalk.importer"]
        fates = importer._refresh_departments(self.company_id, client, self._named("dept_id_list"), report)
        return {event: event._outcome(fates, "dept_id_list") for event in self}

    def _handle_roles(self, client, report):
        importer = self.env["ziqi.dingtalk.importer"]
        fates = importer._refresh_roles(self.company_id, client, self._named("label_id_list"), report)
        return {event: event._outcome(fates, "label_id_list") for event in self}

    def _handle_admins(self, client, report):
        return dict.fromkeys(
            self, ("skipped", self.env._("DingTalk administrators get no Odoo rights from DingTalk"))
        )

    def _named(self, fname):
        """The ids these events name in ``fname``, each once, in order."""
        return list(dict.fromkeys(value for event in self for value in event._ids_of(fname)))

    def _outcome(self, fates, fname):
        """This event's (state, result), from the fate of each id it names (see importer.FATES)."""
        counted = collections.Counter(fates[key] for key in self._ids_of(fname))
        if counted["outside"] and not (counted["applied"] or counted["archived"]):
            return "skipped", self.env._("outside the app's contacts scope")
        return "done", self.env._(
            "%(updated)s applied, %(archived)s archived",
            updated=counted["applied"],
            archived=counted["archived"],
        )

    def _failed(self, error, attempts):
        """Record a failed attempt: ``attempts`` is the count of attempts so far, this one included, as
        _count_attempts counted it (never counted again here). Retried later, or failed for good."""
        message = str(error) or type(error).__name__
        if isinstance(error, dt_errors.APIError) and error.request_id:
            message = f"{message} (request id {error.request_id})"
        values = {"attempts": attempts, "last_error": message[:2000]}
        if attempts >= MAX_ATTEMPTS:
            values["state"] = "failed"
        else:
            delay = BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1]
            values["next_attempt_at"] = fields.Datetime.now() + datetime.timedelta(minutes=delay)
        _logger.warning(
            "DingTalk event #%s (%s) failed, attempt %s: %s", self.id, self.event_type, attempts, message
        )
        self.write(values)
        if values.get("state") == "failed":
            self.company_id._dingtalk_alert(
                key=f"event:{self.event_type}",
                record=self,
                text=self.env._(
                    "[Odoo] DingTalk event %(type)s #%(id)s could not be applied after %(attempts)s "
                    "attempts: %(error)s",
                    type=self.event_type,
                    id=self.id,
                    attempts=attempts,
                    error=message[:300],
                ),
            )

    def action_retry(self):
        self.env.cr.execute(
            SQL("DELETE FROM %s WHERE event_id = ANY(%s)", SQL.identifier(ATTEMPT_TABLE), self.ids)
        )
        self.write({"state": "pending", "attempts": 0, "next_attempt_at": False, "last_error": False})
        self._insert_trigger()
        return True

    def _remaining(self, finished):
        """How many events are due after this batch. When none are in its snapshot, those committed since,
        on a cursor of its own: Odoo deletes at the end of this run the triggers older than its start,
        such as that of an event stored before the run but committed after this batch began."""
        remaining = self.search_count(
            [
                ("state", "=", "pending"),
                "|",
                ("next_attempt_at", "=", False),
                ("next_attempt_at", "<=", fields.Datetime.now()),
            ]
        )
        if remaining:
            return remaining
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "SELECT count(*) FROM ziqi_dingtalk_event WHERE %s AND id != ALL(%s)",
                    SQL(DUE),
                    finished.ids,
                )
            )
            return cr.fetchone()[0]

    @api.depends(*ID_FIELDS)
    def _compute_named(self):
        for event in self:
            event.people = ", ".join(event._ids_of("userid_list"))
            event.departments = ", ".join(event._ids_of("dept_id_list"))
            event.roles = ", ".join(event._ids_of("label_id_list"))

    def _search_people(self, operator, value):
        return self._search_ids("userid_list", operator, value)

    def _search_departments(self, operator, value):
        return self._search_ids("dept_id_list", operator, value)

    def _search_roles(self, operator, value):
        return self._search_ids("label_id_list", operator, value)

    def _search_ids(self, fname, operator, value):
        """Events naming an id (``=``, ``in``) or an id containing ``value`` (``ilike``)."""
        column = SQL.identifier(self._table, fname)
        if operator in ("=", "in") and value:
            # Odoo 19 hands ``=`` over as ``in`` with a collection of its own
            values = [value] if isinstance(value, str) else [str(v) for v in value]
            condition = SQL("%s ?| %s::text[]", column, values)
        elif operator == "ilike" and isinstance(value, str):
            condition = SQL("%s::text ILIKE %s", column, f"%{value}%")
        else:
            raise UserError(self.env._("Search DingTalk ids with “contains” or “is equal to”."))
        query = self._search([])
        query.add_where(condition)
        return [("id", "in", query)]

    def _id_count(self):
        return sum(len(self._ids_of(fname)) for fname in ID_FIELDS)

    def _ids_of(self, fname):
        return list(self[fname] or ())
