"""Waking the events cron when an event is stored (plain function: the inbox and the HTTP push use it).

Invariant: every event committed to the inbox has a trigger of the events cron later than the start of any
cron run that may have missed it. Not ``ir.cron._trigger()``: at the end of a run Odoo deletes the job's
triggers older than the start of that run, and ``fields.Datetime.now()`` is truncated to the second, so an
event stored during a run, in the second it started, would lose its trigger. ``clock_timestamp()`` is the
time of the insert itself, to the microsecond. The NOTIFY once committed wakes a cron thread at once: one
per transaction, however many events it stores (each costs a new connection to the ``postgres`` database;
a Stream batch stores up to 200 events in one transaction)."""

import logging

from odoo.tools import SQL

_logger = logging.getLogger(__name__)

EVENTS_CRON = "ziqi_dingtalk.ir_cron_dingtalk_events"
NOTIFY_PENDING = "ziqi_dingtalk.cron_notify"  # in cr.postcommit.data: this transaction's NOTIFY is queued


def wake_events_cron(env):
    cron = env.ref(EVENTS_CRON, raise_if_not_found=False)
    if not cron:  # deleted by hand: the event is kept (and acknowledged) all the same
        _logger.error("DingTalk events: the cron that applies them is missing (upgrade the module)")
        return
    env.cr.execute(
        SQL(
            """INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, write_uid, create_date, write_date)
               VALUES (%s, clock_timestamp() AT TIME ZONE 'UTC', %s, %s,
                       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')""",
            cron.id,
            env.uid,
            env.uid,
        )
    )
    # a bound method is a new object at each call: the postcommit set would hold (and run) one per event
    if not env.cr.postcommit.data.get(NOTIFY_PENDING):
        env.cr.postcommit.data[NOTIFY_PENDING] = True
        env.cr.postcommit.add(env["ir.cron"]._notifydb)
