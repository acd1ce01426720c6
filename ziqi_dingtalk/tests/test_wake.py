"""How a stored event wakes the events cron: each stored event inserts a trigger of it, whatever the cron did
before (never ran, crashed, found the inbox empty), and that trigger outlives the run that may have missed
the event.

These tests use real, separate database connections (a TransactionCase's ``registry.cursor()`` is not the
test's transaction), because what they check is what committed transactions leave for the cron. Whatever
they commit is removed again."""

import json
import uuid

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged

from ..compat import ODOO_19
from ..dingtalk.events import parse_event


class CommittedEventsCase(TransactionCase):
    """Events stored and committed as the callback route stores them, removed again after each test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cron = cls.env.ref("ziqi_dingtalk.ir_cron_dingtalk_events")

    def setUp(self):
        super().setUp()
        self.keys = []
        self.addCleanup(self.remove_committed)
        with self.registry.cursor() as cr:  # no trigger left by anything else: this test counts them
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [self.cron.id])

    def remove_committed(self):
        with self.registry.cursor() as cr:
            cr.execute(
                "DELETE FROM ziqi_dingtalk_event WHERE split_part(event_key, '#', 1) = ANY(%s)", [self.keys]
            )
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [self.cron.id])

    def event(self, key=None):
        key = key or uuid.uuid4().hex
        self.keys.append(key)
        return parse_event(json.dumps({"EventType": "user_modify_org", "userId": ["wake1"], "eventId": key}))

    def store(self, event=None):
        """What the callback route does once the request is verified, in a transaction of its own."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return env["ziqi.dingtalk.event"]._store(
                env["res.company"].browse(self.env.company.id), event or self.event()
            )

    def run_cron(self, commit=True):
        """One batch of the events cron on its own transaction; ``commit=False``: the run crashed (or was
        killed) and nothing of its transaction is kept."""
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["ziqi.dingtalk.event"]._cron_process()
            if not commit:
                cr.rollback()

    def committed_triggers(self):
        with self.registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s", [self.cron.id])
            return cr.fetchone()[0]


@tagged("post_install", "-at_install")
class TestWakeCron(CommittedEventsCase):
    def test_each_stored_event_triggers_the_cron_at_the_clock(self):
        for _ in range(3):
            self.assertTrue(self.store())
        self.assertEqual(self.committed_triggers(), 3, "one trigger per stored event")
        with self.registry.cursor() as cr:
            cr.execute(
                """SELECT bool_and(call_at > now() AT TIME ZONE 'UTC' - interval '1 minute'),
                          bool_and(call_at <> date_trunc('second', call_at))
                   FROM ir_cron_trigger WHERE cron_id = %s""",
                [self.cron.id],
            )
            self.assertEqual(cr.fetchone(), (True, True), "at the clock's time, to the microsecond")

    def test_a_duplicate_triggers_nothing(self):
        event = self.event()
        self.assertTrue(self.store(event))
        self.assertIsNone(self.store(event), "DingTalk's retry of a stored event is not stored again")
        self.assertEqual(self.committed_triggers(), 1)

    def test_the_first_events_of_a_fresh_database_each_trigger(self):
        """Before any run of the cron (nothing ever found the inbox empty), every event still triggers."""
        self.store()
        self.store()
        self.assertEqual(self.committed_triggers(), 2)

    def test_after_a_crashed_or_a_finished_run_the_next_event_triggers(self):
        self.store()
        self.run_cron(commit=False)  # crashed: its transaction is gone, the event still pending
        self.store()
        self.assertEqual(self.committed_triggers(), 2)
        self.run_cron()  # the company has no DingTalk app: both fail and wait for their retry
        with self.registry.cursor() as cr:  # the end of the run: Odoo deletes the triggers it served
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [self.cron.id])
        self.store()
        self.assertEqual(self.committed_triggers(), 1)

    def test_a_trigger_outlives_the_end_of_a_run_that_started_before_it(self):
        """Odoo ends a run by deleting the job's triggers older than the run's start (its transaction's
        now()). An event stored during the run, in the same second, keeps its trigger."""
        with self.registry.cursor() as cron_cr:
            cron_cr.execute("SELECT * FROM ir_cron WHERE id = %s", [self.cron.id])
            job = cron_cr.dictfetchall()[0]  # the run starts: its transaction's now() is set
            self.store()
            cron = api.Environment(cron_cr, SUPERUSER_ID, {})["ir.cron"]
            # where each version deletes the job's triggers it served (19: up to the run's start second)
            if ODOO_19:
                cron._clear_schedule(job)
            else:
                cron._reschedule_later(job)
        self.assertEqual(self.committed_triggers(), 1, "the event's trigger is kept: the cron runs again")

    def test_retrying_an_event_wakes_the_cron(self):
        event_id = self.store()
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [self.cron.id])
            cr.execute(
                "UPDATE ziqi_dingtalk_event SET state = 'failed', attempts = 5 WHERE id = %s", [event_id]
            )
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["ziqi.dingtalk.event"].browse(event_id).action_retry()
        self.assertEqual(self.committed_triggers(), 1)
