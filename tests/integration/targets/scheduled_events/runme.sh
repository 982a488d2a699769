#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# imds.azure.scheduled_events against the emulator's scheduled-events state machine: the module
# on loopback, then the maintenance recipe (examples/maintenance/drain_and_approve.yml) with its
# real default endpoint inside a private network namespace, driven through Freeze, Reboot,
# Redeploy, Preempt and Terminate.
set -euo pipefail
source ../setup_emulator/emulator.sh
[ -n "${IMDS_IN_NETNS:-}" ] || exec_in_netns "$0" "$@"
set -x

PLAY=(ansible-playbook -i "$TEST_INVENTORY")
unset AZURE_IMDS_ENDPOINT

posts() {
    # posts URL: the StartRequests event ids the emulator received, one POST per line.
    "$PYTHON" - "$1" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/_emulator/log", timeout=5) as response:
    records = json.load(response)
for record in records:
    if record["method"] == "POST":
        print(" ".join(item["EventId"] for item in json.loads(record["body"])["StartRequests"]))
PY
}

add_event() {
    # add_event URL JSON: add a scheduled event through the control endpoint, print its id.
    "$PYTHON" - "$1" "$2" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1] + "/_emulator/scheduledevents", data=sys.argv[2].encode(), method="POST")
with urllib.request.urlopen(request, timeout=5) as response:
    print(json.load(response)["EventIds"][0])
PY
}

status_of() {
    # status_of URL ID: the event's EventStatus, or "gone".
    "$PYTHON" - "$1" "$2" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/_emulator/scheduledevents", timeout=5) as response:
    events = json.load(response)["Events"]
print(next((e["EventStatus"] for e in events if e["EventId"] == sys.argv[2]), "gone"))
PY
}

fail() { echo "FAILED: $*" >&2; exit 1; }

# --- the module -------------------------------------------------------------------------------
emulator_start
"${PLAY[@]}" module.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
emulator_stop_all

# --- the recipe, at the default endpoint, through every event type ------------------------------
# The first scheduled-events request switches the service on and is answered late (6 s here,
# up to ~2 minutes on Azure): longer than the 5 s per-attempt timeout, shorter than the deadline.
echo '{"emulator": {"scheduled_events_warmup": 6}}' > "$EMULATOR_WORKDIR/warmup.json"
emulator_start --listen 169.254.169.254:80 --profile "$EMULATOR_WORKDIR/warmup.json"
IMDS=http://169.254.169.254
RECIPE="$COLLECTION_ROOT/examples/maintenance/drain_and_approve.yml"
RECIPE_ARGS=(-e "maintenance_drain_tasks=$PWD/files/drain.yml" -e "maintenance_restore_tasks=$PWD/files/restore.yml"
             -e "emulator_control=$IMDS/_emulator/scheduledevents" -e maintenance_reboot_grace=0 -e maintenance_wait_timeout=60)

for type in Freeze Reboot Redeploy Preempt Terminate; do
    log="$EMULATOR_WORKDIR/recipe-$type.log"
    mine="$(add_event "$IMDS" "{\"scenario\": \"$type\", \"notice\": 300, \"started\": 2}")"
    other="$(add_event "$IMDS" '{"scenario": "Reboot", "notice": 300, "Resources": ["web-02"]}')"
    emulator_clear_log "$IMDS"
    "${PLAY[@]}" "$RECIPE" "${RECIPE_ARGS[@]}" -e "maintenance_log=$log" "$@"
    cat "$log"
    # Drained while the event was still Scheduled (before the approval) ...
    grep -qx "drain testhost $type Scheduled" "$log" || fail "$type: no drain before the approval"
    # ... exactly this host's event approved, once; the other VM's event untouched ...
    [ "$(posts "$IMDS")" = "$mine" ] || fail "$type: approvals were: $(posts "$IMDS")"
    [ "$(status_of "$IMDS" "$other")" = "Scheduled" ] || fail "$type: the other VM's event was approved"
    case "$type" in
        Preempt|Terminate)
            # ... the VM is going away: never put back.
            [ "$(wc -l < "$log")" -eq 1 ] || fail "$type: the host was put back"
            [ "$(status_of "$IMDS" "$mine")" != "Scheduled" ] || fail "$type: not started" ;;
        *)
            # ... put back only once the event was over.
            grep -qx "restore testhost $type left=0" "$log" || fail "$type: not restored after the event"
            [ "$(wc -l < "$log")" -eq 2 ] || fail "$type: unexpected log" ;;
    esac
    # Run again (once a Preempt or Terminate is over: the VM would be gone): nothing for this host, so no
    # drain and no approval.
    until [ "$(status_of "$IMDS" "$mine")" = gone ]; do sleep 0.2; done
    emulator_clear_log "$IMDS"
    "${PLAY[@]}" "$RECIPE" "${RECIPE_ARGS[@]}" -e "maintenance_log=$log.again" "$@"
    [ ! -e "$log.again" ] || fail "$type: the second run drained again"
    [ -z "$(posts "$IMDS")" ] || fail "$type: the second run approved again"
done

# An event that is already Started when the recipe reads it (it came with no notice, or started between two
# reads, or the run came late): the host is drained (late), nothing is approved, it is put back once the event
# is over, and the run fails naming it. The event appears while the recipe is watching, whenever that is.
log="$EMULATOR_WORKDIR/recipe-late.log"
emulator_clear_log "$IMDS"
( trap - EXIT
  until [ "$(emulator_request_count "$IMDS" /metadata/scheduledevents)" -gt 0 ]; do sleep 0.5; done
  add_event "$IMDS" '{"scenario": "Freeze", "EventStatus": "Started", "started": 3}' > "$log.id" ) &
announcer=$!
if "${PLAY[@]}" "$RECIPE" "${RECIPE_ARGS[@]}" -e "maintenance_log=$log" -e maintenance_watch=60 "$@" > "$log.out"; then
    cat "$log.out"; fail "late: the run reported success"
fi
wait "$announcer"
cat "$log" "$log.out"
grep -qxE "drain testhost Freeze (Started)?" "$log" || fail "late: not drained"   # (the event may be over by then)
grep -qx "restore testhost Freeze left=0" "$log" || fail "late: not put back after the event"
[ -z "$(posts "$IMDS")" ] || fail "late: approved $(posts "$IMDS")"
grep -q "Maintenance began before its host was out of the load balancer: testhost ($(cat "$log.id"))" "$log.out" ||
    fail "late: not reported"

# The recipe on a Windows host (the fakewin test connection of metadata_facts_windows, cmd shell like
# winrm): the same code runs on the controller and every IMDS request is a PowerShell command.
# Reboot and Redeploy are left out here: their wait_for_connection needs a module run on Windows.
export ANSIBLE_CONNECTION_PLUGINS="$PWD/../metadata_facts_windows/connection_plugins"
WIN_INVENTORY="$EMULATOR_WORKDIR/windows.ini"
printf '[windows]\nwinrm-like ansible_connection=fakewin ansible_shell_type=cmd\n' > "$WIN_INVENTORY"
for type in Freeze Terminate; do
    log="$EMULATOR_WORKDIR/windows-$type.log"
    mine="$(add_event "$IMDS" "{\"scenario\": \"$type\", \"notice\": 300, \"started\": 2}")"
    emulator_clear_log "$IMDS"
    ansible-playbook -i "$WIN_INVENTORY" "$RECIPE" "${RECIPE_ARGS[@]}" -e "maintenance_log=$log" "$@"
    cat "$log"
    grep -qx "drain winrm-like $type Scheduled" "$log" || fail "Windows $type: no drain before the approval"
    [ "$(posts "$IMDS")" = "$mine" ] || fail "Windows $type: approvals were: $(posts "$IMDS")"
    if [ "$type" = Freeze ]; then
        grep -qx "restore winrm-like $type left=0" "$log" || fail "Windows $type: not restored after the event"
    else
        [ "$(wc -l < "$log")" -eq 1 ] || fail "Windows $type: the host was put back"
    fi
    # Over before the next run: both inventories' hosts are the one emulated VM, so a Terminate still
    # Started would be the next run's event (drained late, reported: a failure that depended on timing).
    for _ in $(seq 300); do [ "$(status_of "$IMDS" "$mine")" = gone ] && break; sleep 0.2; done
    [ "$(status_of "$IMDS" "$mine")" = gone ] || fail "Windows $type: the event did not end within 60 s"
done
unset ANSIBLE_CONNECTION_PLUGINS

# Watching: an event announced while the recipe waits is handled in the same run.
log="$EMULATOR_WORKDIR/recipe-watch.log"
( trap - EXIT; sleep 3; add_event "$IMDS" '{"scenario": "Freeze", "notice": 300, "started": 1}' > /dev/null ) &
announcer=$!
"${PLAY[@]}" "$RECIPE" "${RECIPE_ARGS[@]}" -e "maintenance_log=$log" -e maintenance_watch=60 "$@"
wait "$announcer"
grep -qx "drain testhost Freeze Scheduled" "$log" || fail "watch: no drain"
grep -qx "restore testhost Freeze left=0" "$log" || fail "watch: no restore"
# Watching with nothing announced ends quietly after maintenance_watch seconds.
"${PLAY[@]}" "$RECIPE" "${RECIPE_ARGS[@]}" -e "maintenance_log=$log.none" -e maintenance_watch=2 "$@"
[ ! -e "$log.none" ] || fail "watch: drained without an event"
