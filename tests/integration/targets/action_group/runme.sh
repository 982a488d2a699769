#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The action group group/imds.azure.imds (meta/runtime.yml): module_defaults set once per play
# reach every module in it, and gather_facts with ANSIBLE_FACTS_MODULES. The emulator's
# request log shows which endpoint and api-version each request used.
set -euo pipefail
source ../setup_emulator/emulator.sh
set -x

unset AZURE_IMDS_ENDPOINT
# Not an Azure VM as far as DMI goes: only detect=false (set through module_defaults) gets facts.
export IMDS_AZURE_DMI_PATH="$EMULATOR_WORKDIR/no-dmi"
PINNED=2021-02-01

emulator_start --rate-limit off
ansible-playbook -i "$TEST_INVENTORY" play.yml -e "imds_endpoint=$EMULATOR_URL" -e "pinned=$PINNED" "$@"

# gather_facts runs metadata_facts too, with the group's defaults
ANSIBLE_FACTS_MODULES=ansible.builtin.setup,imds.azure.metadata_facts \
    ansible-playbook -i "$TEST_INVENTORY" gather.yml -e "imds_endpoint=$EMULATOR_URL" -e "pinned=$PINNED" "$@"

# Every request went to the endpoint of the defaults, with the pinned api-version (the
# scheduled-events line maps it to its own newest version not newer than it).
"$PYTHON" - "$EMULATOR_URL" "$PINNED" <<'PY'
import json, sys, urllib.request
url, pinned = sys.argv[1:]
with urllib.request.urlopen(url + "/_emulator/log", timeout=5) as response:
    records = [r for r in json.load(response) if r["path"].startswith("/metadata")]
instance = [r for r in records if r["path"].startswith("/metadata/instance")]
events = [r for r in records if r["path"].startswith("/metadata/scheduledevents")]
assert len(instance) >= 2 and events, records
assert {r["query"].get("api-version") for r in instance} == {pinned}, instance
assert all(r["query"].get("api-version") <= pinned for r in events), events
print("action group: %d instance and %d scheduled-events requests, api-version %s" % (len(instance), len(events), pinned))
PY
