"""Updating from 1.0.0: the attendance addon's own time zone setting carries over to ziqi_dingtalk's."""

import importlib.util
from pathlib import Path

from odoo.tests import TransactionCase, tagged

MIGRATION = Path(__file__).parents[1] / "migrations" / "1.1.0" / "post-migrate.py"


@tagged("post_install", "-at_install")
class TestMigration(TransactionCase):
    def migrate(self):
        spec = importlib.util.spec_from_file_location("ziqi_dingtalk_attendance_post_migrate_1_1", MIGRATION)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        migration.migrate(self.env.cr, "18.0.1.0.0")

    def old_column(self):
        self.env.cr.execute(
            """SELECT 1 FROM information_schema.columns
                WHERE table_name = 'res_company' AND column_name = 'dingtalk_attendance_tz'"""
        )
        return bool(self.env.cr.fetchall())

    def test_time_zone_carries_over(self):
        company, other = self.env.company, self.env["res.company"].create({"name": "Other"})
        (company | other).flush_recordset()
        self.env.cr.execute("ALTER TABLE res_company ADD COLUMN dingtalk_attendance_tz varchar")
        self.env.cr.execute(
            "UPDATE res_company SET dingtalk_attendance_tz = 'Asia/Urumqi' WHERE id = %s", [company.id]
        )
        self.migrate()
        (company | other).invalidate_recordset()
        self.assertEqual(company.dingtalk_timezone, "Asia/Urumqi")
        self.assertEqual(other.dingtalk_timezone, "Asia/Shanghai", "a company without it keeps the default")
        self.assertFalse(self.old_column(), "the old column is gone")
        self.migrate()  # again: nothing left to do
        self.assertEqual(company.dingtalk_timezone, "Asia/Urumqi")
