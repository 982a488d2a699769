# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network guard blocks every non-loopback connection outside a private namespace."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import urllib.request

import pytest

import imds_netguard
from conftest import COLLECTION_ROOT, NETGUARD_DIR

RUN_IN_NETNS = os.path.join(COLLECTION_ROOT, "tools", "run-in-netns.sh")


@pytest.fixture
def guard_log(tmp_path, monkeypatch):
    path = tmp_path / "netguard.log"
    monkeypatch.setenv("IMDS_NETGUARD_LOG", str(path))
    return path


@pytest.mark.parametrize("address", [("169.254.169.254", 80), ("169.254.0.1", 80), ("198.51.100.7", 443), ("8.8.8.8", 53)])
def test_blocks_non_loopback_connect_in_process(address, guard_log):
    sock = socket.socket()
    try:
        with pytest.raises(imds_netguard.NetworkGuardError, match="blocked connection to %s:%d" % address):
            sock.connect(address)
        with pytest.raises(imds_netguard.NetworkGuardError):
            sock.connect_ex(address)
    finally:
        sock.close()
    assert guard_log.read_text().count("blocked connection to %s:%d" % address) == 2


def test_blocks_udp_sendto(guard_log):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with pytest.raises(imds_netguard.NetworkGuardError):
            sock.sendto(b"x", ("169.254.169.254", 53))
    finally:
        sock.close()
    assert "169.254.169.254:53" in guard_log.read_text()


def test_blocks_urllib_to_the_default_endpoint(guard_log):
    with pytest.raises(imds_netguard.NetworkGuardError):
        urllib.request.urlopen("http://169.254.169.254/metadata/instance?api-version=2021-02-01", timeout=1)
    assert "169.254.169.254:80" in guard_log.read_text()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_allows_loopback(host, guard_log):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket()
    try:
        client.connect((host, server.getsockname()[1]))
    finally:
        client.close()
        server.close()
    assert not guard_log.exists()


def test_is_loopback_rules():
    assert imds_netguard.is_loopback("127.0.0.1")
    assert imds_netguard.is_loopback("127.200.0.9")
    assert imds_netguard.is_loopback("::1")
    assert imds_netguard.is_loopback("::ffff:127.0.0.1")
    assert not imds_netguard.is_loopback("169.254.169.254")
    assert not imds_netguard.is_loopback("::ffff:169.254.169.254")
    assert not imds_netguard.is_loopback("fe80::1%eth0")
    assert not imds_netguard.is_loopback("metadata.example")


def _guarded_env(log_path):
    env = dict(os.environ)
    env.pop("IMDS_NETGUARD", None)  # never let a switched-off guard reach a process that aims at IMDS
    env["PYTHONPATH"] = NETGUARD_DIR
    env["IMDS_NETGUARD_LOG"] = str(log_path)
    return env


def test_sitecustomize_guards_subprocesses(tmp_path):
    log_path = tmp_path / "netguard.log"
    code = "import urllib.request; urllib.request.urlopen('http://169.254.169.254/metadata/versions', timeout=1)"
    result = subprocess.run([sys.executable, "-c", code], env=_guarded_env(log_path), capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0
    assert "NetworkGuardError" in result.stderr
    assert "blocked connection to 169.254.169.254:80" in log_path.read_text()


def _serve_once_and_connect(host):
    return textwrap.dedent("""
        import socket, threading
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((%r, 80))
        server.listen(1)
        threading.Thread(target=lambda: server.accept()[0].sendall(b"pong"), daemon=True).start()
        client = socket.create_connection((%r, 80), timeout=5)
        print(client.recv(4).decode())
    """) % (host, host)


def require_program(program, package):
    """Fail (never skip) when a program the test needs is missing, naming its Debian package."""
    if shutil.which(program) is None:
        pytest.fail("%s is not installed: apt-get install %s (make test installs tools/harness/system-packages.txt)" % (program, package))


def test_steps_aside_inside_a_private_namespace(tmp_path):
    require_program("unshare", "util-linux")
    log_path = tmp_path / "netguard.log"
    result = subprocess.run([RUN_IN_NETNS, sys.executable, "-c", _serve_once_and_connect("169.254.169.254")],
                            env=_guarded_env(log_path), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pong"
    assert not log_path.exists()


def test_still_blocks_in_the_initial_namespace_even_for_a_local_listener(tmp_path):
    # Outside a namespace the same program is refused before it can connect.
    log_path = tmp_path / "netguard.log"
    program = _serve_once_and_connect("127.0.0.1").replace("create_connection(('127.0.0.1'", "create_connection(('169.254.169.254'")
    result = subprocess.run([sys.executable, "-c", program], env=_guarded_env(log_path), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "blocked connection to 169.254.169.254:80" in log_path.read_text()


def test_guard_thread_safety_smoke():
    # Many threads hitting the patched connect on loopback all succeed.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    port = server.getsockname()[1]
    errors = []

    def connect():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        except Exception as error:  # pylint: disable=broad-except
            errors.append(error)

    threads = [threading.Thread(target=connect) for dummy in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.close()
    assert not errors


def test_a_marker_inherited_outside_its_namespace_does_not_count(tmp_path):
    env = _guarded_env(tmp_path / "netguard.log")
    env["IMDS_NETGUARD_NETNS"] = "4026532999"  # some other namespace's inode
    code = "import socket; socket.create_connection(('169.254.169.254', 80), timeout=1)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0
    assert "NetworkGuardError" in result.stderr


def test_steps_aside_inside_a_named_namespace(tmp_path):
    require_program("ip", "iproute2")
    if os.geteuid() != 0:
        pytest.skip("named network namespaces need root")
    name = "imds-netguard-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "addr", "add", "169.254.169.254/32", "dev", "lo"], check=True, timeout=30)
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True, timeout=30)
        result = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c", _serve_once_and_connect("169.254.169.254")],
                                env=_guarded_env(tmp_path / "netguard.log"), capture_output=True, text=True, timeout=60, check=False)
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pong"
