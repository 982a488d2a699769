#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# imds.azure.token with ansible-playbook -vvv and a jsonfile fact cache: tokens for the system-
# and user-assigned identities work, and none of the tokens the emulator issued appears in the
# output, the fact cache or the run's temporary files.
set -euo pipefail
source ../setup_emulator/emulator.sh
set -x
unset AZURE_IMDS_ENDPOINT
export ANSIBLE_NOCOLOR=1
export ANSIBLE_CACHE_PLUGIN=jsonfile ANSIBLE_CACHE_PLUGIN_CONNECTION="$EMULATOR_WORKDIR/facts"
export ANSIBLE_LOCAL_TEMP="$EMULATOR_WORKDIR/local-tmp" ANSIBLE_KEEP_REMOTE_FILES=0

emulator_start
out="$EMULATOR_WORKDIR/play.out"
ansible-playbook -i "$TEST_INVENTORY" token.yml -e "imds_endpoint=$EMULATOR_URL" -vvv "$@" > "$out" 2>&1 || { cat "$out"; exit 1; }
grep -q 'ok=' "$out"
facts_written=("$EMULATOR_WORKDIR"/facts/*)
[ -e "${facts_written[0]}" ] || { echo "FAILED: the fact cache was not written" >&2; exit 1; }

# Tokens requested: one per (identity, resource) in a task; the emulator caches what it issued,
# so asking it again now returns the very tokens the play got.
set +x
"$PYTHON" - "$EMULATOR_URL" "$out" "$EMULATOR_WORKDIR/facts" "$EMULATOR_WORKDIR/local-tmp" <<'PY'
import json, os, sys, urllib.parse, urllib.request
url, out, fact_dir, local_tmp = sys.argv[1:]
log = json.load(urllib.request.urlopen(url + "/_emulator/log", timeout=5))
token_requests = [r for r in log if r["path"] == "/metadata/identity/oauth2/token"]
assert token_requests, "no token was requested"
tokens = set()
for record in token_requests:
    if record["status"] != 200:
        continue
    query = urllib.parse.urlencode(record["query"])
    req = urllib.request.Request(url + record["path"] + "?" + query, headers={"Metadata": "true"})
    tokens.add(json.load(urllib.request.urlopen(req, timeout=5))["access_token"])
assert len(tokens) >= 4, tokens and len(tokens)
texts = {"ansible-playbook -vvv output": open(out, encoding="utf-8", errors="replace").read()}
for base in (fact_dir, local_tmp):
    for root, _dirs, files in os.walk(base):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                texts[path] = handle.read().decode("utf-8", "replace")
leaks = []
for token in tokens:
    pieces = [token, token.split(".")[2]] + [token[i:i + 24] for i in range(0, len(token) - 24, 24)]
    for where, text in texts.items():
        if any(piece and piece in text for piece in pieces):
            leaks.append(where)
assert not leaks, "a token leaked into: %s" % sorted(set(leaks))
# the "20 lookups in one task" task made one request
many = [r for r in token_requests if r["query"].get("resource") == "https://vault.azure.net" and not set(r["query"]) & {"client_id", "object_id", "msi_res_id"}]
assert len(many) <= 4, "system-assigned vault token requested %d times" % len(many)
print("no leak: %d tokens checked against %d outputs/files" % (len(tokens), len(texts)))
PY
