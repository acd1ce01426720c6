from odoo.tools import SQL

from . import cli, controllers, models
from .models.ziqi_dingtalk_event import SEQ_ROUND, SEQ_TRIGGERED


def uninstall_hook(env):
    """What the ORM does not remove itself: the event inbox's wake-up sequences."""
    env.cr.execute(
        SQL("DROP SEQUENCE IF EXISTS %s, %s", SQL.identifier(SEQ_ROUND), SQL.identifier(SEQ_TRIGGERED))
    )
