from odoo.tools import SQL

from . import cli, controllers, models
from .models.ziqi_dingtalk_event import ATTEMPT_TABLE, LEGACY_SEQUENCES


def uninstall_hook(env):
    """What the ORM does not remove itself: the event inbox's attempt counter, and the wake-up sequences
    a database may still have from 18.0.1.0.0 (an upgrade drops them too)."""
    env.cr.execute(SQL("DROP TABLE IF EXISTS %s", SQL.identifier(ATTEMPT_TABLE)))
    env.cr.execute(SQL("DROP SEQUENCE IF EXISTS %s", SQL(", ").join(map(SQL.identifier, LEGACY_SEQUENCES))))
