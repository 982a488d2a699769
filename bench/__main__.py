# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench`: run every benchmark module in bench/ and print its figures.

Each module exposes main(). Benchmarks talk to emulators on loopback only; the network
guard is installed here and, through PYTHONPATH, in every subprocess they start.
"""

import importlib
import os
import pkgutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETGUARD_DIR = os.path.join(ROOT, "tools", "netguard")
# Emulator first: the others rely on it being fast enough not to be the bottleneck.
ORDER = ["emulator_throughput"]


def _install_guard():
    sys.path.insert(0, NETGUARD_DIR)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [NETGUARD_DIR, os.environ.get("PYTHONPATH")]))
    import imds_netguard  # pylint: disable=import-outside-toplevel
    imds_netguard.install()


def main():
    _install_guard()
    names = sorted(info.name for info in pkgutil.iter_modules([os.path.dirname(__file__)]) if not info.name.startswith("_"))
    names = [name for name in ORDER if name in names] + [name for name in names if name not in ORDER]
    failed = []
    for name in names:
        print("== bench.%s" % name, flush=True)
        started = time.monotonic()
        try:
            importlib.import_module("bench." + name).main()
        except Exception as error:  # pylint: disable=broad-except
            print("   FAILED: %s: %s" % (type(error).__name__, error), flush=True)
            failed.append(name)
        print("   (%.1f s)" % (time.monotonic() - started), flush=True)
    if failed:
        print("benchmarks failed: %s" % ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
