#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# End-to-end test of the imds.azure.route role and imds.azure.metadata_route on Linux, with
# real kernel routing in network namespaces (needs root):
#
#   platform ns  eth0 198.51.100.1/24, lo 169.254.169.254/32, the IMDS emulator on :80
#        |  veth
#   vm ns        eth0 198.51.100.10/24, default via 198.51.100.1 metric 100
#                clu0 169.254.1.1/16: the "cluster adapter"; its connected 169.254.0.0/16
#        |  veth   route captures IMDS traffic, as the failover cluster adapter does on Windows
#   cluster ns   clu0 169.254.1.2/16 (a partner node that does not know 169.254.169.254)
#
# ansible-playbook runs inside the vm namespace with ansible_connection=local.
# Runs under ansible-test (collection found through ANSIBLE_COLLECTIONS_PATH) or directly
# from a checkout (falls back to the git top level).
set -euo pipefail

for program in ip=iproute2 setpriv=util-linux timeout=coreutils; do
    if ! command -v "${program%%=*}" > /dev/null; then
        echo "FAILED: ${program%%=*} not found: install the Debian package ${program#*=}" \
             "(make test installs tools/harness/system-packages.txt)" >&2
        exit 1
    fi
done
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
first_path="${ANSIBLE_COLLECTIONS_PATH:-}"
first_path="${first_path%%:*}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/imds-route-e2e.XXXXXX")"
if [ -n "$first_path" ] && [ -d "$first_path/ansible_collections/imds/azure/roles/route" ]; then
    ROOT="$first_path/ansible_collections/imds/azure"
else
    ROOT="$(git -C "$here" rev-parse --show-toplevel)"
    mkdir -p "$WORK/collections/ansible_collections/imds"
    ln -s "$ROOT" "$WORK/collections/ansible_collections/imds/azure"
    export ANSIBLE_COLLECTIONS_PATH="$WORK/collections"
fi
if ! command -v ansible-playbook >/dev/null 2>&1 && [ -x "$ROOT/.venv/bin/ansible-playbook" ]; then
    export PATH="$ROOT/.venv/bin:$PATH"
fi
PYTHON="$(command -v python || command -v python3)"
# Every Python process carries the network guard; the namespaces below are ours.
export PYTHONPATH="$ROOT/tools/netguard${PYTHONPATH:+:$PYTHONPATH}"
export IMDS_NETGUARD_LOG="$WORK/netguard.log"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0

suffix="$$$RANDOM"
PF="imdsrt-pf-$suffix"
VM="imdsrt-vm-$suffix"
CL="imdsrt-cl-$suffix"
EMULATOR_PID=""

cleanup() {
    local rc=$?
    set +e
    if [ -n "$EMULATOR_PID" ]; then
        kill "$EMULATOR_PID" 2>/dev/null
        wait "$EMULATOR_PID" 2>/dev/null
    fi
    for ns in "$VM" "$PF" "$CL"; do
        ip netns del "$ns" 2>/dev/null
    done
    if [ -s "$IMDS_NETGUARD_LOG" ]; then
        echo "FAILED: the network guard blocked connections:" >&2
        cat "$IMDS_NETGUARD_LOG" >&2
        rc=1
    fi
    rm -rf "$WORK"
    if [ "$rc" -eq 0 ]; then echo "route_netns: PASSED"; else echo "route_netns: FAILED (rc $rc)" >&2; fi
    exit "$rc"
}
trap cleanup EXIT INT TERM

step() { printf '\n=== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
in_vm() { ip netns exec "$VM" "$@"; }

# ---------------------------------------------------------------- topology
step "creating namespaces $PF $VM $CL"
for ns in "$PF" "$VM" "$CL"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip -n "$VM" link add eth0 type veth peer name pfeth
ip -n "$VM" link set pfeth netns "$PF"
ip -n "$PF" link set pfeth name eth0
ip -n "$VM" link add clu0 type veth peer name clpeer
ip -n "$VM" link set clpeer netns "$CL"
ip -n "$CL" link set clpeer name clu0

ip -n "$PF" addr add 198.51.100.1/24 dev eth0
ip -n "$PF" addr add 169.254.169.254/32 dev lo
ip -n "$PF" link set eth0 up
ip -n "$VM" addr add 198.51.100.10/24 dev eth0
ip -n "$VM" link set eth0 up
ip -n "$VM" route add default via 198.51.100.1 dev eth0 metric 100
ip -n "$VM" addr add 169.254.1.1/16 dev clu0
ip -n "$VM" link set clu0 up
ip -n "$CL" addr add 169.254.1.2/16 dev clu0
ip -n "$CL" link set clu0 up

step "starting the IMDS emulator in $PF on 169.254.169.254:80"
(cd "$ROOT" && exec ip netns exec "$PF" "$PYTHON" -m tools.imds_emulator --listen 169.254.169.254:80) \
    > "$WORK/emulator.out" 2> "$WORK/emulator.err" &
EMULATOR_PID=$!
for _ in $(seq 1 100); do
    grep -q '^listening on http://' "$WORK/emulator.out" && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q '^listening on http://' "$WORK/emulator.out" || fail "emulator did not start: $(cat "$WORK/emulator.out" "$WORK/emulator.err")"
head -1 "$WORK/emulator.out"

cat > "$WORK/inventory.ini" <<INV
[vms]
vm ansible_connection=local ansible_python_interpreter=$PYTHON
INV

# ---------------------------------------------------------------- helpers
imds_probe() {
    # rc 0 when IMDS answers from the vm namespace within 2 s
    in_vm timeout 5 "$PYTHON" - <<'PY'
import sys, urllib.request
request = urllib.request.Request("http://169.254.169.254/metadata/instance?api-version=2021-02-01", headers={"Metadata": "true"})
try:
    with urllib.request.urlopen(request, timeout=2) as response:
        print("IMDS answered: HTTP %s" % response.status)
except Exception as exc:
    print("IMDS did not answer: %s" % (exc,))
    sys.exit(1)
PY
}

show_routes() {
    echo "--- vm: ip route get 169.254.169.254: $(in_vm ip -4 route get 169.254.169.254 2>&1 | head -1)"
    echo "--- vm: 169.254.169.254/32 routes: $(in_vm ip -4 route show 169.254.169.254/32 | tr '\n' ';')"
}

imds_routes() { in_vm ip -4 route show 169.254.169.254/32; }

# run_play NAME EXPECT_CHANGED [ansible-playbook args...]: runs play.yml in the vm namespace
run_play() {
    local name=$1 expect=$2
    shift 2
    step "role run: $name (expect changed=$expect)"
    in_vm timeout 300 ansible-playbook -i "$WORK/inventory.ini" "$here/play.yml" \
        -e "expect_changed=$expect" -e "result_file=$WORK/$name.json" "$@" 2>&1 | tee "$WORK/$name.log"
    "$PYTHON" - "$WORK/$name.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
print("changed=%s interface=%s reason=%r" % (result.get("changed"), result.get("interface"), result.get("interface_reason")))
print("actions=%s" % result.get("actions"))
print("commands=%s" % result.get("commands"))
PY
}

# ---------------------------------------------------------------- scenarios
step "1. the cluster adapter captures IMDS traffic"
show_routes
in_vm ip -4 route get 169.254.169.254 | grep -q 'dev clu0' || fail "expected IMDS traffic to leave through clu0"
if imds_probe; then fail "IMDS answered although clu0 captures its traffic"; fi

run_play check_broken true --check --diff
grep -q -- '+active: 169.254.169.254/32 via 198.51.100.1 dev eth0 metric 1' "$WORK/check_broken.log" || fail "no diff in check mode"
[ -z "$(imds_routes)" ] || fail "check mode changed the routes: $(imds_routes)"
if imds_probe; then fail "IMDS answered after a check-mode run"; fi
if grep -q 'running kernel only' "$WORK/check_broken.log"; then fail "check mode warned that it changed the route"; fi

run_play fix true
show_routes
[ "$(imds_routes)" = "169.254.169.254 via 198.51.100.1 dev eth0 metric 1 " ] || [ "$(imds_routes)" = "169.254.169.254 via 198.51.100.1 dev eth0 metric 1" ] \
    || fail "unexpected route after the fix: $(imds_routes)"
imds_probe || fail "IMDS does not answer after the fix"
# route_persistent has no effect on Linux: the role's repair does not warn about it
if grep -q 'running kernel only' "$WORK/fix.log"; then fail "the role warned about persistence on Linux"; fi

run_play again false
run_play check_fixed false --check --diff

step "2. a wrong-interface /32 route (and a stale duplicate with another metric)"
in_vm ip -4 route del 169.254.169.254/32
in_vm ip -4 route add 169.254.169.254/32 dev clu0 metric 5
in_vm ip -4 route add 169.254.169.254/32 dev clu0 metric 1
show_routes
if imds_probe; then fail "IMDS answered through the wrong interface"; fi
run_play wrong_interface true --diff
show_routes
[ "$(imds_routes | wc -l)" -eq 1 ] || fail "expected exactly one route: $(imds_routes)"
imds_routes | grep -q 'via 198.51.100.1 dev eth0 metric 1' || fail "route not repaired: $(imds_routes)"
imds_probe || fail "IMDS does not answer after the repair"

step "3. routes and rules that block IMDS traffic: named, left alone, removed only with remove_blocks"
in_vm timeout 300 ansible-playbook -i "$WORK/inventory.ini" "$here/blocks.yml" > "$WORK/blocks.log" 2>&1 \
    || { cat "$WORK/blocks.log"; fail "blocks.yml failed"; }
grep -o "imds_error.: .blocked[^}]*" "$WORK/blocks.log" | head -1 | cut -c1-300
show_routes
imds_probe || fail "IMDS does not answer after the role removed the blocks"

step "4. not enough privilege (root without CAP_NET_ADMIN)"
in_vm ip -4 route del 169.254.169.254/32
if in_vm setpriv --bounding-set -net_admin --inh-caps -net_admin timeout 120 ansible -i "$WORK/inventory.ini" vm \
        -m imds.azure.metadata_route > "$WORK/nocap.log" 2>&1; then
    cat "$WORK/nocap.log"
    fail "the route change succeeded without CAP_NET_ADMIN"
fi
grep -q '"imds_error": "privilege"' "$WORK/nocap.log" || { cat "$WORK/nocap.log"; fail "no privilege error"; }
grep -q '"error": "privilege"' "$WORK/nocap.log" || { cat "$WORK/nocap.log"; fail "no deprecated error alias"; }
grep -o 'changing routes needs root or CAP_NET_ADMIN[^"]*' "$WORK/nocap.log"
[ -z "$(imds_routes)" ] || fail "routes changed without privilege: $(imds_routes)"

step "5. fleet playbook (examples/fix-imds-route.yml) reports the repaired hosts"
in_vm timeout 300 ansible-playbook -i "$WORK/inventory.ini" "$ROOT/examples/fix-imds-route.yml" -e imds_route_hosts=vms \
    | tee "$WORK/fleet.log"
if ! grep -A2 '"repaired": \[' "$WORK/fleet.log" | grep -q '"vm"'; then
    fail "the fleet report does not list vm as repaired"
fi
imds_probe || fail "IMDS does not answer after the fleet playbook"

requests="$(in_vm timeout 5 "$PYTHON" -c 'import json, urllib.request; print(sum(1 for r in json.load(urllib.request.urlopen("http://169.254.169.254/_emulator/log", timeout=2)) if r["path"].startswith("/metadata")))' 2>/dev/null || echo "?")"
echo "emulator served $requests /metadata requests (role verifications and probes)"

step "6. an 'ip' that prints garbage route tables: error parse, nothing changed"
mkdir -p "$WORK/garbage-bin"
real_ip="$(command -v ip)"
cat > "$WORK/garbage-bin/ip" <<GARBAGE
#!/bin/sh
# Route tables that no iproute2 prints; every other 'ip' command is the real one.
case " \$* " in
    *" -j "*" route show "*) echo '[{"dst": "default", "gateway": "198.51.100.1", "dev": "eth0", "metric": "abc"}]' ;;
    *" route show "*) echo 'default via 198.51.100.1 dev eth0 metric abc' ;;
    *) exec "$real_ip" "\$@" ;;
esac
GARBAGE
chmod +x "$WORK/garbage-bin/ip"
before="$(imds_routes)"
if in_vm env PATH="$WORK/garbage-bin:$PATH" timeout 120 ansible -i "$WORK/inventory.ini" vm -m imds.azure.metadata_route \
        > "$WORK/garbage.log" 2>&1; then
    cat "$WORK/garbage.log"
    fail "the route task succeeded on garbage route tables"
fi
grep -q '"imds_error": "parse"' "$WORK/garbage.log" || { cat "$WORK/garbage.log"; fail "no parse error for garbage route tables"; }
grep -o "'ip route' line 1: metric 'abc' is not a whole number[^\"]*" "$WORK/garbage.log" \
    || { cat "$WORK/garbage.log"; fail "the parse error does not name the line"; }
if grep -q 'invalid literal\|Traceback' "$WORK/garbage.log"; then cat "$WORK/garbage.log"; fail "an unhandled exception escaped"; fi
[ "$(imds_routes)" = "$before" ] || fail "routes changed on garbage tables: $(imds_routes)"

step "7. state=absent removes the route"
in_vm timeout 300 ansible-playbook -i "$WORK/inventory.ini" "$here/play.yml" -e expect_changed=true \
    -e "result_file=$WORK/absent.json" -e route_state=absent | tail -3
[ -z "$(imds_routes)" ] || fail "route still present after state=absent: $(imds_routes)"
if imds_probe; then fail "IMDS answered after the route was removed"; fi

step "8. IMDS does not answer: every host fails the verification, the fleet report still runs, and no message says to run the role"
kill "$EMULATOR_PID"
wait "$EMULATOR_PID" 2>/dev/null || true
EMULATOR_PID=""
if in_vm timeout 300 ansible-playbook -i "$WORK/inventory.ini" "$ROOT/examples/fix-imds-route.yml" -e imds_route_hosts=vms \
        -e route_verify_timeout=1 -e route_verify_deadline=2 > "$WORK/fleet_failed.log" 2>&1; then
    cat "$WORK/fleet_failed.log"
    fail "the fleet playbook passed although IMDS does not answer"
fi
grep -A3 '"failed": {' "$WORK/fleet_failed.log" | grep -q '"vm": "IMDS at http://169.254.169.254 does not answer from vm after the route repair' \
    || { cat "$WORK/fleet_failed.log"; fail "the fleet report did not run, or does not list vm as failed"; }
if grep -q 'imds.azure.route role' "$WORK/fleet_failed.log"; then
    cat "$WORK/fleet_failed.log"
    fail "a message of the role tells the user to run the role"
fi
grep -o '"vm": "IMDS at [^"]*' "$WORK/fleet_failed.log" | head -1
