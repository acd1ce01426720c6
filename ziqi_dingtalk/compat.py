"""What differs between the Odoo versions the addon runs on (18.0 and 19.0), in one place."""

from odoo import models
from odoo.release import version_info
from odoo.tools import SQL

ODOO_19 = version_info[0] >= 19  # every difference below is this one flag


class _SqlConstraint:
    """Odoo 18's form of a table constraint: an entry of the model class's own ``_sql_constraints``."""

    def __init__(self, definition, message):
        self.definition, self.message = definition, message

    def __set_name__(self, owner, name):
        own = list(owner.__dict__.get("_sql_constraints", ()))
        owner._sql_constraints = [*own, (name.removeprefix("_"), self.definition, self.message)]


def constraint(definition, message):
    """A table constraint of a model, declared in its class as ``_<name> = constraint("unique(...)", msg)``:
    ``models.Constraint`` on Odoo 19, where ``_sql_constraints`` is ignored, and an entry ``<name>`` of
    ``_sql_constraints`` on 18. Its database name is ``<table>_<name>`` on both, so a database upgraded
    from 18 to 19 keeps it."""
    if ODOO_19:
        return models.Constraint(definition, message)
    return _SqlConstraint(definition, message)


# Odoo 19 keeps an employee's contract-like fields (department, job title...) on hr.version records,
# read and written through hr.employee as before, but not columns of hr_employee any more
EMPLOYEE_VERSIONS = ODOO_19


def employee_department(env, alias):
    """``(join, column)``: SQL reaching the department of the hr_employee rows named ``alias`` (written
    ``FROM hr_employee <alias> <join>``), their pending department writes flushed first."""
    if EMPLOYEE_VERSIONS:
        env["hr.version"].flush_model(["department_id"])
        env["hr.employee"].flush_model(["current_version_id"])
        version = SQL.identifier(f"{alias}_version")
        join = SQL(
            "LEFT JOIN hr_version %s ON %s.id = %s.current_version_id",
            version,
            version,
            SQL.identifier(alias),
        )
        return join, SQL("%s.department_id", version)
    env["hr.employee"].flush_model(["department_id"])
    return SQL(), SQL("%s.department_id", SQL.identifier(alias))


# res.users and res.groups fields renamed in Odoo 19 (19 keeps a user's own groups apart from the ones
# they imply); read the effective ones, write the own ones.
USER_GROUPS = "group_ids" if ODOO_19 else "groups_id"  # a user's own groups (written)
USER_ALL_GROUPS = "all_group_ids" if ODOO_19 else "groups_id"  # own and implied (read)
GROUP_USERS = "user_ids" if ODOO_19 else "users"  # a group's own users (written)
GROUP_ALL_USERS = "all_user_ids" if ODOO_19 else "users"  # own and through implying groups


def session_authenticate(request, credential):
    """Sign ``credential`` in on the HTTP session (Odoo 19 takes the environment, 18 the database name)."""
    return request.session.authenticate(request.env if ODOO_19 else request.db, credential)


def users_authenticate(env, credential, user_agent_env):
    """``res.users.authenticate``: a classmethod taking the database name on Odoo 18, a model method on 19."""
    Users = env["res.users"]
    if ODOO_19:
        return Users.authenticate(credential, user_agent_env)
    return Users.authenticate(env.cr.dbname, credential, user_agent_env)


def cron_progress(env, done, remaining):
    """Tell ir.cron how a batch went, so that it runs the next batch at once while ``remaining``: Odoo 19's
    ``_commit_progress`` (which commits; only inside a cron run), Odoo 18's ``_notify_progress``."""
    Cron = env["ir.cron"]
    if not ODOO_19:
        Cron._notify_progress(done=done, remaining=remaining)
    elif env.context.get("ir_cron_progress_id"):
        Cron._commit_progress(done, remaining=remaining)
