"""``odoo-bin dingtalk_sync -d DB [--type all|dept|role|user] [--company ID]``: a directory sync from the
server shell, the replacement of ``curl http://127.0.0.1/autoexe/dingtalk/sync?type=...``. Each step commits
on its own, like the cron, so a long sync shows its progress and survives an interruption."""

import logging
import sys

from odoo import SUPERUSER_ID, api
from odoo.addons.ziqi_dingtalk.cli import _options as options  # pylint: disable=odoo-addons-relative-import

# absolute: Odoo 19 loads an addon's commands as odoo.cli.<name>, where a relative import fails
from odoo.addons.ziqi_dingtalk.models.ziqi_dingtalk_sync_run import (  # pylint: disable=odoo-addons-relative-import
    KIND_ALIASES,
)
from odoo.cli import Command

_logger = logging.getLogger(__name__)


class DingtalkSync(Command):
    """Run a DingTalk directory sync now (--type all|dept|role|user)"""

    name = "dingtalk_sync"

    def run(self, args):
        group = options.option_group(self, "DingTalk sync")
        group.add_option(
            "--type",
            dest="dingtalk_type",
            default="all",
            choices=sorted(KIND_ALIASES),
            help="what to sync: all (default), dept, role or user",
        )
        group.add_option(
            "--company",
            dest="dingtalk_company",
            type="int",
            help="company id (default: every company with DingTalk configured)",
        )
        opt, registry = options.parse(self, args, group)
        run_ids = self._queue(registry, KIND_ALIASES[opt.dingtalk_type], opt.dingtalk_company)
        if not run_ids:
            sys.exit("no company has DingTalk configured (Settings → DingTalk)")
        results = [self._run(registry, run_id) for run_id in run_ids]
        sys.exit(0 if all(results) else 1)

    def _queue(self, registry, kind, company_id):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            configured = env["res.company"]._dingtalk_configured_companies()
            if company_id:
                configured = configured.filtered(lambda company: company.id == company_id)
            return [env["ziqi.dingtalk.sync.run"]._queue(company, kind, "shell").id for company in configured]

    def _run(self, registry, run_id):
        while True:
            with registry.cursor() as cr:
                run = api.Environment(cr, SUPERUSER_ID, {})["ziqi.dingtalk.sync.run"].browse(run_id)
                if not run._step_locked():
                    sys.stdout.write(
                        f"{run.display_name} ({run.company_id.name}): {run.state}, {run.elapsed:.1f}s; "
                        f"{run.summary or 'no changes'}; {run.api_call_count} DingTalk calls; "
                        f"{run.error_count} errors\n"
                    )
                    return run.state == "done"
