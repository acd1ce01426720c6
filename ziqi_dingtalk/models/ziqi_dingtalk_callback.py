"""DingTalk's HTTP push (事件订阅 HTTP 推送): a pushed callback verified, decrypted and stored in the inbox
(ziqi.dingtalk.event), and the pushes DingTalk gave up on after its retries fetched back from it."""

import dataclasses
import datetime
import json
import logging
import time

from odoo import api, fields, models
from odoo.tools import SQL

from ..dingtalk import errors as dt_errors
from ..dingtalk.crypto import callback_params
from ..dingtalk.events import fingerprints, parse_event, parse_failed_event
from .ziqi_dingtalk_event import VERIFICATION_EVENTS

_logger = logging.getLogger(__name__)

FAILED_PAGES = 50  # pages of failed pushes (200 each) pulled per company and run; the next run goes on
FAILED_MATCH_WINDOW = datetime.timedelta(minutes=15)  # a push is stored this close to its event time
# get_call_back_failed_result is not exempt from the monthly call quota (a standard-edition organisation has
# 5,000 calls a month, KB API/1433, API/1432): a company's failed pushes are pulled each minute only for a
# while after Odoo starts (pushes failed while it was down) and after a pull that found some or failed;
# otherwise every half hour, about 1,500 calls a month.
FAILED_PULL_FAST = datetime.timedelta(minutes=10)
FAILED_PULL_QUIET = datetime.timedelta(minutes=30)
PROCESS_STARTED = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # when this Odoo process loaded us


class CallbackRefused(Exception):
    """A callback that must be refused: ``status`` for the HTTP answer, ``reason`` for the log only."""

    def __init__(self, status, public, reason):
        super().__init__(reason)
        self.status, self.public, self.reason = status, public, reason


class ZiqiDingtalkCallback(models.AbstractModel):
    _name = "ziqi.dingtalk.callback"
    _description = "DingTalk HTTP Push"

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
        except (dt_errors.CryptoError, dt_errors.EventError, RecursionError) as error:
            raise CallbackRefused(400, "bad request", f"undecryptable callback: {error}") from None
        corp_id = company.sudo().dingtalk_corp_id
        if event.corp_id and corp_id and event.corp_id != corp_id:
            raise CallbackRefused(403, "forbidden", f"event of another organisation {event.corp_id}")
        if event.type not in VERIFICATION_EVENTS:
            self.env["ziqi.dingtalk.event"]._store(company, event)
        return crypto.encrypt_response("success")

    @api.model
    def _callback_encrypt(self, body):
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise CallbackRefused(400, "bad request", "the body is not JSON") from None
        except RecursionError:
            raise CallbackRefused(400, "bad request", "the body is JSON nested too deep") from None
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

    # --- pushes DingTalk gave up on ---

    @api.model
    def _cron_pull_failed(self):
        """Store the pushes DingTalk gave up on after its retries (protocol §2.3, §9.6) for each company whose
        HTTP push is configured; they are applied like pushed events. Run every minute, and at the first poll
        of the cron threads after Odoo starts: a job whose nextcall passed while the server was down is due
        at once."""
        companies = self.env["res.company"]._dingtalk_configured_companies()
        now = fields.Datetime.now()
        # Stream mode redelivers over its connection: the failed list is that of HTTP pushes
        http = companies.filtered(lambda company: company.dingtalk_event_delivery == "http")
        for company in http.filtered(lambda company: company._dingtalk_crypto()):
            if self._failed_pull_due(company, now):
                pulled, _new, failed = self._pull_failed(company)
                values = {"dingtalk_failed_pulled_at": now}
                if pulled or failed:
                    values["dingtalk_failed_fast_until"] = now + FAILED_PULL_FAST
                company.sudo().write(values)

    @api.model
    def _failed_pull_due(self, company, now):
        """Pull each minute (each run of the cron) while fast, else once per FAILED_PULL_QUIET."""
        fast_until = max(
            PROCESS_STARTED + FAILED_PULL_FAST, company.dingtalk_failed_fast_until or PROCESS_STARTED
        )
        last = company.dingtalk_failed_pulled_at
        return now < fast_until or not last or now >= last + FAILED_PULL_QUIET

    @api.model
    def _pull_failed(self, company):
        """Page through ``company``'s failed pushes until ``has_more`` is false; returns (pulled, new,
        failed): ``failed`` when DingTalk answered an error or a page could not be stored.

        Invariant: every event DingTalk handed out is in the inbox, committed, before DingTalk is asked for
        the next page. DingTalk forgets what it answered (each call clears the list the previous call got,
        KB EV/0230), so the cron's transaction, which may still roll back (a later error, the real-time
        limit), cannot hold them: each page is stored and committed on a cursor of its own, and only then is
        the next page asked for. An error answer handed nothing out: DingTalk keeps those events and the
        next run asks again."""
        client = company._dingtalk_client()
        pulled = new = 0
        failed = False
        for _page in range(FAILED_PAGES):
            try:
                answer = client.get_call_back_failed_result()
            except dt_errors.DingTalkError as error:
                self._failed_pull_error(company, error)
                failed = True
                break
            entries = answer.get("failed_list") or []
            pulled += len(entries)
            stored = self._store_failed_page(company, entries)
            if stored is None:  # not committed: alerted, and no further page is put at risk
                failed = True
                break
            new += stored
            if not (answer.get("has_more") and entries):
                break
        if pulled:
            _logger.info("DingTalk failed pushes of %s: %s pulled, %s new", company.name, pulled, new)
        return pulled, new, failed

    @api.model
    def _store_failed_page(self, company, entries):
        """Store one page on a cursor of its own, committed on return; how many events were new, or None when
        the page could not be committed (its events' types and ids are logged for the record)."""
        if not entries:
            return 0
        try:
            with self.env.registry.cursor() as cr:
                callback = self.env(cr=cr)[self._name].sudo()
                return callback._store_failed(company.with_env(callback.env), entries)
        except Exception:  # DingTalk no longer holds these: say what they were, loudly
            ids = [{k: v for k, v in entry.items() if k != "event_time"} for entry in entries[:200]]
            _logger.exception("DingTalk failed pushes of %s could not be stored: %s", company.name, ids)
            company._dingtalk_alert(
                self.env._(
                    "[Odoo] %(count)s DingTalk events of %(company)s, fetched from DingTalk's list of failed "
                    "pushes, could not be stored (see the server log). Run a full sync to catch up.",
                    count=len(entries),
                    company=company.name,
                ),
                key="failed_pushes:store",
                throttle=False,
            )
            return None

    @api.model
    def _store_failed(self, company, entries):
        """Store these failed_list entries once each: an event that was pushed and stored too (DingTalk got no
        valid answer in time, then gave up) gets the stored push's key, hence is not stored again."""
        corp_id = company.sudo().dingtalk_corp_id
        events = []
        for entry in entries:
            try:
                event = parse_failed_event(entry)
            except dt_errors.EventError as error:
                _logger.warning("DingTalk failed push of %s skipped: %s", company.name, error)
                continue
            if event.corp_id and corp_id and event.corp_id != corp_id:
                _logger.warning("DingTalk failed push of another organisation %s skipped", event.corp_id)
            elif event.type not in VERIFICATION_EVENTS:
                events.append(event)
        known = self._stored_names(company, events)
        Inbox, new = self.env["ziqi.dingtalk.event"], 0
        for event in events:
            names = fingerprints(event)
            key = next((known[name] for name in sorted(names) if name in known), None) or min(names)
            new += bool(Inbox._store(company, dataclasses.replace(event, event_id=key)))
            known.update(dict.fromkeys(names, key))  # the same event twice in one page
        return new

    @api.model
    def _stored_names(self, company, events):
        """{fingerprint: event_key} of the stored events that may be these: same types and ids, received
        around their event time. A failed_list entry has no eventId (KB API/0015): events are matched on
        what a push and an entry share (dingtalk.events.fingerprints)."""
        stamps = [event.timestamp for event in events if event.timestamp]
        if not events or not stamps:
            return {}
        ids = sorted(
            {str(v) for event in events for v in (*event.user_ids, *event.dept_ids, *event.label_ids)}
        )

        def utc(stamp):
            return datetime.datetime.fromtimestamp(stamp / 1000, datetime.UTC).replace(tzinfo=None)

        self.env.cr.execute(
            SQL(
                """SELECT event_key, data FROM ziqi_dingtalk_event
                    WHERE company_id = %s AND event_type = ANY(%s) AND received_at BETWEEN %s AND %s
                      AND (userid_list ?| %s::text[] OR dept_id_list ?| %s::text[]
                           OR label_id_list ?| %s::text[]
                           OR COALESCE(userid_list, dept_id_list, label_id_list) IS NULL)""",
                company.id,
                sorted({event.type for event in events}),
                utc(min(stamps)) - FAILED_MATCH_WINDOW,
                utc(max(stamps)) + FAILED_MATCH_WINDOW,
                ids,
                ids,
                ids,
            )
        )
        known = {}
        for key, data in self.env.cr.fetchall():
            data = data or {}
            try:
                stored = parse_failed_event(data) if "call_back_tag" in data else parse_event(data)
            except dt_errors.EventError:  # a part of a split event: its whole is matched instead
                continue
            known.update(dict.fromkeys(fingerprints(stored), key))
        return known

    @api.model
    def _failed_pull_error(self, company, error):
        """Log and alert (once per alert period and kind) that the failed pushes could not be fetched."""
        message = company._dingtalk_error_message(error)
        _logger.warning("DingTalk failed pushes of %s could not be fetched: %s", company.name, message)
        if isinstance(error, dt_errors.TransportError):  # an answer that never arrived may have held events
            text = self.env._(
                "[Odoo] DingTalk's list of the events it could not push to %(company)s could not be fetched: "
                "%(error)s. Events in a lost answer are gone from DingTalk: run a full sync if this lasts.",
                company=company.name,
                error=message,
            )
        else:
            text = self.env._(
                "[Odoo] DingTalk's list of the events it could not push to %(company)s could not be fetched: "
                "%(error)s. DingTalk keeps them; Odoo asks again every minute.",
                company=company.name,
                error=message,
            )
        key = f"failed_pushes:{type(error).__name__}:{getattr(error, 'errcode', '')}"
        company._dingtalk_alert(text, key=key)
