# Shared settings for the bin/ scripts (sourced, not run).
# ODOO_VERSION: 18 (default) or 19; ODOO_SRC: that Odoo's source tree (default ODOO18_SRC or ODOO19_SRC,
# themselves /opt/odoo18 and /opt/odoo19); VENV: the project's virtualenv for it (.venv, .venv19).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_VERSION="${ODOO_VERSION:-18}"
case "$ODOO_VERSION" in
    18) ODOO_SRC="${ODOO_SRC:-${ODOO18_SRC:-/opt/odoo18}}"; VENV="${VENV:-$ROOT/.venv}" ;;
    19) ODOO_SRC="${ODOO_SRC:-${ODOO19_SRC:-/opt/odoo19}}"; VENV="${VENV:-$ROOT/.venv19}" ;;
    *) echo "error: ODOO_VERSION must be 18 or 19, not $ODOO_VERSION" >&2; exit 1 ;;
esac
REQUIREMENTS="$ROOT/requirements/odoo$ODOO_VERSION.txt"
# installing without demo data: Odoo 18 loads it unless told not to; 19 loads none unless --with-demo
# (and warns about 18's "--without-demo=all")
if [ "$ODOO_VERSION" = 18 ]; then NO_DEMO=(--without-demo=all); else NO_DEMO=(); fi
export ODOO_VERSION ODOO_SRC
PY="$VENV/bin/python"
VAR="${VAR:-$ROOT/var}"
DB_HOST="${PGHOST:-127.0.0.1}"
DB_PORT="${PGPORT:-5432}"
DB_USER="${PGUSER:-root}"
export PGHOST="$DB_HOST" PGPORT="$DB_PORT" PGUSER="$DB_USER"

die() { echo "error: $*" >&2; exit 1; }

check_odoo_src() {
    [ -f "$ODOO_SRC/odoo-bin" ] && [ -d "$ODOO_SRC/odoo/addons/base" ] && [ -d "$ODOO_SRC/addons/hr" ] \
        || die "no Odoo $ODOO_VERSION.0 source found at $ODOO_SRC (it needs odoo-bin, odoo/addons/base and addons/hr).
Put an Odoo $ODOO_VERSION.0 Community tree there, or set ODOO${ODOO_VERSION}_SRC to where it is (see README.rst)."
    grep -q "version_info = ($ODOO_VERSION, 0" "$ODOO_SRC/odoo/release.py" \
        || die "the Odoo source at $ODOO_SRC is not $ODOO_VERSION.0 (odoo/release.py)."
}

# export_pot DB FILE [MODULE]: the .pot of MODULE (ziqi_dingtalk) as installed in DB (Odoo 19 has no
# --i18n-export, and its "i18n export" subcommand reads the database connection from a config file only:
# through the shell)
export_pot() {
    echo "from odoo.tools.translate import TranslationFileWriter, TranslationModuleReader
with open('$2', 'wb') as pot:
    TranslationFileWriter(pot, fileformat='po', lang=None).write_rows(
        TranslationModuleReader(env.cr, modules=['${3:-ziqi_dingtalk}'], lang=None))" \
        | odoo_bin shell -d "$1" --no-http --log-level=warn >/dev/null 2>&1
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# the addons with translations of their own, and the ones approvals need installed beside them
TRANSLATED_ADDONS=(ziqi_dingtalk ziqi_dingtalk_approval ziqi_dingtalk_approval_expense ziqi_dingtalk_attendance
    ziqi_dingtalk_leave)
APPROVAL_MODULES=ziqi_dingtalk_approval,purchase,hr_expense
HR_MODULES=ziqi_dingtalk_attendance,ziqi_dingtalk_leave

addons_path() { echo "$ODOO_SRC/odoo/addons,$ODOO_SRC/addons,$ROOT"; }

# odoo_bin [shell|...] ARGS: odoo-bin (optionally a subcommand) with this project's addons path and database
odoo_bin() {
    local cmd=()
    case "${1:-}" in shell|neutralize|populate|i18n|dingtalk_sync|dingtalk_stream) cmd=("$1"); shift ;; esac
    # --addons-path first: odoo-bin reads it before the subcommand to find addon commands (dingtalk_sync)
    "$PY" "$ODOO_SRC/odoo-bin" --addons-path="$(addons_path)" "${cmd[@]}" --db_host="$DB_HOST" \
    --db_port="$DB_PORT" --db_user="$DB_USER" "$@"
}
