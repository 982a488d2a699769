# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata_facts on Windows: PowerShell module runs per IMDS category against the
HTTP requests of the Linux path, and the controller-side time per gather.

Baseline (named "linux"): ``gather_facts`` with the default transport (what the module runs
on a Linux target), in this process, against one emulator on loopback. Windows: the
metadata_facts action plugin over a fake Windows connection (tests/unit/fakes/windows_fake.py:
ansible-core's powershell shell plugin and module execution; the host answers as the
collection's modules would) against the same emulator. Both run in the same process,
interleaved in rounds (IMDS_BENCH_WINDOWS_ROUNDS, default 5, of IMDS_BENCH_WINDOWS_ITEMS
gathers each, default 40). The Windows figure includes building ansible-core's module payload
(about 150 to 180 KB with Ansible.Basic) for each run; a real WinRM/PSRP round trip and
PowerShell's start-up with the compilation of Ansible.Basic (typically a second or more per
module run) are not measured here, which is why the module run count is the figure that matters.

It also prints, per ansible-core and connection, the longest command line the Windows host
received after the REAL connection plugin built it (winrm: the WinRS command line cmd.exe
runs; ssh: the command OpenSSH hands to cmd.exe or ``powershell -c``; psrp: the command
given to the plugin, which runs the decoded script in a runspace), against cmd.exe's
8,191 characters. Each core is measured in its own venv (``.venv`` for 2.21, ``.venv-X.Y``
made by ``make test-units-matrix``); a core whose venv is missing is reported as not measured.
"""

import collections
import functools
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

from bench._playbook import install_guard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("IMDS_BENCH_WINDOWS_ROUNDS", "5"))
ITEMS = int(os.environ.get("IMDS_BENCH_WINDOWS_ITEMS", "40"))
CORE_VENVS = [("2.16", ".venv-2.16"), ("2.17", ".venv-2.17"), ("2.18", ".venv-2.18"), ("2.19", ".venv-2.19"),
              ("2.20", ".venv-2.20"), ("2.21", ".venv")]
CMD_LIMIT = 8191
SCENARIOS = [
    ("default gather", {}),
    ("pinned version", {"api_version": "2021-12-13"}),
    ("all subsets + userdata", {"gather_subset": ["all", "userdata"]}),
]


def _import_collection(tmp):
    parts = ROOT.split(os.sep)
    if len(parts) > 3 and parts[-3] == "ansible_collections":
        base = os.sep.join(parts[:-3])
    else:
        link_parent = os.path.join(tmp, "ansible_collections", "imds")
        os.makedirs(link_parent)
        os.symlink(ROOT, os.path.join(link_parent, "azure"))
        base = tmp
    sys.path.insert(0, base)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    # ansible-core's collection loader, so that _execute_module finds the collection's modules
    from ansible.plugins.loader import init_plugin_loader  # pylint: disable=import-outside-toplevel
    init_plugin_loader([base])


def _category(path):
    return path.split("?", 1)[0].split("/")[2]


class _Bench(object):
    def __init__(self, url):
        # pylint: disable=import-outside-toplevel
        from ansible_collections.imds.azure.plugins.action.metadata_facts import ActionModule
        from ansible_collections.imds.azure.plugins.module_utils import _client, _detect, _facts, _transport
        from ansible_collections.imds.azure.tests.unit.fakes import windows_fake
        from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import windows_action
        self.url = url
        self.windows_action = windows_action
        self.action_class = ActionModule
        self.facts = _facts
        self.client = _client
        self.transport = _transport
        self.azure = functools.partial(_detect.Detection, _detect.AZURE, "bench: DMI says Azure")
        self.fake = windows_fake

    def linux(self, params, no_log=True):
        """One gather as the module runs it on Linux (DMI says Azure); returns (facts, transport log)."""
        requests = []
        transport = self.transport.UrlTransport()

        class Counting(object):
            def request(self, method, url, headers, body, timeout):
                requests.append(url[len(self_url):])
                return transport.request(method, url, headers, body, timeout)

        self_url = self.url
        factory = functools.partial(self.client.ImdsClient, transport=Counting())
        facts = self.facts.gather_facts(dict(params, endpoint=self.url), no_log=no_log, client_factory=factory,
                                        detector=self.azure)
        return facts, requests

    def windows(self, params, no_log=True):
        """One gather through the action plugin and a fake Windows connection; returns (result, host)."""
        host = self.fake.FakeWindowsHost()
        action = self.windows_action(host, self.action_class, "imds.azure.metadata_facts", dict(params, endpoint=self.url),
                                     no_log=no_log)
        result = action.run(task_vars={})
        if result.get("failed"):
            raise RuntimeError("the Windows gather failed: %s" % result.get("msg"))
        return result, host


def _counts(bench):
    print("   module runs per IMDS category (Windows) vs HTTP requests (linux baseline):")
    worst = 0
    for name, params in SCENARIOS:
        linux_facts, linux_requests = bench.linux(params)
        result, host = bench.windows(params)
        windows_facts = result["ansible_facts"]["azure_imds"]
        if windows_facts != dict(linux_facts, detection=windows_facts["detection"]):
            raise RuntimeError("%s: the Windows facts differ from the Linux facts" % name)
        linux_per = collections.Counter(_category(path) for path in linux_requests)
        windows_per = collections.Counter(_category(request.path) for request in host.requests)
        per_category = ", ".join("%s %d/%d" % (category, windows_per[category], linux_per[category])
                                 for category in sorted(set(linux_per) | set(windows_per)))
        extra = {category: windows_per[category] - linux_per[category] for category in set(linux_per) | set(windows_per)}
        worst = max([worst] + list(extra.values()))
        print("     %-24s %s; + %d host module run (SMBIOS table + environment); %d module runs vs %d requests"
              % (name + ":", per_category, host.hostinfo, len(host.runs), len(linux_requests)))
    print("   most module runs added to one category: %d (the issue allows 1); per gather: +1 host module run, none with "
          "detect=false and an explicit endpoint" % worst)
    if worst > 1:
        raise RuntimeError("the Windows path adds %d module runs to a category" % worst)


def _raw_get(url):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", "%s?%s" % (parts.path, parts.query), headers={"Metadata": "true", "Connection": "close"})
        response = conn.getresponse()
        json.loads(response.read())
    finally:
        conn.close()


def _timing(bench):
    params = {"api_version": "2021-12-13"}
    url = bench.url + "/metadata/instance?api-version=2021-12-13"
    times = {"linux": [], "windows": [], "http": []}
    runs = {
        "linux": lambda: bench.linux(params, no_log=False),
        "windows": lambda: bench.windows(params, no_log=False),
        "http": lambda: _raw_get(url),
    }
    for dummy in range(ROUNDS):
        for name, func in runs.items():
            started = time.perf_counter()
            for dummy in range(ITEMS):
                func()
            times[name].append(time.perf_counter() - started)
    per = dict((name, sum(values) / (ROUNDS * ITEMS) * 1000) for name, values in times.items())
    print("   time per pinned gather (%d rounds x %d, interleaved): linux %.2f ms, windows with a fake Windows "
          "connection %.2f ms, one bare http.client GET %.2f ms" % (ROUNDS, ITEMS, per["linux"], per["windows"], per["http"]))
    print("   windows vs linux: %.2fx; windows vs bare GET: %.2fx (windows = host module run + one request module run, each "
          "payload built by ansible-core on the controller; a real connection adds its round trips and PowerShell's start-up)"
          % (per["windows"] / per["linux"], per["windows"] / per["http"]))


def _longest_command_lines(url):
    """{connection: longest command line} over the installed core's real connection plugins.

    Each connection gathers facts (with detection and the endpoint from the host's
    environment), reads scheduled events and repairs the IMDS route.
    """
    # pylint: disable=import-outside-toplevel
    import pytest
    from ansible.playbook.play_context import PlayContext
    from ansible_collections.imds.azure.plugins.action.metadata_facts import ActionModule as FactsAction
    from ansible_collections.imds.azure.plugins.action.metadata_route import ActionModule as RouteAction
    from ansible_collections.imds.azure.plugins.action.scheduled_events import ActionModule as EventsAction
    from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import make_action
    from ansible_collections.imds.azure.tests.unit.fakes import windows_fake, windows_wire
    longest = {}
    for kind in sorted(windows_wire.KINDS):
        host = windows_fake.FakeWindowsHost(env={"AZURE_IMDS_ENDPOINT": url})
        given = []
        for action_class, name in ((FactsAction, "imds.azure.metadata_facts"), (EventsAction, "imds.azure.scheduled_events"),
                                   (RouteAction, "imds.azure.metadata_route")):
            with pytest.MonkeyPatch.context() as patch:
                conn = windows_wire.connect(kind, host, patch, play_context=PlayContext())
                real = conn.exec_command
                conn.exec_command = lambda cmd, real=real, **kwargs: given.append(len(cmd)) or real(cmd, **kwargs)
                action = make_action(action_class, name, conn, {})
                action._get_remote_user = lambda: "admin"  # pylint: disable=protected-access
                result = action.run(task_vars={})
            if result.get("failed"):
                raise RuntimeError("%s over %s failed: %s" % (name, kind, result.get("msg")))
        seen = [len(line) for program, line in host.command_lines if program != "process"]
        longest[kind] = max(seen or given)
    return longest


def _command_lines(url):
    print("   longest command line the Windows host received, per core and connection (cmd.exe refuses more than %d):"
          % CMD_LIMIT)
    kinds = None
    for core, venv in CORE_VENVS:
        python = os.path.join(ROOT, venv, "bin", "python")
        if not os.path.exists(os.path.join(ROOT, venv, ".installed")):  # written once the venv is complete
            print("     %-5s not measured: %s is missing or incomplete (make test-units-matrix creates it)" % (core, venv))
            continue
        env = dict(os.environ, IMDS_BENCH_WINDOWS_CHILD="lines", IMDS_BENCH_WINDOWS_URL=url)
        proc = subprocess.run([python, "-m", "bench.windows"], cwd=ROOT, env=env, check=False, timeout=600,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError("measuring the command lines with %s failed:\n%s" % (venv, proc.stderr[-2000:]))
        longest = json.loads(proc.stdout.strip().splitlines()[-1])
        kinds = kinds or sorted(longest)
        print("     %-5s %s" % (core, ", ".join("%s %d (%.0f%%)" % (kind, longest[kind], 100.0 * longest[kind] / CMD_LIMIT)
                                                for kind in kinds)))
        if max(longest.values()) > CMD_LIMIT:
            raise RuntimeError("ansible-core %s: a command line is longer than cmd.exe accepts" % core)
    print("     (psrp has no command line: the figure is the command handed to the plugin, whose script runs in a runspace)")


def _run():
    install_guard()
    tmp = tempfile.mkdtemp(prefix="imds-bench-windows-")
    try:
        _import_collection(tmp)
        from tools.imds_emulator import Emulator  # pylint: disable=import-outside-toplevel
        with Emulator(rate_limit=None) as emu:
            bench = _Bench(emu.url)
            _counts(bench)
            _timing(bench)
            _command_lines(emu.url)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    """Runs in a fresh interpreter: benchmarks before this one may have installed ansible's
    collection loader with their own (since removed) collection paths."""
    env = dict(os.environ, IMDS_BENCH_WINDOWS_CHILD="1")
    guard = os.path.join(ROOT, "tools", "netguard")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [guard, env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "bench.windows"], cwd=ROOT, env=env, check=False, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError("bench.windows exited with %d" % proc.returncode)


def _lines_child():
    """In a core's venv: print the longest command lines as one JSON line."""
    install_guard()
    tmp = tempfile.mkdtemp(prefix="imds-bench-windows-")
    try:
        _import_collection(tmp)
        print(json.dumps(_longest_command_lines(os.environ["IMDS_BENCH_WINDOWS_URL"])))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if os.environ.get("IMDS_BENCH_WINDOWS_CHILD") == "lines":
        _lines_child()
    elif os.environ.get("IMDS_BENCH_WINDOWS_CHILD"):
        _run()
    else:
        main()
