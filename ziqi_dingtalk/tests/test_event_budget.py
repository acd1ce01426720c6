"""An event's attempts are counted outside the cron's transaction, so that a run the server kills (Odoo's
real-time limit) still counts: an event that always gets its run killed ends failed instead of running again
after every restart. Committed rows on separate connections, as in test_wake."""

from odoo.tests import tagged
from odoo.tools import SQL, mute_logger

from ..models.ziqi_dingtalk_event import ATTEMPT_TABLE, MAX_ATTEMPTS
from .test_wake import CommittedEventsCase


@tagged("post_install", "-at_install")
class TestEventAttempts(CommittedEventsCase):
    def row(self, event_id):
        with self.registry.cursor() as cr:
            cr.execute(
                SQL(
                    """SELECT e.state, e.attempts, a.started, e.last_error FROM ziqi_dingtalk_event e
                       LEFT JOIN %s a ON a.event_id = e.id WHERE e.id = %s""",
                    SQL.identifier(ATTEMPT_TABLE),
                    event_id,
                )
            )
            return cr.fetchone()

    def make_due(self, event_id):
        with self.registry.cursor() as cr:
            cr.execute("UPDATE ziqi_dingtalk_event SET next_attempt_at = NULL WHERE id = %s", [event_id])

    @mute_logger(
        "odoo.addons.ziqi_dingtalk.models.ziqi_dingtalk_event", "odoo.addons.ziqi_dingtalk.models.res_company"
    )
    def test_a_killed_run_still_counts_and_the_event_ends_failed(self):
        event_id = self.store()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self.run_cron(commit=False)  # killed: nothing of the run's own transaction is kept
            self.assertEqual(self.row(event_id)[:3], ("pending", 0, attempt), "the attempt is counted")
        self.run_cron()
        state, attempts, _started, error = self.row(event_id)
        self.assertEqual((state, attempts), ("failed", MAX_ATTEMPTS), "not run again after every restart")
        self.assertIn("server stopped", error)

    @mute_logger(
        "odoo.addons.ziqi_dingtalk.models.ziqi_dingtalk_event", "odoo.addons.ziqi_dingtalk.models.res_company"
    )
    def test_a_failed_attempt_is_counted_once(self):
        event_id = self.store()  # the company has no DingTalk app: each attempt fails
        self.run_cron()
        self.assertEqual(self.row(event_id)[:3], ("pending", 1, 1))
        self.make_due(event_id)
        self.run_cron()
        self.assertEqual(self.row(event_id)[:3], ("pending", 2, 2))
        for _ in range(MAX_ATTEMPTS - 2):
            self.make_due(event_id)
            self.run_cron()
        self.assertEqual(
            self.row(event_id)[:2], ("failed", MAX_ATTEMPTS), "failed after MAX_ATTEMPTS, not before"
        )
        with self.registry.cursor() as cr:  # and a retry starts the count again
            self.env(cr=cr)["ziqi.dingtalk.event"].browse(event_id).action_retry()
        self.assertEqual(self.row(event_id)[:3], ("pending", 0, None))
