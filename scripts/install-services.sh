#!/usr/bin/env bash
# Installs the services that the Kafka and PostgreSQL end-to-end tests talk
# to (started by scripts/start-services.sh, stopped by scripts/stop-services.sh):
#
# - a Kafka-compatible broker: the binary shipped in the PyPI package
#   noida-db, pinned by version and sha256, in a virtualenv kept outside the
#   clone ($STREETBUMP_SERVICES_DIR, default: streetbump-services beside the
#   clone, as .ci/run keeps cargo's target directory), so repeated runs on one
#   machine reuse it;
# - a PostgreSQL server: Debian's `postgresql`, installed with apt-get when no
#   server binary is found under /usr/lib/postgresql/*/bin.
#
# Idempotent: does nothing when both are already there. All output goes to
# stderr. Exits non-zero with a message when something cannot be installed.
set -euo pipefail
exec 1>&2

NOIDA_VERSION=0.2.3
NOIDA_SHA256=40a2fb15567e3d344e7483df62bb439e7d64ac6fb232f4f223554aed58204f82

repo=$(cd "$(dirname "$0")/.." && pwd)
services_dir=${STREETBUMP_SERVICES_DIR:-$(cd "$repo/.." && pwd)/streetbump-services}
mkdir -p "$services_dir" || { echo "install-services: cannot create $services_dir" >&2; exit 1; }
services_dir=$(cd "$services_dir" && pwd -P)
venv="$services_dir/venv"
python=${STREETBUMP_PYTHON:-python3}

say() { echo "install-services: $*"; }
die() { echo "install-services: $*" >&2; exit 1; }

sudo=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
fi
apt_updated=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 \
        || die "cannot install $*: apt-get not found (this script is for Debian)."
    if [ "$(id -u)" -ne 0 ] && [ "${#sudo[@]}" -eq 0 ]; then
        die "cannot install $*: not root and sudo is not available."
    fi
    if [ "$apt_updated" -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
            || die "'apt-get update' failed."
        apt_updated=1
    fi
    say "installing $* with apt-get."
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" \
        || die "'apt-get install $*' failed."
}

# --- the broker (noida-db) ------------------------------------------------

# Prints the path of the broker binary inside the installed package, or
# fails when the package is not installed at the pinned version.
noida_binary() {
    "$venv/bin/python" - "$NOIDA_VERSION" 2>/dev/null <<'EOF'
import importlib.metadata, os, sys
import noida_db
if importlib.metadata.version("noida-db") != sys.argv[1]:
    sys.exit(1)
print(os.path.join(os.path.dirname(noida_db.__file__), "noida-db"))
EOF
}

broker_ok() {
    local bin
    bin=$(noida_binary) && [ -x "$bin" ] && "$bin" version >/dev/null 2>&1
}

if broker_ok; then
    say "noida-db $NOIDA_VERSION is already installed in $venv."
else
    command -v "$python" >/dev/null 2>&1 || apt_install python3 python3-venv
    if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        say "creating the virtualenv $venv."
        if ! "$python" -m venv --clear "$venv"; then
            # Debian's python3 needs python3-venv for ensurepip.
            [ "$(command -v "$python")" = /usr/bin/python3 ] \
                || die "cannot create a virtualenv with $python."
            apt_install python3-venv
            "$python" -m venv --clear "$venv" || die "cannot create a virtualenv with $python."
        fi
    fi
    say "installing noida-db==$NOIDA_VERSION (pinned by sha256) into $venv."
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input \
        --no-deps --only-binary :all: --require-hashes \
        -r <(echo "noida-db==$NOIDA_VERSION --hash=sha256:$NOIDA_SHA256") \
        || die "'pip install noida-db==$NOIDA_VERSION' failed."
    broker_ok || die "noida-db $NOIDA_VERSION was installed but its broker binary does not run."
    say "installed noida-db $NOIDA_VERSION: $(noida_binary)"
fi

# --- PostgreSQL -------------------------------------------------------------

pg_bindir() {
    local d
    while IFS= read -r d; do
        if [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
            return 0
        fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
    return 1
}

if bindir=$(pg_bindir); then
    say "PostgreSQL server found in $bindir."
else
    apt_install postgresql
    bindir=$(pg_bindir) || die "no PostgreSQL server under /usr/lib/postgresql/*/bin after installing postgresql."
    say "installed PostgreSQL: $bindir."
fi
for tool in psql pg_isready; do
    [ -x "$bindir/$tool" ] || die "$bindir/$tool is missing (package postgresql-client)."
done
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    die "the 'postgres' system user is missing: PostgreSQL cannot run as root."
fi
say "done."
