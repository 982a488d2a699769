# shellcheck shell=bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Shared helpers for the integration targets, sourced by their runme.sh:
#
#   source ../setup_emulator/emulator.sh
#   emulator_start --fault status=500,ratio=0.3     # exports EMULATOR_URL
#   ansible-playbook -i "$TEST_INVENTORY" play.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
#   emulator_request_count                          # requests the emulator served
#   emulator_expect_requests LABEL URL PREFIX N     # fail, listing the requests, unless N were served
#   require_programs redis-server                   # fail at once, naming a missing program's package
#   emulator_on_exit stop_my_server                 # run by the EXIT trap, before the emulators stop
#
# Every Python process started from here carries the network guard (tools/netguard): a
# connection to anything but loopback, outside a namespace the test created, fails loudly,
# and the EXIT trap fails the target if any such attempt was logged.
#
# A target that needs the default endpoint re-runs itself in a private namespace:
#   [ -n "${IMDS_IN_NETNS:-}" ] || exec_in_netns "$0" "$@"
#   emulator_start --listen 169.254.169.254:80

set -euo pipefail

_first_collections_path="${ANSIBLE_COLLECTIONS_PATH:-}"
_first_collections_path="${_first_collections_path%%:*}"
if [ -n "$_first_collections_path" ] && [ -d "$_first_collections_path/ansible_collections/imds/azure/tools" ]; then
    COLLECTION_ROOT="$_first_collections_path/ansible_collections/imds/azure"
else
    # Run straight from a checkout that sits at .../ansible_collections/imds/azure.
    COLLECTION_ROOT="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
    ANSIBLE_COLLECTIONS_PATH="$(cd "$COLLECTION_ROOT/../../.." && pwd)"
    export ANSIBLE_COLLECTIONS_PATH
fi
export COLLECTION_ROOT
PYTHON="$(command -v python || command -v python3)"
export PYTHON

export PYTHONPATH="$COLLECTION_ROOT/tools/netguard${PYTHONPATH:+:$PYTHONPATH}"
EMULATOR_WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/imds-it.XXXXXX")"
export EMULATOR_WORKDIR
export IMDS_NETGUARD_LOG="${IMDS_NETGUARD_LOG:-$EMULATOR_WORKDIR/netguard.log}"

TEST_INVENTORY="$EMULATOR_WORKDIR/inventory.ini"
printf '[local]\ntesthost ansible_connection=local ansible_python_interpreter=%s\n' "$PYTHON" > "$TEST_INVENTORY"
export TEST_INVENTORY

_EMULATOR_PIDS=()
_EMULATOR_CLEANUPS=()

require_programs() {
    # require_programs PROGRAM[=PACKAGE]...: fail at once when a program is missing, naming the
    # Debian package to install (tools/harness/system-packages.txt lists what make test installs).
    local spec program missing=()
    for spec in "$@"; do
        program="${spec%%=*}"
        command -v "$program" > /dev/null || missing+=("$program (Debian package ${spec#*=})")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "FAILED: this test needs programs that are not installed: ${missing[*]}." >&2
        echo "  Install them with apt-get install, or run make test as root: it installs tools/harness/system-packages.txt." >&2
        exit 1
    fi
}

emulator_on_exit() {
    # emulator_on_exit COMMAND [ARG...]: run COMMAND when the target exits, whatever its status,
    # before the emulators stop (last registered runs first).
    _EMULATOR_CLEANUPS+=("$(printf '%q ' "$@")")
}

emulator_start() {
    # emulator_start [EMULATOR ARGS...]: start one emulator (default --listen 127.0.0.1:0),
    # wait for its banner and export EMULATOR_URL / EMULATOR_PID.
    local args=("$@") out
    case " ${args[*]-} " in
        *" --listen "*) ;;
        *) args=(--listen 127.0.0.1:0 "${args[@]}") ;;
    esac
    out="$(mktemp "$EMULATOR_WORKDIR/emulator.XXXXXX")"
    (cd "$COLLECTION_ROOT" && exec "$PYTHON" -m tools.imds_emulator "${args[@]}") > "$out" 2> "$out.err" &
    EMULATOR_PID=$!
    _EMULATOR_PIDS+=("$EMULATOR_PID")
    local deadline=$((SECONDS + 20))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if grep -q '^listening on http://' "$out"; then
            EMULATOR_URL="$(grep -m1 '^listening on http://' "$out" | sed -e 's/^listening on //' -e 's/ .*//')"
            EMULATOR_BANNER="$out"
            export EMULATOR_URL EMULATOR_PID EMULATOR_BANNER
            return 0
        fi
        if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "emulator did not start: $(cat "$out" "$out.err")" >&2
    return 1
}

emulator_stop_all() {
    local pid
    for pid in "${_EMULATOR_PIDS[@]-}"; do
        if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
        fi
    done
    _EMULATOR_PIDS=()
}

emulator_request_count() {
    # emulator_request_count [URL] [PATH_PREFIX]: requests served (control endpoints excluded).
    "$PYTHON" - "${1:-$EMULATOR_URL}" "${2:-/metadata}" <<'PY'
import json, sys, urllib.request
url, prefix = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url + "/_emulator/log", timeout=5) as response:
    records = json.load(response)
print(sum(1 for record in records if record["path"].startswith(prefix)))
PY
}

emulator_expect_requests() {
    # emulator_expect_requests LABEL URL PREFIX N: exit 1 unless the emulator at URL served N requests
    # under PREFIX; a failure lists every request it logged (time, method, target, status) to show why.
    "$PYTHON" - "$@" <<'PY'
import json, sys, urllib.request
label, url, prefix, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with urllib.request.urlopen(url + "/_emulator/log", timeout=5) as response:
    records = json.load(response)
count = sum(1 for record in records if record["path"].startswith(prefix))
if count != want:
    print("FAILED: %s: expected %d requests to %s%s, got %d; the emulator logged:" % (label, want, url, prefix, count), file=sys.stderr)
    start = records[0]["time"] if records else 0
    for record in records:
        print("  +%.3f s %s %s?%s -> %s" % (record["time"] - start, record["method"], record["path"], record["raw_query"],
                                            record["status"]), file=sys.stderr)
    sys.exit(1)
PY
}

emulator_clear_log() {
    "$PYTHON" - "${1:-$EMULATOR_URL}" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_emulator/log", method="DELETE"), timeout=5).close()
PY
}

exec_in_netns() {
    # exec_in_netns COMMAND...: replace this shell by COMMAND inside a private namespace, after
    # the clean-up the EXIT trap would do (what ran so far must not leave anything behind).
    _emulator_cleanup || exit 1
    trap - EXIT
    export IMDS_IN_NETNS=1
    unset IMDS_NETGUARD_LOG
    exec "$COLLECTION_ROOT/tools/run-in-netns.sh" "$@"
}

_emulator_cleanup() {
    # Stops everything this target started; returns 1 when the network guard logged a blocked connection.
    local index rc=0
    for ((index = ${#_EMULATOR_CLEANUPS[@]} - 1; index >= 0; index--)); do
        eval "${_EMULATOR_CLEANUPS[index]}" || true
    done
    _EMULATOR_CLEANUPS=()
    emulator_stop_all
    if [ -s "$IMDS_NETGUARD_LOG" ]; then
        echo "FAILED: the network guard blocked connections:" >&2
        cat "$IMDS_NETGUARD_LOG" >&2
        rc=1
    fi
    rm -rf "$EMULATOR_WORKDIR"
    return "$rc"
}

_emulator_exit() {
    local rc=$?
    # errexit must not cut the clean-up short (a failing status would end the trap right here).
    set +e
    _emulator_cleanup || rc=1
    exit "$rc"
}
trap _emulator_exit EXIT
