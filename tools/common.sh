# Shared by tools/run and tools/test: everything the project needs on a machine, made sure
# of idempotently. Source it; it defines functions and variables, and runs nothing itself.
#
# Variables (all optional):
#   ODOO_SRC         Odoo 18.0 source tree (default ~/.cache/odoo/18.0; cloned there if missing)
#   SALE_INBOX_HOME  where the virtualenv, configs and PostgreSQL data live (~/.cache/sale_inbox)
#   PYTHON           the interpreter to build the virtualenv with (python3.11, else python3)
#   PGHOST/PGPORT    an existing PostgreSQL server to use

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ODOO_SRC=${ODOO_SRC:-$HOME/.cache/odoo/18.0}
ODOO_REPO=${ODOO_REPO:-https://github.com/odoo/odoo.git}
SALE_INBOX_HOME=${SALE_INBOX_HOME:-$HOME/.cache/sale_inbox}
# One addons folder per checkout, so that two clones never fight over one link.
CHECKOUT_KEY=$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)
WORK="$SALE_INBOX_HOME/checkouts/$CHECKOUT_KEY"
ADDONS_LINK_DIR="$WORK/addons"
ADDON_DIR="$ADDONS_LINK_DIR/sale_inbox"
ODOO_CONF="$WORK/odoo.conf"

say() { printf '\033[1m[sale_inbox]\033[0m %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    for candidate in python3.11 python3.12 python3.10 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then echo "$candidate"; return; fi
    done
    die "no python3 found"
}

odoo_present() { [ -f "$ODOO_SRC/odoo-bin" ] && [ -d "$ODOO_SRC/addons/sale" ]; }

ensure_odoo() {
    if odoo_present; then return 0; fi
    say "Odoo 18.0 is not at $ODOO_SRC: cloning it (shallow) from $ODOO_REPO"
    mkdir -p "$(dirname "$ODOO_SRC")"
    if git clone --quiet --depth 1 --branch 18.0 "$ODOO_REPO" "$ODOO_SRC.partial" 2>/dev/null; then
        mv "$ODOO_SRC.partial" "$ODOO_SRC"
        return 0
    fi
    rm -rf "$ODOO_SRC.partial"
    say "Could not clone Odoo (no network?). Put an Odoo 18.0 source tree at $ODOO_SRC or set ODOO_SRC."
    return 1
}

# Packages of the virtualenv beside the requirements files; part of its stamp, so that adding
# one here updates every existing virtualenv. websocket-client drives Chromium in Odoo's browser
# tours (HttpCase.start_tour): without it Odoo skips every tour without a word.
VENV_EXTRA=("websocket-client==1.9.2")

# The virtualenv is rebuilt only when what goes into it changes.
ensure_venv() {
    local python stamp_src stamp
    python=$(pick_python)
    VENV="$SALE_INBOX_HOME/venv-$("$python" -c 'import sys; print("py%d%d" % sys.version_info[:2])')"
    stamp_src="$ROOT/requirements.txt $ROOT/requirements-test.txt"
    if odoo_present; then stamp_src="$stamp_src $ODOO_SRC/requirements.txt"; fi
    # shellcheck disable=SC2086
    stamp=$( { cat $stamp_src; printf '%s\n' "${VENV_EXTRA[@]}"; } | sha1sum | cut -c1-16)
    if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$stamp" ]; then return 0; fi
    say "Preparing the virtualenv $VENV"
    [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
    # setuptools 81 dropped pkg_resources, which Odoo 18's gevent imports: with --workers the
    # long-polling worker dies at start and its master restarts it over and over (a core burnt).
    "$VENV/bin/python" -m pip install --quiet --upgrade pip wheel "setuptools<81" 2>&1 | grep -v '^WARNING: Location' >&2 || true
    local reqs=("-r" "$ROOT/requirements.txt" "-r" "$ROOT/requirements-test.txt" "${VENV_EXTRA[@]}")
    if odoo_present; then
        # Odoo's pins as they build on this Python: the binary psycopg2 wheel, a cbor2 that
        # builds on 3.11, and no python-ldap (only the auth_ldap addon needs it).
        sed -e 's/^psycopg2==/psycopg2-binary==/' \
            -e 's/^cbor2==5\.4\.2/cbor2==5.6.2/' \
            -e '/^python-ldap/d' \
            "$ODOO_SRC/requirements.txt" > "$SALE_INBOX_HOME/odoo-requirements.txt"
        reqs+=("-r" "$SALE_INBOX_HOME/odoo-requirements.txt")
    fi
    "$VENV/bin/python" -m pip install --quiet "${reqs[@]}" 2>&1 | grep -v '^WARNING: Location' >&2 || true
    "$VENV/bin/python" -c 'import pytest, requests, websocket' || die "the virtualenv could not be built"
    if odoo_present; then
        "$VENV/bin/python" -c 'import psycopg2, lxml, werkzeug, babel, PyPDF2' \
            || die "Odoo's requirements did not install in $VENV"
    fi
    echo "$stamp" > "$VENV/.stamp"
}

# The browser Odoo's tours drive, found the way Odoo looks for it (by name on PATH, see
# odoo/tests/common.py _find_executable). As root with apt, installed from Debian's packages
# when missing. Prints its path; returns 1 (with a loud message) when there is none.
CHROME_NAMES="google-chrome chromium chromium-browser google-chrome-stable"
find_chrome() {
    local name
    for name in $CHROME_NAMES; do
        if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    done
    return 1
}

ensure_chrome() {
    if find_chrome; then return 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "Installing Chromium (browser tours, screenshots) from Debian's packages"
        (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || true
        if find_chrome; then return 0; fi
    fi
    say "!!! No Chromium or Chrome on PATH ($CHROME_NAMES): the browser tours CANNOT run and will FAIL."
    say "!!! Install it (sudo apt-get install chromium) or put one of these names on PATH."
    return 1
}

pg_ready() { pg_isready -q ${PGHOST:+-h "$PGHOST"} ${PGPORT:+-p "$PGPORT"} 2>/dev/null; }
pg_usable() { psql -d postgres -tAc 'select 1' >/dev/null 2>&1; }

# A PostgreSQL server this user can create databases on. In order: PGHOST/PGPORT when set;
# our private cluster when it exists; as root, the machine's cluster (started if needed, with a
# role for root); as a normal user, the machine's server if it knows this user, else a private
# cluster under $SALE_INBOX_HOME (initdb refuses to run as root, so root never gets one).
ensure_postgres() {
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ]; then
            say "Installing PostgreSQL from Debian's packages"
            apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        elif ! command -v pg_isready >/dev/null 2>&1; then
            die "PostgreSQL is not installed: sudo apt-get install postgresql"
        fi
    fi
    if [ -n "${PGHOST:-}" ]; then
        pg_ready && pg_usable && return 0
        die "no usable PostgreSQL at PGHOST=$PGHOST"
    fi
    if [ -f "$SALE_INBOX_HOME/pgdata/PG_VERSION" ] && [ "$(id -u)" != 0 ]; then
        start_private_postgres
        return 0
    fi
    if [ "$(id -u)" = 0 ]; then
        if ! pg_ready && command -v pg_ctlcluster >/dev/null 2>&1; then
            local version cluster
            read -r version cluster _ < <(pg_lsclusters -h | head -n1) || true
            [ -n "${version:-}" ] || die "no PostgreSQL cluster to start (pg_createcluster 15 main)"
            say "Starting the machine's PostgreSQL cluster $version/$cluster"
            pg_ctlcluster "$version" "$cluster" start || true
            for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
        fi
        pg_ready || die "PostgreSQL did not start"
        if ! pg_usable; then
            su postgres -c "psql -qc \"CREATE ROLE \\\"$(id -un)\\\" SUPERUSER LOGIN\"" >/dev/null
        fi
        return 0
    fi
    if pg_ready && pg_usable; then
        return 0
    fi
    start_private_postgres
}

start_private_postgres() {
    local bindir
    bindir=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")
    export PGHOST="$SALE_INBOX_HOME/pgsocket" PGPORT=${PGPORT:-5439}
    mkdir -p "$PGHOST"
    if [ ! -f "$SALE_INBOX_HOME/pgdata/PG_VERSION" ]; then
        say "Creating a private PostgreSQL cluster in $SALE_INBOX_HOME/pgdata"
        "$bindir/initdb" -D "$SALE_INBOX_HOME/pgdata" -A trust -U "$(id -un)" >/dev/null
    fi
    if ! pg_ready; then
        say "Starting the private PostgreSQL server (socket $PGHOST, port $PGPORT)"
        "$bindir/pg_ctl" -D "$SALE_INBOX_HOME/pgdata" -l "$SALE_INBOX_HOME/postgres.log" -w \
            -o "-k $PGHOST -p $PGPORT -c listen_addresses=''" start >/dev/null
    fi
    pg_usable || die "the private PostgreSQL server does not answer (see $SALE_INBOX_HOME/postgres.log)"
}

# Odoo finds the addon by its technical name, whatever this checkout's folder is called.
ensure_addon_link() {
    mkdir -p "$ADDONS_LINK_DIR"
    ln -sfn "$ROOT" "$ADDON_DIR"
}

write_odoo_conf() {
    local http_port=${1:-8069}
    mkdir -p "$WORK/data"
    cat > "$ODOO_CONF" <<EOF
[options]
addons_path = $ODOO_SRC/odoo/addons,$ODOO_SRC/addons,$ADDONS_LINK_DIR
data_dir = $WORK/data
db_host = ${PGHOST:-False}
db_port = ${PGPORT:-False}
db_user = $(id -un)
db_password = False
admin_passwd = admin
http_port = $http_port
http_interface = ${HTTP_INTERFACE:-}
without_demo = False
EOF
}

odoo_bin() { "$VENV/bin/python" "$ODOO_SRC/odoo-bin" -c "$ODOO_CONF" "$@"; }

db_exists() { [ "$(psql -d postgres -tAc "select 1 from pg_database where datname = '$1'")" = 1 ]; }

# A database with the addon's dependencies installed, kept as a template so that creating a
# fresh test database costs seconds rather than a minute.
ensure_template() {
    local with_demo=$1 key template
    key=$( { cat "$ODOO_SRC/odoo/release.py"; grep -A3 '"depends"' "$ROOT/__manifest__.py"; echo "$with_demo ${TEMPLATE_EXTRA_MODULES:-}"; } | sha1sum | cut -c1-10)
    template="sale_inbox_tmpl_$key"
    if ! db_exists "$template"; then
        say "Building the template database $template (the addon's dependencies, once)"
        local demo_flag=(--without-demo=all)
        [ "$with_demo" = demo ] && demo_flag=()
        local deps
        deps=$("$VENV/bin/python" -c "import ast,sys; print(','.join(ast.literal_eval(open(sys.argv[1]).read())['depends']))" "$ROOT/__manifest__.py")
        deps="$deps${TEMPLATE_EXTRA_MODULES:+,$TEMPLATE_EXTRA_MODULES}"
        dropdb --if-exists "$template.partial" 2>/dev/null || true
        odoo_bin -d "$template.partial" -i "$deps" "${demo_flag[@]}" --stop-after-init --log-level=warn \
            || die "could not install $deps"
        psql -d postgres -qc "ALTER DATABASE \"$template.partial\" RENAME TO \"$template\""
        if [ -d "$WORK/data/filestore/$template.partial" ]; then
            mv "$WORK/data/filestore/$template.partial" "$WORK/data/filestore/$template"
        fi
    fi
    TEMPLATE_DB=$template
}

# A new database $1 with sale_inbox installed, from the template.
fresh_database() {
    local db=$1 with_demo=$2
    ensure_template "$with_demo"
    dropdb --if-exists "$db"
    rm -rf "$WORK/data/filestore/$db"
    createdb -T "$TEMPLATE_DB" "$db"
    if [ -d "$WORK/data/filestore/$TEMPLATE_DB" ]; then
        mkdir -p "$WORK/data/filestore"
        cp -a "$WORK/data/filestore/$TEMPLATE_DB" "$WORK/data/filestore/$db"
    fi
    local demo_flag=(--without-demo=all)
    [ "$with_demo" = demo ] && demo_flag=()
    odoo_bin -d "$db" -i sale_inbox "${demo_flag[@]}" --stop-after-init --log-level=warn \
        || die "sale_inbox did not install in $db"
}
