"""What the addon's odoo-bin commands share: their own option group on Odoo's parser, and the database
(a leading underscore: Odoo 19 takes every other cli/<name>.py for a command)."""

import optparse
import sys
from pathlib import Path

import odoo
from odoo.tools import config


def option_group(command, title):
    """A group for ``command``'s own options on Odoo's option parser (``--help`` lists it)."""
    config.parser.prog = f"{Path(sys.argv[0]).name} {command.name}"
    return optparse.OptionGroup(config.parser, title)


def parse(command, args, group):
    """Odoo's options and ``group``'s, parsed (logging set up); exits unless a database was given.
    Returns (options, registry of that database)."""
    config.parser.add_option_group(group)
    options = config.parse_config(args, setup_logging=True)
    db_name = config["db_name"]
    db_name = db_name[0] if isinstance(db_name, list) and db_name else db_name  # a list on Odoo 19
    if not db_name:
        sys.exit(f"{command.name} needs a database: -d DB")
    return options, odoo.modules.registry.Registry(db_name)
