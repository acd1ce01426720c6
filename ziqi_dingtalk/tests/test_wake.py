"""How a stored event wakes the events cron: once per round, never lost between two rounds.

These tests use real, separate database connections (a TransactionCase's ``registry.cursor()`` is not the
test's transaction), because what they check is what two concurrent transactions see of each other.
Whatever they commit is removed again."""

import json
import threading
import uuid
from unittest.mock import patch

import psycopg2

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..dingtalk.events import parse_event
from ..models import ziqi_dingtalk_event as event_module


@tagged("post_install", "-at_install")
class TestWakeCron(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cron = cls.env.ref("ziqi_dingtalk.ir_cron_dingtalk_events")

    def setUp(self):
        super().setUp()
        self.keys = []
        self.addCleanup(self.remove_committed)

    def remove_committed(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM ziqi_dingtalk_event WHERE event_key = ANY(%s)", [self.keys])
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [self.cron.id])

    def event(self):
        key = uuid.uuid4().hex
        self.keys.append(key)
        return parse_event(json.dumps({"EventType": "user_modify_org", "userId": ["wake1"], "eventId": key}))

    def store(self, env):
        """What the callback route does once the request is verified: store the event, wake the cron."""
        Event = env["ziqi.dingtalk.event"]
        return Event._store(env["res.company"].browse(self.env.company.id), self.event())

    def triggers(self, cr):
        cr.execute("SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s", [self.cron.id])
        return cr.fetchone()[0]

    def callbacks(self, count):
        """``count`` callbacks one after another, each storing an event and committing; their ids."""
        ids = []
        for _ in range(count):
            with self.registry.cursor() as cr:
                ids.append(self.store(api.Environment(cr, SUPERUSER_ID, {})))
        return ids

    def committed_triggers(self):
        with self.registry.cursor() as cr:
            return self.triggers(cr)

    def test_events_trigger_the_cron_once_per_round(self):
        Event = self.env["ziqi.dingtalk.event"]
        Event._new_round()
        stored = self.callbacks(3)
        self.assertEqual(self.committed_triggers(), 1, "one trigger for the three events")
        with self.registry.cursor() as cr:
            cr.execute(
                """SELECT call_at > now() AT TIME ZONE 'UTC' - interval '1 minute',
                          call_at <> date_trunc('second', call_at)
                   FROM ir_cron_trigger WHERE cron_id = %s""",
                [self.cron.id],
            )
            self.assertEqual(cr.fetchall(), [(True, True)], "at the clock's time, to the microsecond")
        # the cron applied those three (its batch) and finds nothing else due: the round ends
        self.assertTrue(Event._check_drained(stored))
        self.callbacks(2)
        self.assertEqual(self.committed_triggers(), 2, "the next round triggers again, once")
        # while events it has not applied are waiting, the inbox is not drained
        self.assertFalse(Event._check_drained(stored))

    def test_a_callback_that_hangs_does_not_stop_the_cron(self):
        callback = self.registry.cursor()
        self.addCleanup(callback.close)
        self.store(api.Environment(callback, SUPERUSER_ID, {}))  # and never commits
        with patch.object(event_module, "DRAINED_CHECK_WAIT", 1):
            self.assertFalse(self.env["ziqi.dingtalk.event"]._check_drained([]), "not known to be drained")
        callback.rollback()

    def test_the_drained_check_waits_for_an_event_being_stored(self):
        self.env["ziqi.dingtalk.event"]._new_round()
        callback = self.registry.cursor()
        self.addCleanup(callback.close)
        self.store(api.Environment(callback, SUPERUSER_ID, {}))  # stored, not committed yet

        outcome = {}
        cron_cr = self.registry.cursor()
        self.addCleanup(cron_cr.close)
        cron_env = api.Environment(cron_cr, SUPERUSER_ID, {})  # here: the test holds the registry's lock

        def cron_check():
            outcome["drained"] = cron_env["ziqi.dingtalk.event"]._check_drained([])

        check = threading.Thread(target=cron_check)
        check.start()
        check.join(1)
        self.assertTrue(check.is_alive(), "the cron's check waits while a callback is storing an event")
        callback.commit()
        check.join(30)
        self.assertFalse(check.is_alive())
        self.assertIs(outcome.get("drained"), False, "and then sees that event: the round goes on")
        # that round's trigger was committed with the event, so the cron runs again
        self.assertEqual(self.triggers(callback), 1)

    def test_a_trigger_rolled_back_is_made_again(self):
        self.env["ziqi.dingtalk.event"]._new_round()
        with self.registry.cursor() as cr:
            self.assertTrue(api.Environment(cr, SUPERUSER_ID, {})["ziqi.dingtalk.event"]._wake_cron())
            cr.rollback()  # e.g. the request failed after storing: neither the event nor the trigger exist
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.assertTrue(env["ziqi.dingtalk.event"]._wake_cron(), "the next event triggers the cron")
            self.assertFalse(env["ziqi.dingtalk.event"]._wake_cron(), "and the one after it does not")
            cr.rollback()

    def test_a_run_that_fails_starts_a_new_round(self):
        Event = self.env["ziqi.dingtalk.event"]
        Event._new_round()
        self.assertTrue(Event._wake_cron())
        self.assertFalse(Event._wake_cron())
        # a failure outside the events' own savepoints (the database, say): the run ends without its check
        with (
            patch.object(type(Event), "_process_due", side_effect=ZeroDivisionError),
            self.assertRaises(ZeroDivisionError),
        ):
            Event._cron_process()
        self.assertTrue(Event._wake_cron(), "after a failed run, the next event triggers again")
        Event._new_round()
        with (
            patch.object(type(Event), "_process_due", side_effect=lambda: self.env.cr.execute("SELECT 1/0")),
            self.assertRaises(psycopg2.errors.DivisionByZero),
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            self.assertTrue(Event._wake_cron())
            Event._cron_process()  # its transaction is aborted: the new round is started elsewhere
        self.assertTrue(Event._wake_cron(), "and so after a failure of the database")
