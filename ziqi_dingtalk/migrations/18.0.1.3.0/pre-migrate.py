"""18.0.1.3.0: the DingTalk ids an inbox event names are JSON lists (userid_list, dept_id_list,
label_id_list), no longer comma-joined text (user_ids, dept_ids, label_ids)."""

from odoo.tools import SQL

COLUMNS = {"user_ids": "userid_list", "dept_ids": "dept_id_list", "label_ids": "label_id_list"}


def migrate(cr, version):
    cr.execute(
        """SELECT column_name FROM information_schema.columns
           WHERE table_name = 'ziqi_dingtalk_event' AND column_name = ANY(%s)""",
        [list(COLUMNS)],
    )
    for (old,) in cr.fetchall():
        old_column, new_column = SQL.identifier(old), SQL.identifier(COLUMNS[old])
        cr.execute(SQL("ALTER TABLE ziqi_dingtalk_event ADD COLUMN IF NOT EXISTS %s jsonb", new_column))
        cr.execute(
            SQL(
                """UPDATE ziqi_dingtalk_event SET %s = to_jsonb(string_to_array(%s, ','))
                   WHERE coalesce(%s, '') != ''""",
                new_column,
                old_column,
                old_column,
            )
        )
        cr.execute(SQL("ALTER TABLE ziqi_dingtalk_event DROP COLUMN %s", old_column))
