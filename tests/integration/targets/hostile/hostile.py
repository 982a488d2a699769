# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hostile suite: every plugin that talks to IMDS against every hostile mode of the emulator.

For each mode one emulator (a CLI process) plays the server; one ansible-playbook run gathers facts
with imds.azure.metadata_facts and reads a value with each lookup (play.yml), and one
ansible-inventory run asks the placement inventory's local source. Every case must end as expected:
in complete facts or in a clear error of the expected kind, never in a traceback, a recursion error,
partial facts or a token in a message. Three bounds hold for every case:

* time: at most the deadline plus what the same case took against a healthy emulator in this run,
  plus SLACK seconds (a correctness bound: without it a trickled answer took hours);
* memory: the peak RSS of the whole process tree (os.wait4 of the ansible process, which covers the
  workers and the module it waited for) at most MEMORY_SLACK above the healthy run's;
* secrets: no 16-character piece of the token the emulator issued appears in any output;
* requests: in the "paced" modes (Retry-After: 0), at most REQUESTS_PER_CALL requests per IMDS call.

Usage: python hostile.py   (from runme.sh, which sets up the network guard and the environment)
"""

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ["COLLECTION_ROOT"]
PYTHON = os.environ.get("PYTHON", sys.executable)
WORK = os.environ.get("EMULATOR_WORKDIR") or tempfile.mkdtemp(prefix="imds-hostile-")
VAULT = "https://vault.azure.net"

TIMEOUT = 1      # per attempt
DEADLINE = 3     # per call
SLACK = 10.0     # seconds on top of deadline + the healthy run's time of the same case (a loaded machine)
MEMORY_SLACK = 100 * 1024 * 1024
PARALLEL = 3
KILL_AFTER = 120  # seconds: a command still running then is killed (and the case is wrong)
# Pinned, so that the first request of every case is the document itself (latest would ask /metadata/versions first).
INSTANCE_VERSION = "2021-02-01"
IDENTITY_VERSION = "2018-02-01"

# mode: (emulator arguments, options). "userdata": gather user data and read compute/userData;
# "probe": no DMI data and detect=auto, so IMDS is probed (the lookups do not probe: skipped).
MODES = [
    ("healthy", [], {"userdata": True}),
    ("healthy-probe", [], {"probe": True}),
    ("trickle-body", ["--fault", "trickle-body=0.5"], {}),       # a byte every half timeout: no read ever times out
    ("trickle-headers", ["--fault", "trickle-headers=0.5"], {}),
    ("endless", ["--fault", "endless=120"], {}),
    ("oversize", ["--fault", "oversize=200"], {}),
    ("nested", ["--fault", "nested=20000"], {}),         # deeper than any JSON parser's recursion limit, 40 kB
    ("gzip-bomb", ["--fault", "gzip-bomb=40"], {"userdata": True}),
    ("gzip-bomb-large", ["--fault", "gzip-bomb=100"], {"userdata": True}),
    ("surrogate", ["--profile", "SURROGATE"], {}),
    # A wrong-typed placement field (issue 22; the units try every field, value and tag rule on every path).
    ("fault-domain-list", ["--profile", "FAULT_DOMAIN_LIST"], {}),
    ("stall-probe", ["--fault", "stall=120"], {"probe": True}),
    ("reset-probe", ["--fault", "reset=1"], {"probe": True}),
    # Issue 22: where an answer ends must be certain, and a throttled client must pause.
    ("short-body", ["--fault", "short-body=1"], {}),             # "web-01" arrives as "web-0", then the connection closes
    # Two Content-Length headers (the shorter first) for the documents, and for tokens an HTTP/0.9 answer (the token
    # record where the status line belongs): one mode, so one ansible-playbook and one ansible-inventory run (the units
    # try every framing, chunked with a Content-Length too, on every path).
    ("malformed", ["--fault", "double-length=1,path=/metadata/instance", "--fault", "no-status-line=1,path=/metadata/identity"], {}),
    ("retry-after-0", ["--fault", "retry-after=0"], {"paced": True}),
]
PLUGINS = ("module", "metadata", "token", "inventory")
PROFILES = {}   # placeholder argument -> profile file (written by main)

# (mode, plugin) -> "complete" or the kind of error expected. Not listed: skipped.
EXPECTED = {}
for _mode, _args, _options in MODES:
    for _plugin in PLUGINS:
        if _options.get("probe") and _plugin in ("metadata", "token"):
            continue
        EXPECTED[(_mode, _plugin)] = "complete"
for _plugin in PLUGINS:
    EXPECTED[("trickle-body", _plugin)] = EXPECTED[("trickle-headers", _plugin)] = "timeout"
    EXPECTED[("endless", _plugin)] = EXPECTED[("oversize", _plugin)] = "too_large"
    EXPECTED[("nested", _plugin)] = "not_imds"
EXPECTED.update({
    ("gzip-bomb", "module"): "too_large",                # gunzips beyond 1 MiB: refused, decompression stopped
    ("gzip-bomb-large", "module"): "too_large",          # more than the 64 KiB of user data Azure allows
    ("gzip-bomb-large", "metadata"): "too_large",
    ("surrogate", "module"): "not_imds", ("surrogate", "metadata"): "not_imds", ("surrogate", "inventory"): "not_imds",
    ("fault-domain-list", "module"): "not_imds", ("fault-domain-list", "metadata"): "not_imds", ("fault-domain-list", "inventory"): "not_imds",
    ("stall-probe", "module"): "timeout", ("stall-probe", "inventory"): "timeout",
    ("reset-probe", "module"): "unreachable", ("reset-probe", "inventory"): "unreachable",
})
for _plugin in PLUGINS:
    EXPECTED[("short-body", _plugin)] = "unreachable"
    EXPECTED[("malformed", _plugin)] = "not_imds"
    EXPECTED[("retry-after-0", _plugin)] = "throttled"
# "paced" modes: every pause of the client is at least RETRY_AFTER_FLOOR (1 s), so one call of DEADLINE seconds makes at most
# this many requests (Retry-After: 0 once meant thousands).
REQUESTS_PER_CALL = 1 + DEADLINE

# How a lookup's or the inventory's message names the kind (the module returns imds_error).
KIND_PATTERNS = [
    ("too_large", r"limited to \d+ [MK]iB|more than the \d+ KiB that Azure allows|when decompressed"),
    ("timeout", r"did not answer in time|did not complete within|no complete status line"),
    ("not_imds", r"this is not IMDS"),
    ("unreachable", r"closed without a complete answer|cannot connect"),
    ("throttled", r"HTTP 429"),
]
BROKEN = re.compile(r"Traceback|RecursionError|recursion depth|deserializ|Unexpected failure|answered 200 .*\b0 bytes", re.IGNORECASE)


def run_measured(argv, env, log):
    """(exit code, seconds, peak RSS in bytes of the process tree) of one command, output to ``log``.

    A command still running after KILL_AFTER seconds is killed with everything it started (a hung
    case must not hang the suite; it fails the time bound anyway).
    """
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=WORK, start_new_session=True)
        killer = threading.Timer(KILL_AFTER, os.killpg, (process.pid, signal.SIGKILL))
        killer.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode == -signal.SIGKILL:
        with open(log, "a") as out:
            out.write("\nhostile.py: killed after %d s\n" % KILL_AFTER)
    return process.returncode, time.monotonic() - started, usage.ru_maxrss * 1024


class EmulatorProcess(object):
    def __init__(self, args):
        self.out = tempfile.NamedTemporaryFile(prefix="emulator-", suffix=".out", dir=WORK, delete=False)
        self.process = subprocess.Popen([PYTHON, "-m", "tools.imds_emulator", "--listen", "127.0.0.1:0", "--rate-limit", "off"] + args,
                                        cwd=ROOT, stdout=self.out, stderr=subprocess.STDOUT)
        stop_at = time.monotonic() + 30
        while time.monotonic() < stop_at:
            with open(self.out.name) as handle:
                match = re.search(r"^listening on (http://\S+)", handle.read(), re.MULTILINE)
            if match:
                self.url = match.group(1)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("emulator %s did not start: %s" % (args, open(self.out.name).read()))

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.load(response)

    def take_log_count(self):
        """The count of IMDS requests since the last call (the emulator's request log, then cleared)."""
        count = len([record for record in self.get("/_emulator/log") if record["path"].startswith("/metadata/")])
        urllib.request.urlopen(urllib.request.Request(self.url + "/_emulator/log", method="DELETE"), timeout=10).close()
        return count

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def environment(options):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="false", ANSIBLE_LOCALHOST_WARNING="false")
    env["IMDS_AZURE_DMI_PATH"] = "" if options.get("probe") else DMI_AZURE
    env.pop("AZURE_IMDS_ENDPOINT", None)
    return env


def run_mode(mode, args, options):
    """{plugin: (outcome record)} for one mode."""
    case_dir = os.path.join(WORK, mode)
    os.makedirs(case_dir)
    args = [PROFILES.get(arg, arg) for arg in args]
    emulator = EmulatorProcess(args)
    try:
        env = environment(options)
        detect = "auto" if options.get("probe") else "false"
        extra = {"imds_endpoint": emulator.url, "instance_version": INSTANCE_VERSION, "identity_version": IDENTITY_VERSION,
                 "imds_timeout": TIMEOUT, "imds_deadline": DEADLINE, "detect": detect,
                 "case_dir": case_dir, "with_userdata": bool(options.get("userdata")), "skip_lookups": bool(options.get("probe"))}
        play_log = os.path.join(case_dir, "playbook.log")
        rc, seconds, rss = run_measured(["ansible-playbook", "-i", os.environ["TEST_INVENTORY"], os.path.join(HERE, "play.yml"),
                                         "-e", json.dumps(extra)], env, play_log)
        requests = emulator.take_log_count() if options.get("paced") else None
        results = {}
        for plugin in ("module", "metadata", "token"):
            path = os.path.join(case_dir, plugin + ".json")
            if os.path.exists(path):
                with open(path) as handle:
                    record = json.load(handle)
                results[plugin] = dict(record, rss=rss, log=play_log, rc=rc, requests=requests, calls=3)
            elif (mode, plugin) in EXPECTED:
                results[plugin] = {"missing": True, "seconds": seconds, "rss": rss, "log": play_log, "rc": rc}
        config = os.path.join(case_dir, "local.azure_placement.yml")
        with open(config, "w") as handle:
            json.dump({"plugin": "imds.azure.placement", "sources": ["local"], "endpoint": emulator.url, "detect": detect,
                       "api_version": INSTANCE_VERSION,
                       "timeout": TIMEOUT, "deadline": DEADLINE, "local_hostname": "me"}, handle)
        inventory_log = os.path.join(case_dir, "inventory.log")
        env_inventory = dict(env, ANSIBLE_INVENTORY_ENABLED="imds.azure.placement", ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
        rc, seconds, rss = run_measured(["ansible-inventory", "-i", config, "--list", "--output", os.path.join(case_dir, "inventory.json")],
                                        env_inventory, inventory_log)
        results["inventory"] = {"seconds": seconds, "rss": rss, "rc": rc, "log": inventory_log,
                                "inventory": os.path.join(case_dir, "inventory.json"),
                                "requests": emulator.take_log_count() if options.get("paced") else None, "calls": 1}
        token = None
        if any(plugin == "token" for _mode, plugin in EXPECTED if _mode == mode):
            emulator.get("/_emulator/log")   # still answering
            token = issued_token(emulator)
        return results, token
    finally:
        emulator.stop()


def issued_token(emulator):
    """The token the emulator issued for VAULT (it caches tokens: the same one the lookup was sent)."""
    urllib.request.urlopen(urllib.request.Request(emulator.url + "/_emulator/faults", data=b"[]", method="PUT"), timeout=10).close()
    request = urllib.request.Request(emulator.url + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + VAULT,
                                     headers={"Metadata": "true"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def message_kind(text):
    for kind, pattern in KIND_PATTERNS:
        if re.search(pattern, text):
            return kind
    return "unclassified"


def classify(plugin, record, options, profile):
    """("complete" | kind of error | "wrong", explanation)."""
    log_text = open(record["log"], encoding="utf-8", errors="replace").read()
    if record.get("missing"):
        return "wrong", "no result written (exit %s)" % record["rc"]
    if plugin == "inventory":
        return classify_inventory(record, log_text, profile)
    if BROKEN.search(record.get("msg", "")):
        return "wrong", "broken message: %s" % record["msg"][:300]
    if plugin == "module":
        if not record["failed"]:
            complete = record["is_azure"] is True and record["name"] == profile["compute"]["name"] and record["network"]
            return ("complete", "") if complete else ("wrong", "partial or not-Azure facts: %s" % record)
        if not record["imds_error"] or "IMDS" not in record["msg"]:
            return "wrong", "failure without imds_error or a word about IMDS: %s" % record["msg"][:300]
        return record["imds_error"], record["msg"]
    if not record["failed"]:
        if plugin == "metadata":
            # compute/userData (its length is recorded, never the value) or compute/vmId
            complete = record["value"] > 0 if options.get("userdata") else record["value"] == profile["compute"]["vmId"]
        else:
            complete = record["jwt_shaped"]
        return ("complete", "") if complete else ("wrong", "unexpected value")
    prefix = "imds.azure.%s:" % plugin
    if prefix not in record["msg"]:
        return "wrong", "failure that is not the lookup's own error: %s" % record["msg"][:300]
    return message_kind(record["msg"]), record["msg"]


def classify_inventory(record, log_text, profile):
    if BROKEN.search(log_text):
        return "wrong", "broken output: %s" % BROKEN.search(log_text).group(0)
    if record["rc"] != 0 or not os.path.exists(record["inventory"]):
        return "wrong", "ansible-inventory exited %s: %s" % (record["rc"], log_text[-300:])
    with open(record["inventory"]) as handle:
        listed = json.load(handle)
    if "me" in (listed.get("azure_no_imds") or {}).get("hosts", []):
        warning = re.search(r"me \(local: IMDS query failed: (.*)", " ".join(log_text.split()))
        if not warning or "IMDS" not in warning.group(1):
            return "wrong", "in azure_no_imds without a reason about IMDS: %s" % log_text[-300:]
        return message_kind(warning.group(1)), warning.group(1)[:300]
    host_vars = listed.get("_meta", {}).get("hostvars", {}).get("me", {})
    placement = host_vars.get("azure_placement") or {}
    fault_domain = placement.get("fault_domain")
    fault_domain = fault_domain.get("__ansible_unsafe") if isinstance(fault_domain, dict) else fault_domain
    if fault_domain == str(profile["compute"]["platformFaultDomain"]):
        return "complete", ""
    return "wrong", "neither placed nor in azure_no_imds: %s" % json.dumps(host_vars)[:300]


def leaked(token, paths, size=16):
    text = ""
    for path in paths:
        if path and os.path.exists(path):
            text += open(path, encoding="utf-8", errors="replace").read()
    return any(token[index:index + size] in text for index in range(0, len(token) - size + 1))


def main():
    global DMI_AZURE  # pylint: disable=global-statement
    DMI_AZURE = os.path.join(WORK, "dmi-azure")
    os.makedirs(DMI_AZURE, exist_ok=True)
    with open(os.path.join(DMI_AZURE, "chassis_asset_tag"), "w") as handle:
        handle.write("7783-7084-3265-9085-8269-3286-77\n")
    with open(os.path.join(DMI_AZURE, "sys_vendor"), "w") as handle:
        handle.write("Microsoft Corporation\n")
    for name, text in (("SURROGATE", '{"tags": {"env\\ud800": "prod"}}'),   # a tag name with a lone surrogate (a JSON escape)
                       ("FAULT_DOMAIN_LIST", '{"compute": {"platformFaultDomain": [0, 1]}}')):
        PROFILES[name] = os.path.join(WORK, name.lower() + ".json")
        with open(PROFILES[name], "w") as handle:
            handle.write(text)

    profile_emulator = EmulatorProcess([])
    try:
        profile = profile_emulator.get("/_emulator/profile")
    finally:
        profile_emulator.stop()

    chosen = os.environ.get("HOSTILE_MODES", "").split(",")   # for debugging: a few modes only
    healthy_modes = [mode for mode in MODES if mode[0].startswith("healthy")]
    hostile_modes = [mode for mode in MODES if not mode[0].startswith("healthy") and (chosen == [""] or mode[0] in chosen)]
    results = {}
    started = time.monotonic()
    for batch in (healthy_modes, hostile_modes):    # the baselines first, on their own
        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            futures = dict((pool.submit(run_mode, mode, args, options), mode) for mode, args, options in batch)
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = future.result()

    baseline = {}
    for plugin in PLUGINS:
        for mode in ("healthy", "healthy-probe"):
            record = results[mode][0].get(plugin)
            if record:
                seconds, rss = baseline.get(plugin, (0.0, 0))
                baseline[plugin] = (max(seconds, record["seconds"]), max(rss, record["rss"]))

    totals = {"complete": 0, "clear error": 0, "wrong": 0}
    print("%-16s %-9s %-11s %-11s %7s %9s  %s" % ("mode", "plugin", "expected", "outcome", "seconds", "RSS MiB", "detail"))
    for mode, _args, options in healthy_modes + hostile_modes:
        records, token = results[mode]
        for plugin in PLUGINS:
            expected = EXPECTED.get((mode, plugin))
            if expected is None:
                continue
            record = records.get(plugin)
            outcome, detail = classify(plugin, record, options, profile)
            problems = []
            if outcome != expected:
                problems.append("expected %s, got %s" % (expected, outcome))
            limit_seconds = DEADLINE + baseline[plugin][0] + SLACK
            if record["seconds"] > limit_seconds:
                problems.append("took %.1f s, more than %.1f s" % (record["seconds"], limit_seconds))
            if record.get("requests") is not None and record["requests"] > record["calls"] * REQUESTS_PER_CALL:
                problems.append("%d requests for %d calls: a pause was skipped" % (record["requests"], record["calls"]))
            if record["rss"] > baseline[plugin][1] + MEMORY_SLACK:
                problems.append("peak RSS %d MiB, more than the healthy %d MiB + %d MiB" % (
                    record["rss"] >> 20, baseline[plugin][1] >> 20, MEMORY_SLACK >> 20))
            outputs = [record["log"], record.get("inventory")] + [os.path.join(WORK, mode, name + ".json") for name in PLUGINS]
            if token and leaked(token, outputs):
                problems.append("a piece of the issued token appears in the output")
            verdict = "wrong" if problems else ("complete" if outcome == "complete" else "clear error")
            totals[verdict] += 1
            shown = "; ".join(problems) if problems else " ".join(detail.split())[:150]
            row = (mode, plugin, expected, "WRONG" if problems else outcome, record["seconds"], record["rss"] >> 20, shown)
            print("%-16s %-9s %-11s %-11s %7.1f %9d  %s" % row)
            if problems:
                with open(record["log"], encoding="utf-8", errors="replace") as handle:
                    print("    " + "\n    ".join(handle.read().splitlines()[-40:]))
    print("hostile: %d cases in %.0f s: %d complete facts, %d clear errors, %d wrong" % (
        sum(totals.values()), time.monotonic() - started, totals["complete"], totals["clear error"], totals["wrong"]))
    return 1 if totals["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
