# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reusable pytest glue for the IMDS emulator (used by tools/imds_emulator/tests and tests/unit conftest files).

Usage in a conftest.py::

    import pytest
    from tools.imds_emulator.testing import imds_emulator_fixture, register_marker

    imds_emulator = pytest.fixture(name="imds_emulator")(imds_emulator_fixture)

    def pytest_configure(config):
        register_marker(config)

A test configures its emulator with ``@pytest.mark.imds_emulator(rate_limit=5, faults=[...], profile={...})``
or with ``@pytest.mark.parametrize("imds_emulator", [{...}], indirect=True)``. The rate limit is off unless asked.
"""

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

from .emulator import Emulator

MARKER = "imds_emulator"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def register_marker(config):
    config.addinivalue_line("markers", "%s(**kwargs): keyword arguments for the imds_emulator fixture's Emulator" % MARKER)


def emulator_kwargs(request):
    """Emulator keyword arguments from the test's marker and indirect parameter (rate limit off by default)."""
    kwargs = {"rate_limit": None}
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        kwargs.update(marker.kwargs)
    param = getattr(request, "param", None)
    if isinstance(param, dict):
        kwargs.update(param)
    return kwargs


@contextlib.contextmanager
def running_emulator(**kwargs):
    """An Emulator on 127.0.0.1 with the rate limit off unless ``rate_limit`` is given."""
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("host", "127.0.0.1")
    with Emulator(**kwargs) as emu:
        yield emu


def imds_emulator_fixture(request):
    """Function-scoped fixture body: yields a started Emulator, stops it afterwards."""
    with running_emulator(**emulator_kwargs(request)) as emu:
        yield emu


class EmulatorProcess:
    """The emulator CLI in a subprocess; ``urls`` holds the banner URLs once it listens."""

    def __init__(self, *args, python=None, timeout=30, cwd=None):
        self.args = [python or sys.executable, "-m", "tools.imds_emulator"] + list(args)
        if not any(str(arg).startswith("--listen") for arg in args):
            self.args += ["--listen", "127.0.0.1:0"]
        self.timeout = timeout
        self.cwd = cwd or REPO_ROOT
        self.proc = None
        self.urls = []
        self.banner = []
        self.stderr_text = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return self.urls[0]

    def start(self, expected=1):
        """Start and wait for ``expected`` banner lines."""
        env = dict(os.environ)
        env["PYTHONPATH"] = self.cwd + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(self.args, cwd=self.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # pylint: disable=consider-using-with
        deadline = time.monotonic() + self.timeout
        pending = b""
        fd = self.proc.stdout.fileno()
        while len(self.urls) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.stop(signal.SIGKILL)
                stderr = self.stderr_text
                raise RuntimeError("emulator did not start: %r (stderr: %s)" % (self.banner, stderr))
            ready, _w, _x = select.select([fd], [], [], min(remaining, 0.5))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            pending += chunk
            while b"\n" in pending:
                raw, pending = pending.split(b"\n", 1)
                line = raw.decode("utf-8", "replace")
                self.banner.append(line)
                if line.startswith("listening on "):
                    self.urls.append(line[len("listening on "):])
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stop with ``sig``; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.stderr_text is None and self.proc.stderr and not self.proc.stderr.closed:
            self.stderr_text = self.proc.stderr.read().decode("utf-8", "replace")
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream and not stream.closed:
                stream.close()
        return self.proc.returncode
