#!/usr/bin/env bash
# Installs what the browser end-to-end test of `serve` needs (the review page
# driven through WebDriver, crates/bump-serve/tests/integration/browser.rs):
# Debian's `chromium` and `chromium-driver` (which provides `chromedriver`).
# Does nothing when both are installed. Without them the test skips, unless
# STREETBUMP_REQUIRE_BROWSER=1 is set.
set -euo pipefail

packages=(chromium chromium-driver)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${packages[@]}"; do
    if installed "$p"; then
        echo "install-browser: $p is already installed."
    else
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-browser: nothing to do."
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: cannot install ${missing[*]}: apt-get not found (this script is for Debian)." >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-browser: cannot install ${missing[*]}: not root and sudo is not available." >&2
        exit 1
    fi
fi

echo "install-browser: installing ${missing[*]} with apt-get."
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -q; then
    echo "install-browser: 'apt-get update' failed." >&2
    exit 1
fi
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "install-browser: 'apt-get install ${missing[*]}' failed." >&2
    exit 1
fi

for p in "${packages[@]}"; do
    if ! installed "$p"; then
        echo "install-browser: $p is still not installed after apt-get." >&2
        exit 1
    fi
done
for cmd in chromium chromedriver; do
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/bin/$cmd" ]; then
        echo "install-browser: $cmd is not on PATH after installing." >&2
        exit 1
    fi
done
echo "install-browser: installed ${missing[*]}."
