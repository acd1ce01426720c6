import time

from odoo import fields, models

from ..compat import constraint
from ..dingtalk import client as dt_client


class ZiqiDingtalkToken(models.Model):
    """Access tokens of DingTalk apps, shared by every Odoo worker.

    Read and written through a cursor of their own, so a token fetched by one worker is seen at once
    by the others and a long transaction (a sync run) never holds the row.
    """

    _name = "ziqi.dingtalk.token"
    _description = "DingTalk Access Token"
    _rec_name = "app_key"

    app_key = fields.Char(required=True, readonly=True)
    access_token = fields.Char(readonly=True, groups="base.group_system")
    expires_at = fields.Float(readonly=True, help="Expiry as a Unix timestamp.")

    _app_key_uniq = constraint("unique(app_key)", "One token per DingTalk app.")

    def _store(self, app_key):
        return DatabaseTokenStore(self.env.registry, app_key)


class DatabaseTokenStore(dt_client.TokenStore):
    def __init__(self, registry, app_key):
        self._registry = registry
        self._app_key = app_key

    def get(self):
        with self._registry.cursor() as cr:
            cr.execute(
                "SELECT access_token, expires_at FROM ziqi_dingtalk_token WHERE app_key = %s", [self._app_key]
            )
            row = cr.fetchone()
        if row and row[0] and row[1] > time.time():
            return row[0], row[1]
        return None

    def set(self, token, expires_at):
        with self._registry.cursor() as cr:
            cr.execute(
                """
                INSERT INTO ziqi_dingtalk_token (app_key, access_token, expires_at, create_date, write_date)
                VALUES (%s, %s, %s, now() at time zone 'UTC', now() at time zone 'UTC')
                ON CONFLICT (app_key) DO UPDATE
                   SET access_token = EXCLUDED.access_token, expires_at = EXCLUDED.expires_at,
                       write_date = EXCLUDED.write_date
                """,
                [self._app_key, token, expires_at],
            )

    def clear(self):
        with self._registry.cursor() as cr:
            cr.execute("DELETE FROM ziqi_dingtalk_token WHERE app_key = %s", [self._app_key])
