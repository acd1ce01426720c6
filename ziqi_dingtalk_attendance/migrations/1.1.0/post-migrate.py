"""1.1.0: the DingTalk organisation's time zone is ziqi_dingtalk's ``res.company.dingtalk_timezone``, shared
by the attendance and leave imports; what a company had set in this addon's own setting
(``dingtalk_attendance_tz``) carries over. The folder names the version without the series, so Odoo 18 and
19 both run it when updating from an earlier version; it does nothing once the old column is gone."""


def migrate(cr, version):
    cr.execute(
        """SELECT 1 FROM information_schema.columns
            WHERE table_name = 'res_company' AND column_name = 'dingtalk_attendance_tz'"""
    )
    if not cr.fetchone():
        return
    cr.execute(
        """UPDATE res_company SET dingtalk_timezone = dingtalk_attendance_tz
            WHERE dingtalk_attendance_tz IS NOT NULL"""
    )
    cr.execute("ALTER TABLE res_company DROP COLUMN dingtalk_attendance_tz")
