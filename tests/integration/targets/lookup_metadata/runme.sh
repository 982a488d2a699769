#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# imds.azure.metadata with real ansible-playbook runs:
#   live.yml     live lookups (loopback emulator, IMDS rate limit on): every path form, JMESPath,
#                defaults, failures; one request per category for the whole run
#   nocache.yml  cache=false: fresh answers, still never a 429
#   facts.yml    3 hosts, 3 emulators: source=auto answers each host from its own facts, 0 requests
#   netns.yml    inside a private network namespace: the default endpoint 169.254.169.254
set -euo pipefail
source ../setup_emulator/emulator.sh
set -x
unset AZURE_IMDS_ENDPOINT AZURE_IMDS_LOOKUP_SOURCE
export ANSIBLE_NOCOLOR=1

if [ -n "${IMDS_IN_NETNS:-}" ]; then
    # --- second half: inside the namespace, the default endpoint ----------------------------
    emulator_start --listen 169.254.169.254:80
    vm_id="$("$PYTHON" -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/_emulator/profile"))["compute"]["vmId"])' "$EMULATOR_URL")"
    ansible-playbook -i "$TEST_INVENTORY" netns.yml -e "expected_vm_id=$vm_id" "$@"
    emulator_expect_requests "netns: instance requests" "$EMULATOR_URL" /metadata/instance 1
    emulator_expect_requests "netns: versions requests" "$EMULATOR_URL" /metadata/versions 1
    exit 0
fi

# --- live mode against the loopback emulator (rate limit 5/s on) ------------------------------
emulator_start --rate-limit 5
ansible-playbook -i "$TEST_INVENTORY" live.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
emulator_expect_requests "live: instance requests" "$EMULATOR_URL" /metadata/instance 1
emulator_expect_requests "live: versions requests" "$EMULATOR_URL" /metadata/versions 1
emulator_expect_requests "live: loadbalancer requests" "$EMULATOR_URL" /metadata/loadbalancer 1
emulator_expect_requests "live: scheduledevents requests" "$EMULATOR_URL" /metadata/scheduledevents 1
emulator_clear_log
ansible-playbook -i "$TEST_INVENTORY" nocache.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
emulator_expect_requests "nocache: instance requests" "$EMULATOR_URL" /metadata/instance 12
"$PYTHON" - "$EMULATOR_URL" <<'PY'
import json, sys, urllib.request
records = json.load(urllib.request.urlopen(sys.argv[1] + "/_emulator/log", timeout=5))
bad = [r for r in records if r["status"] != 200]
assert not bad, "requests not answered 200 (rate limit exceeded?): %r" % bad
PY
emulator_stop_all

# --- three hosts, each with its own emulator, facts per host ----------------------------------
# No rate limit here: the gather's 4 requests and the live lookup's 2 can fall within one second (the
# lookups pace only their own requests), and IMDS would answer the 6th with a 429 that the lookup rightly
# retries; that is live.yml's subject, not what these counts check.
manifest="$EMULATOR_WORKDIR/fleet.json"
emulator_start --fleet-size 3 --seed 7 --fleet-out "$manifest" --rate-limit off
inventory="$EMULATOR_WORKDIR/fleet.ini"
"$PYTHON" - "$manifest" "$PYTHON" > "$inventory" <<'PY'
import json, sys
vms = json.load(open(sys.argv[1]))
print("[fleet]")
for index, vm in enumerate(vms):
    print("vm%d ansible_connection=local ansible_python_interpreter=%s azure_imds_endpoint=%s expected_vm_id=%s "
          "expected_name=%s expected_lb=%s" % (index, sys.argv[2], vm["url"], vm["vmId"], vm["name"], vm["loadbalancer"]))
print("[nofacts]")
print("bare ansible_connection=local ansible_python_interpreter=%s" % sys.argv[2])
PY
cat "$inventory"
ansible-playbook -i "$inventory" facts.yml "$@"
grep -o 'http://[0-9.:]*' "$inventory" | while read -r url; do
    # facts.yml cleared each log after gathering: the lookups from facts made no request; the one
    # source=live lookup per host made one versions and one instance request to that host's emulator
    emulator_expect_requests "fleet $url: instance requests after gathering" "$url" /metadata/instance 1
    emulator_expect_requests "fleet $url: all requests after gathering" "$url" /metadata 2
done
emulator_stop_all

# --- the default endpoint, inside a private network namespace --------------------------------
exec_in_netns "$0" "$@"
