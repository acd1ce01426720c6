import collections
import datetime
import hashlib
import json
import logging
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..dingtalk import errors as dt_errors
from ..dingtalk.client import USER_LIST_MAX
from ..dingtalk.crypto import callback_params
from ..dingtalk.events import parse_event

_logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_MINUTES = (1, 5, 15, 60)
BATCH = 50  # events per committed step: short transactions, so a DingTalk retry never waits on one
PREFETCH_WORKERS = 8
# never stored: the verification events' random values and keys of other callback kinds
SECRET_KEYS = {"Random", "TestSuiteKey", "AuthCode", "SuiteTicket", "SuiteKey", "Token", "AesKey"}
# people events whose person Odoo may already know in a department (see _list_plan)
LISTABLE_EVENTS = {"user_modify_org", "user_active_org"}
VERIFICATION_EVENTS = {"check_url", "check_create_suite_url", "check_update_suite_url"}
# Waking the cron (see _wake_cron): callbacks hold this advisory lock shared until they commit; the cron
# takes it alone to decide that the inbox is drained. Two sequences (not transactional, so every
# transaction reads their current value): the round, bumped each time the cron finds the inbox drained,
# and the round in which the cron was last triggered.
WAKE_LOCK = zlib.crc32(b"ziqi_dingtalk.event.wake")
SEQ_ROUND = "ziqi_dingtalk_event_wake_round"
SEQ_TRIGGERED = "ziqi_dingtalk_event_wake_triggered"
DRAINED_CHECK_WAIT = 10  # seconds


class BatchClient:
    """The company's client for one batch of events: what several events of the batch ask for (a person
    named twice, the role list) is fetched once. Still "the current state": read during this batch.

    People can be read two ways, each with its own quota of 20 calls/s: topapi/v2/user/get (one person)
    and topapi/v2/user/list (a department, 100 people a page). ``prefetch`` reads some people through the
    list of the department Odoo knows them in (``by_list``), so that a burst of people events uses both
    quotas; whoever is not found there (moved, left) is read with user/get after all."""

    def __init__(self, client):
        self._client = client
        self._memo = {}
        self._listed = set()  # userids whose payload came from user/list (which may lack manager_userid)

    @staticmethod
    def _outcome(fetch):
        try:
            return True, fetch()
        except dt_errors.APIError as error:
            return False, error

    def prefetch(self, userids=(), dept_ids=(), role_ids=(), by_list=None):
        """Fetch what the batch will ask for concurrently (HTTP only, in threads; each API path stays under
        its rate limit in the client), so applying the events waits on DingTalk once, not once per event.
        ``by_list`` maps DingTalk department ids to the userids (among ``userids``) to look for there."""
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
            self._listed.add(userid)
        # not in the department Odoo knew (moved, left, or the list failed): read them one by one
        self._run({("user", u): (lambda u=u: self._client.user_get(u)) for u in through_list - set(found)})

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
        if key not in self._memo:
            self._memo[key] = self._outcome(fetch)
        ok, value = self._memo[key]
        if not ok:
            raise value
        return value

    def user_get(self, userid):
        """A person's payload: user/get's answer, or their entry in user/list (see ``from_list``)."""
        return dict(self._once(("user", userid), lambda: self._client.user_get(userid)))

    def from_list(self, userid):
        """True when ``user_get(userid)`` came from user/list, which may not carry manager_userid."""
        return userid in self._listed

    def departments_read(self):
        """Ids of the departments DingTalk returned in this batch (the events' and their new parents)."""
        return [key[1] for key, (ok, _value) in self._memo.items() if key[0] == "dept" and ok]

    def department_get(self, dept_id):
        return self._once(("dept", dept_id), lambda: self._client.department_get(dept_id))

    def iter_roles(self):
        return iter(self._once(("roles",), lambda: list(self._client.iter_roles())))

    def iter_role_members(self, role_id):
        return iter(self._once(("members", role_id), lambda: list(self._client.iter_role_members(role_id))))


class CallbackRefused(Exception):
    """A callback that must be refused: ``status`` for the HTTP answer, ``reason`` for the log only."""

    def __init__(self, status, public, reason):
        super().__init__(reason)
        self.status, self.public, self.reason = status, public, reason


class ZiqiDingtalkEvent(models.Model):
    """The event inbox: every DingTalk event is stored here before it is acknowledged, then applied."""

    _name = "ziqi.dingtalk.event"
    _inherit = ["ziqi.dingtalk.event.handlers"]
    _description = "DingTalk Event"
    _order = "id desc"
    _rec_name = "event_type"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    event_type = fields.Char("Event", required=True, readonly=True, index=True)
    event_key = fields.Char(
        required=True, readonly=True, help="DingTalk's eventId, or a hash of the content."
    )
    user_ids = fields.Char("People", readonly=True)
    dept_ids = fields.Char("Departments", readonly=True)
    label_ids = fields.Char("Roles", readonly=True)
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

    _sql_constraints = [
        ("event_key_uniq", "unique(company_id, event_key)", "Each DingTalk event is stored once.")
    ]

    def init(self):
        self.env.cr.execute(
            SQL(
                "CREATE SEQUENCE IF NOT EXISTS %s; CREATE SEQUENCE IF NOT EXISTS %s MINVALUE 0 START 0",
                SQL.identifier(SEQ_ROUND),
                SQL.identifier(SEQ_TRIGGERED),
            )
        )

    # --- receiving (called by the /dingtalk/callback route) ---

    @api.model
    def _receive_http(self, query, body, company_id=None):
        """Verify, decrypt and store a pushed callback; return the encrypted answer DingTalk expects.
        Raises :class:`CallbackRefused` for anything that is not a valid callback for a company here."""
        encrypt = self._callback_encrypt(body)
        signature, timestamp, nonce = callback_params(query)
        if not (signature and timestamp and nonce):
            raise CallbackRefused(400, "bad request", "signature, timestamp or nonce missing")
        company, crypto = self._callback_company(company_id, signature, timestamp, nonce, encrypt)
        self._check_replay(company, timestamp)
        try:
            plaintext = crypto.decrypt(encrypt)
            event = parse_event(plaintext)
        except dt_errors.InvalidReceiver:
            raise CallbackRefused(403, "forbidden", "the receiver id is not this company's") from None
        except (dt_errors.CryptoError, dt_errors.EventError) as error:
            raise CallbackRefused(400, "bad request", f"undecryptable callback: {error}") from None
        corp_id = company.sudo().dingtalk_corp_id
        if event.corp_id and corp_id and event.corp_id != corp_id:
            raise CallbackRefused(403, "forbidden", f"event of another organisation {event.corp_id}")
        if event.type not in VERIFICATION_EVENTS:
            self._store(company, event)
        return crypto.encrypt_response("success")

    @api.model
    def _callback_encrypt(self, body):
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise CallbackRefused(400, "bad request", "the body is not JSON") from None
        encrypt = payload.get("encrypt") if isinstance(payload, dict) else None
        if not isinstance(encrypt, str) or not encrypt:
            raise CallbackRefused(400, "bad request", "the body has no encrypt")
        return encrypt

    @api.model
    def _callback_company(self, company_id, signature, timestamp, nonce, encrypt):
        """The company whose callback token signed this request (constant-time comparison)."""
        companies = self.env["res.company"].sudo()
        companies = companies.browse(company_id).exists() if company_id else companies.search([])
        cryptos = [(company, company._dingtalk_crypto()) for company in companies]
        cryptos = [(company, crypto) for company, crypto in cryptos if crypto]
        if not cryptos:
            raise CallbackRefused(404, "not found", "no company has the DingTalk callback configured")
        for company, crypto in cryptos:
            try:
                crypto.verify(signature, timestamp, nonce, encrypt)
            except dt_errors.InvalidSignature:
                continue
            return company, crypto
        raise CallbackRefused(403, "forbidden", "the signature matches no company's callback token")

    @api.model
    def _check_replay(self, company, timestamp):
        max_age = company.dingtalk_callback_max_age
        try:
            stamp = int(timestamp)
        except ValueError:
            raise CallbackRefused(400, "bad request", "the timestamp is not a number") from None
        seconds = stamp / 1000 if stamp > 10**11 else stamp
        if max_age and abs(time.time() - seconds) > max_age:
            raise CallbackRefused(403, "forbidden", f"timestamp {timestamp} is outside the replay window")

    @api.model
    def _store(self, company, event):
        """Insert the event once (a duplicate is dropped) and wake the cron; returns the new id or None."""
        data = {key: value for key, value in event.raw.items() if key not in SECRET_KEYS}
        key = event.event_id or hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()
        # a retry of a stored event: answered without inserting (an INSERT would wait on the cron's lock)
        self.env.cr.execute(
            "SELECT 1 FROM ziqi_dingtalk_event WHERE company_id = %s AND event_key = %s", [company.id, key]
        )
        if self.env.cr.fetchone():
            return None
        self.env.cr.execute(
            """INSERT INTO ziqi_dingtalk_event (company_id, event_type, event_key, user_ids, dept_ids,
                   label_ids, data, received_at, state, attempts,
                   create_uid, write_uid, create_date, write_date)
               VALUES (%s, %s, %s, %s, %s, %s, %s, now() at time zone 'UTC', 'pending', 0,
                       %s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
               ON CONFLICT (company_id, event_key) DO NOTHING RETURNING id""",
            [
                company.id,
                event.type,
                key,
                ",".join(map(str, event.user_ids)) or None,
                ",".join(map(str, event.dept_ids)) or None,
                ",".join(map(str, event.label_ids)) or None,
                json.dumps(data),
                self.env.uid,
                self.env.uid,
            ],
        )
        row = self.env.cr.fetchone()
        self._wake_cron()
        return row and row[0]

    @api.model
    def _wake_cron(self):
        """Make sure the events cron runs after this transaction commits, triggering it once per round
        rather than once per event (``ir.cron._trigger`` costs a row and a NOTIFY through a new connection
        to the ``postgres`` database: at 50 events/s, most of an answer's time).

        A round ends when the cron, holding WAKE_LOCK alone, finds nothing due (``_check_drained``); this
        transaction holds the lock shared until it ends, so that check either comes before (and then this
        sees the new round and triggers) or after its commit (and then sees its event). The trigger's time
        is the database's clock now, not the transaction's start: Odoo deletes the triggers older than the
        start of the run that just finished, and that run may have started in this same second.
        Returns True when this call triggered the cron."""
        cr = self.env.cr
        cr.execute("SELECT pg_advisory_xact_lock_shared(%s)", [WAKE_LOCK])
        cr.execute(
            SQL(
                "SELECT (SELECT last_value FROM %s), (SELECT last_value FROM %s)",
                SQL.identifier(SEQ_ROUND),
                SQL.identifier(SEQ_TRIGGERED),
            )
        )
        current, triggered = cr.fetchone()
        if current == triggered:
            return False
        self._insert_trigger()
        cr.execute("SELECT setval(%s, %s)", [SEQ_TRIGGERED, current])
        # if this transaction does not commit, the next event must trigger again
        cr.postrollback.add(lambda: cr.execute("SELECT setval(%s, %s)", [SEQ_TRIGGERED, triggered]))
        return True

    def _insert_trigger(self):
        """A trigger of the events cron at the database's clock now, and its NOTIFY once committed."""
        cron = self.env.ref("ziqi_dingtalk.ir_cron_dingtalk_events", raise_if_not_found=False)
        if not cron:  # deleted by hand: the event is kept (and acknowledged) all the same
            _logger.error("DingTalk events: the cron that applies them is missing (upgrade the module)")
            return
        self.env.cr.execute(
            """INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, write_uid, create_date, write_date)
               VALUES (%s, clock_timestamp() AT TIME ZONE 'UTC', %s, %s,
                       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')""",
            [cron.id, self.env.uid, self.env.uid],
        )
        self.env.cr.postcommit.add(self.env["ir.cron"]._notifydb)

    def _new_round(self):
        """Start a new round (see _wake_cron): the next event triggers the cron. On a cursor of its own, as
        this also runs after a failure, when this transaction may be aborted."""
        with self.env.registry.cursor() as cr:
            cr.execute("SELECT nextval(%s)", [SEQ_ROUND])

    def _check_drained(self, processed_ids):
        """True when no event is due besides ``processed_ids`` (this batch's, not committed yet), checked
        under WAKE_LOCK alone in a transaction that starts once the lock is held, so that it sees every
        event whose callback saw the round that is ending; then the next event starts a new round.
        Its own cursor, which writes nothing: the lock is taken and released at the session level."""
        cr = self.env.registry.cursor()
        locked = drained = False
        try:
            # a callback commits within milliseconds of storing; one that hangs must not stop the cron
            cr.execute("SET LOCAL lock_timeout = %s", [f"{DRAINED_CHECK_WAIT}s"])
            try:
                cr.execute("SELECT pg_advisory_lock(%s)", [WAKE_LOCK], log_exceptions=False)
            except psycopg2.errors.LockNotAvailable:
                _logger.warning("DingTalk events: a callback held the inbox for %ss", DRAINED_CHECK_WAIT)
                return False  # not known to be drained: the cron runs again
            locked = True
            # end this transaction (the lock is the session's): the count below gets a snapshot of now
            cr.rollback()
            cr.execute(
                """SELECT count(*) FROM ziqi_dingtalk_event WHERE state = 'pending'
                   AND (next_attempt_at IS NULL OR next_attempt_at <= now() AT TIME ZONE 'UTC')
                   AND id != ALL(%s)""",
                [list(processed_ids)],
            )
            drained = not cr.fetchone()[0]
            if drained:
                cr.execute("SELECT nextval(%s)", [SEQ_ROUND])
        finally:
            cr.rollback()
            if locked:
                cr.execute("SELECT pg_advisory_unlock(%s)", [WAKE_LOCK])
            cr.close()
        return drained

    # --- applying ---

    @api.model
    def _cron_process(self):
        """Apply the due events, oldest first, each on its own; a failing one is retried later."""
        try:
            self._process_due()
        except Exception:
            self._new_round()  # this run ends without checking the inbox: the next event triggers again
            raise

    def _process_due(self):
        self.flush_model(["state", "next_attempt_at"])
        self.env.cr.execute(
            """SELECT id FROM ziqi_dingtalk_event WHERE state = 'pending'
               AND (next_attempt_at IS NULL OR next_attempt_at <= now() at time zone 'UTC')
               ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED""",
            [BATCH],
        )
        events = self.browse([row[0] for row in self.env.cr.fetchall()])
        for company in events.company_id:
            batch = events.filtered(lambda e, c=company: e.company_id == c)
            if not company._dingtalk_is_configured():  # e.g. the AppSecret was removed after the push
                error = UserError(
                    self.env._("DingTalk is not configured for %(company)s.", company=company.name)
                )
                for event in batch:
                    event._failed(error)
                continue
            batch._apply(company)
        remaining = self.search_count(
            [
                ("state", "=", "pending"),
                "|",
                ("next_attempt_at", "=", False),
                ("next_attempt_at", "<=", fields.Datetime.now()),
            ]
        )
        if not remaining and not self._check_drained(events.ids):
            remaining = 1  # events came in during this batch (the next batch counts them)
        if remaining:
            # Odoo runs a job at most 10 batches in a row, and deletes the older triggers of a run that
            # did nothing: a trigger of now keeps the cron due until the inbox is drained
            self._insert_trigger()
        self.env["ir.cron"]._notify_progress(done=len(events), remaining=remaining)

    def _apply(self, company):
        client = BatchClient(company._dingtalk_client())
        userids = {
            u for event in self if event.event_type.startswith("user_") for u in event._ids_of("user_ids")
        }
        client.prefetch(
            userids=userids,
            by_list=self._list_plan(company, userids),
            dept_ids={
                int(d)
                for event in self
                if event.event_type.startswith("org_dept_")
                for d in event._ids_of("dept_ids")
            },
            role_ids={
                int(r)
                for event in self
                if event.event_type.startswith("label_")
                for r in event._ids_of("label_ids")
            },
        )
        # the sync's mapping, run without a run record: an empty run recordset bound to the company
        applier = self.env["ziqi.dingtalk.sync.run"].with_context(dingtalk_company_id=company.id)
        touched = set()
        for event in self:
            handler = getattr(event, f"_handle_{event.event_type}", None)
            try:
                with self.env.cr.savepoint():
                    state, result = handler(client, applier) if handler else ("skipped", "no handler")
                    touched.add(event.event_type.split("_")[0])
            except Exception as error:  # a poison event never blocks the ones behind it
                _logger.debug("DingTalk event #%s failed", event.id, exc_info=True)
                event._failed(error)
                continue
            event.write(
                {"state": state, "result": result, "processed_at": fields.Datetime.now(), "last_error": False}
            )
        if touched & {"user", "org"}:  # what these people and departments can change, not the company
            applier._apply_managers(userids, {str(d) for d in client.departments_read()})
        if touched & {"user", "label"}:
            applier._apply_role_groups()

    def _list_plan(self, company, userids):
        """Which people of the batch to read through the user/list of the department Odoo knows them in:
        whole departments, cheapest first, as long as that lowers the larger of the two call counts
        (user/get: one per person; user/list: one per 100 members of the department). A person who just
        joined is not in Odoo yet, and one who left is not listed: those are read with user/get."""
        listable = {
            u for event in self if event.event_type in LISTABLE_EVENTS for u in event._ids_of("user_ids")
        }
        if not listable:
            return {}
        self.env["hr.employee"].flush_model(["dingtalk_userid", "department_id", "dingtalk_department_ids"])
        self.env.cr.execute(
            """SELECT e.dingtalk_userid, d.dingtalk_id,
                      (SELECT count(*) FROM hr_employee_dingtalk_department_rel r
                       WHERE r.department_id = d.id)
               FROM hr_employee e JOIN hr_department d ON d.id = e.department_id
               WHERE e.company_id = %s AND e.active AND e.dingtalk_userid IN %s
                 AND d.dingtalk_id IS NOT NULL""",
            [company.id, tuple(listable)],
        )
        groups, pages = collections.defaultdict(set), {}
        for userid, dept_key, members in self.env.cr.fetchall():
            if not dept_key.isdigit():
                continue
            groups[int(dept_key)].add(userid)
            pages[int(dept_key)] = max(1, -(-members // USER_LIST_MAX))
        gets, lists, plan = len(userids), 0, {}
        for dept in sorted(groups, key=lambda d: (pages[d] / len(groups[d]), d)):
            if max(gets - len(groups[dept]), lists + pages[dept]) < max(gets, lists):
                gets, lists = gets - len(groups[dept]), lists + pages[dept]
                plan[dept] = groups[dept]
        return plan

    def _failed(self, error):
        message = str(error) or type(error).__name__
        if isinstance(error, dt_errors.APIError) and error.request_id:
            message = f"{message} (request id {error.request_id})"
        attempts = self.attempts + 1
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
        self.write({"state": "pending", "attempts": 0, "next_attempt_at": False, "last_error": False})
        self._wake_cron()
        return True

    def _ids_of(self, fname):
        return [value for value in (self[fname] or "").split(",") if value]
