"""18.0.1.2.0: a department's DingTalk leaders are a JSON list of userids, no longer a comma-joined text."""


def migrate(cr, version):
    cr.execute(
        """SELECT data_type FROM information_schema.columns
           WHERE table_name = 'hr_department' AND column_name = 'dingtalk_manager_userids'"""
    )
    row = cr.fetchone()
    if row and row[0] != "jsonb":
        cr.execute(
            """ALTER TABLE hr_department ALTER COLUMN dingtalk_manager_userids TYPE jsonb
               USING CASE WHEN coalesce(dingtalk_manager_userids, '') = '' THEN NULL
                          ELSE to_jsonb(string_to_array(dingtalk_manager_userids, ',')) END"""
        )
