#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The machine set-up behind `make test` (and `make test-matrix`): on Debian or Ubuntu, as root,
# installs the packages of tools/harness/system-packages.txt that are missing; otherwise stops at
# once with the exact command to run. Then checks for the Pythons the tests need.
#
# PYTHON (as in the Makefile) names the Python 3.12 to use; by default pyenv's, or python3.12.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LIST="$ROOT/tools/harness/system-packages.txt"

fail() {
    echo "setup: $*" >&2
    exit 1
}

mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$LIST")

if [ "$(id -u)" -ne 0 ]; then
    # Network namespaces, routes and ansible-test --allow-root: the tests run as root.
    fail "make test needs root (network namespaces, routing tables). Run: sudo make test"
fi
if ! command -v dpkg-query > /dev/null || ! command -v apt-get > /dev/null; then
    fail "this is not a Debian or Ubuntu machine: install the packages of $LIST" \
         "(${packages[*]}) with its package manager, then run make test again"
fi

missing=()
for package in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    command="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt run (a second checkout's make test) holds the lock for a while: wait for it.
    apt-get -o DPkg::Lock::Timeout=600 update -qq ||
        fail "apt-get update failed. Run: $command"
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" > /dev/null ||
        fail "installing ${missing[*]} failed. Run: $command"
fi

# Python: 3.12 for the venv (the Makefile's PYTHON), 3.8 for the managed-node compile check of
# the sanity step. pyenv's builds are preferred, as in the Makefile and tools/harness/run.sh.
for version in 3.12 3.8; do
    found=""
    [ "$version" = 3.12 ] && [ -n "${PYTHON:-}" ] && found="$(command -v "$PYTHON" || true)"
    [ -n "$found" ] || found="$(find "$HOME/.pyenv/versions" -maxdepth 3 -path "*/$version.*/bin/python$version" 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$found" ] || found="$(command -v "python$version" || true)"
    [ -n "$found" ] || fail "Python $version not found. Run: pyenv install $version (or put python$version on PATH)"
done
echo "setup: ok (${#packages[@]} Debian packages, Python 3.12 and 3.8)"
