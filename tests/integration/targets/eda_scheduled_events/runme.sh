#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The event source imds.azure.scheduled_events under the real ansible-rulebook: the shipped
# examples/maintenance/rulebook.yml runs on "this VM" (the emulator plays IMDS at the default
# endpoint inside a private network namespace) through Freeze, Reboot, Redeploy, Preempt and
# Terminate. Each event must fire the drain-and-approve rule once, be approved, and be seen to
# start and to disappear; another VM's events must fire nothing. Prints the time from the emulator
# announcing an event to the rule firing.
set -euo pipefail

fail() {
    echo "FAILED: $*" >&2
    [ ! -s "${RULEBOOK_LOG:-}" ] || { echo "--- ansible-rulebook log (last 200 lines)" >&2; tail -n 200 "$RULEBOOK_LOG" >&2; }
    exit 1
}

# ansible-rulebook (PyPI, requirements-dev.txt) runs its rules in Drools on a Java >= 17 runtime.
command -v ansible-rulebook > /dev/null ||
    fail "ansible-rulebook not found: install it with 'pip install ansible-rulebook' (make venv does, from requirements-dev.txt)"
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')" ||
    java_major=""
[ "${java_major:-0}" -ge 17 ] 2>/dev/null ||
    fail "ansible-rulebook needs a Java 17 (or newer) runtime, found '${java_major:-no java}': install it with 'apt-get install openjdk-17-jre-headless'"

source ../setup_emulator/emulator.sh
[ -n "${IMDS_IN_NETNS:-}" ] || exec_in_netns "$0" "$@"
unset AZURE_IMDS_ENDPOINT

IMDS=http://169.254.169.254
STANDINS="$PWD/../scheduled_events/files"
LOG="$EMULATOR_WORKDIR/maintenance.log"
RULEBOOK_LOG="$EMULATOR_WORKDIR/rulebook.log"
LATENCY="$EMULATOR_WORKDIR/latency"

control() {
    # control METHOD PATH [JSON]: call the emulator's control endpoint, print the answer.
    "$PYTHON" - "$IMDS" "$@" <<'PY'
import sys, urllib.request
url, method, path = sys.argv[1:4]
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
with urllib.request.urlopen(urllib.request.Request(url + path, data=body, method=method), timeout=5) as response:
    print(response.read().decode())
PY
}

announce() {
    # announce JSON [timed]: add a scheduled event and print its id; "timed" records when the emulator
    # announced it (answered the POST), for the announce-to-fire measurement.
    "$PYTHON" - "$IMDS" "$1" "${2:-}" "$LATENCY" <<'PY'
import json, sys, time, urllib.request
url, spec, timed, record = sys.argv[1:5]
request = urllib.request.Request(url + "/_emulator/scheduledevents", data=spec.encode(), method="POST")
with urllib.request.urlopen(request, timeout=5) as response:
    announced = time.time()
    print(json.load(response)["EventIds"][0])
if timed:
    with open(record, "a") as handle:
        handle.write("%.3f\n" % announced)
PY
}

posts() {
    # The StartRequests event ids the emulator received, one POST per line.
    control GET /_emulator/log | "$PYTHON" -c '
import json, sys
for record in json.load(sys.stdin):
    if record["method"] == "POST":
        print(" ".join(item["EventId"] for item in json.loads(record["body"])["StartRequests"]))'
}

read_twice() {
    # Succeeds once the source read the document at least twice since the log was cleared.
    [ "$(emulator_request_count "$IMDS" /metadata/scheduledevents)" -ge 2 ]
}

wait_for() {
    # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND (quietly) until it succeeds.
    local deadline=$((SECONDS + $1)) what="$2"
    shift 2
    until "$@" > /dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for $what"
        sleep 0.5
    done
}

in_log() { grep -q -- "$1" "$2"; }
count() { grep -c -- "$1" "$2" || true; }

# The first scheduled-events request switches the service on and is answered late (up to ~2 minutes
# on Azure, 4 s here): the source must wait for it without blocking ansible-rulebook.
echo '{"emulator": {"scheduled_events_warmup": 4}}' > "$EMULATOR_WORKDIR/warmup.json"
emulator_start --listen 169.254.169.254:80 --profile "$EMULATOR_WORKDIR/warmup.json"

# This VM's inventory: localhost, and the recipe's settings (test stand-ins for the drain and restore
# tasks that record what IMDS said at that moment; no reboot grace; short waits).
cat > "$EMULATOR_WORKDIR/inventory.yml" <<YAML
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: $PYTHON
      maintenance_drain_tasks: $STANDINS/drain.yml
      maintenance_restore_tasks: $STANDINS/restore.yml
      maintenance_log: $LOG
      emulator_control: $IMDS/_emulator/scheduledevents
      maintenance_reboot_grace: 0
      maintenance_wait_timeout: 60
YAML

# An event is already announced when the rulebook starts: it arrives with the slow first read.
first="$(announce '{"scenario": "Freeze", "notice": 300, "started": 2}')"
other="$(announce '{"scenario": "Reboot", "notice": 900, "Resources": ["web-02"]}')"

echo "--- ansible-rulebook -r examples/maintenance/rulebook.yml (log: $RULEBOOK_LOG)"
cd "$COLLECTION_ROOT/examples/maintenance"
ansible-rulebook -r rulebook.yml -i "$EMULATOR_WORKDIR/inventory.yml" --print-events -vv > "$RULEBOOK_LOG" 2>&1 &
rulebook=$!
stop_rulebook() {
    if kill -INT "$rulebook" 2> /dev/null; then
        wait "$rulebook" || true
    fi
}
# Stopped before the emulator and the netguard check, whatever happens.
emulator_on_exit stop_rulebook

check_event() {
    # check_event ID TYPE: the rule fired once for it, it was approved, seen to start and to disappear.
    local id="$1" type="$2"
    echo "--- $type $id"
    wait_for 180 "$type $id to be over" in_log "scheduled event $id ($type) is over" "$RULEBOOK_LOG"
    [ "$(count "drain localhost $type Scheduled" "$LOG")" -eq 1 ] || fail "$type: drained $(count "drain localhost $type" "$LOG") times"
    in_log "scheduled event $id ($type) started" "$RULEBOOK_LOG" || fail "$type: the source did not see it start"
    case "$type" in
        Preempt|Terminate) ! in_log "restore localhost $type" "$LOG" || fail "$type: the VM was put back" ;;
        *) wait_for 60 "$type: restore" in_log "restore localhost $type left=0" "$LOG" ;;
    esac
}

check_event "$first" Freeze
[ "$(posts)" = "$first" ] || fail "first Freeze: approvals were: $(posts)"

for type in Reboot Redeploy Preempt Terminate; do
    # Announce once the source is between two reads of an unchanged document.
    control DELETE /_emulator/log > /dev/null
    wait_for 30 "two reads" read_twice
    control DELETE /_emulator/log > /dev/null
    : > "$LOG"
    id="$(announce "{\"scenario\": \"$type\", \"notice\": 300, \"started\": 2}" timed)"
    check_event "$id" "$type"
    [ "$(posts)" = "$id" ] || fail "$type: approvals were: $(posts)"
done

# After a restart the source finds this VM's Reboot already Started: the VM is put back once it is over.
echo "--- Reboot already started"
: > "$LOG"
control DELETE /_emulator/log > /dev/null
announce '{"scenario": "Reboot", "EventStatus": "Started", "started": 3}' timed > /dev/null
wait_for 120 "the restore after the restart" in_log "restore localhost Reboot left=0" "$LOG"
! in_log "drain localhost" "$LOG" || fail "restart: drained"
[ -z "$(posts)" ] || fail "restart: approved $(posts)"

# The other VM's event never reached the rules, and no rule fired twice.
! in_log "$other" "$RULEBOOK_LOG" || fail "the other VM's event reached the rulebook"
stop_rulebook
! grep -n "Traceback\|Source error" "$RULEBOOK_LOG" || fail "ansible-rulebook reported an error"

# Time from the emulator announcing an event to its rule firing ('call_action run_playbook' in the
# rulebook's debug log), for every event announced while the rulebook was running.
"$PYTHON" - "$LATENCY" "$RULEBOOK_LOG" <<'PY'
import datetime, re, statistics, sys
announced = [float(line) for line in open(sys.argv[1])]
fired = [datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
         for stamp in re.findall(r"^(\S+ \S+) - \S+ - DEBUG - call_action run_playbook$", open(sys.argv[2]).read(), re.M)]
fired = fired[1:]  # the first run is for the event announced before ansible-rulebook started
if len(fired) != len(announced):
    sys.exit("FAILED: %d rule firings for %d announced events" % (len(fired), len(announced)))
latencies = [end - start for start, end in zip(announced, fired)]
print("announce-to-fire latency (s): runs %s, median %.2f" % (" ".join("%.2f" % value for value in latencies),
                                                              statistics.median(latencies)))
PY
