# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Azure clients from Debian packages, extracted and never installed, for tools/imds_emulator/tests/netns.

cloud-init's Azure datasource (package ``cloud-init``) and WALinuxAgent's IMDS client (package ``waagent``)
are fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into a cache keyed by the package
version (``$XDG_CACHE_HOME/imds-azure/debian-clients/<package>_<version>``, default ``~/.cache``). Nothing
is installed, so no service of theirs can start; the tests import their modules from the unpacked tree.

Fetching needs the network, so it happens on the host (tools/imds_emulator/tests/test_emulator_netns.py calls
``site_dirs()`` before it enters the namespace); inside the namespace ``site_dirs(fetch=False)`` only
finds the cache. Any failure raises ``ClientUnavailable`` naming the command to run: these tests fail, never skip.

    python tools/imds_emulator/tests/debian_clients.py     # fetch both into the cache and print where they are
"""

import os
import shutil
import subprocess
import sys
import tempfile

PACKAGES = ("cloud-init", "waagent")
SITE = os.path.join("usr", "lib", "python3", "dist-packages")
COMPLETE = ".complete"


class ClientUnavailable(RuntimeError):
    """A Debian client could not be fetched or found (the message names the command that fixes it)."""


def cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "imds-azure", "debian-clients")


def _run(command, cwd=None):
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    except FileNotFoundError:
        raise ClientUnavailable("%s not found: the real-client tests need Debian's apt and dpkg "
                                "(tools/harness/system-packages.txt)" % command[0]) from None


def candidate_versions(packages):
    """The version apt would fetch of each package (from the local package lists: no network)."""
    result = _run(["apt-cache", "policy"] + list(packages))
    versions, package = {}, None
    for line in result.stdout.splitlines():
        if not line.startswith(" ") and line.endswith(":"):
            package = line[:-1]
        elif line.strip().startswith("Candidate:") and package in packages:
            version = line.split(":", 1)[1].strip()
            if version != "(none)":
                versions[package] = version
    missing = [name for name in packages if name not in versions]
    if missing:
        raise ClientUnavailable("apt has no candidate for %s (%s). Run: apt-get update"
                                % (", ".join(missing), result.stderr.strip() or "not in the package lists"))
    return versions


def _refresh_package_lists():
    # Lists older than the mirror, or none yet (a fresh machine): refresh them once, as setup.sh does.
    if os.geteuid() == 0:
        _run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-qq"])


def _unpacked(package, version):
    return os.path.join(cache_root(), "%s_%s" % (package, version.replace(":", "%3a")))


def _download(package, version, directory):
    command = ["apt-get", "download", "%s=%s" % (package, version)]
    result = _run(command, cwd=directory)
    if result.returncode != 0:
        _refresh_package_lists()
        version = candidate_versions([package])[package]
        command = ["apt-get", "download", "%s=%s" % (package, version)]
        result = _run(command, cwd=directory)
    debs = [name for name in os.listdir(directory) if name.endswith(".deb")]
    if result.returncode != 0 or len(debs) != 1:
        raise ClientUnavailable("cannot fetch the Debian package %s: `%s` failed (%s). Run: apt-get update && %s"
                                % (package, " ".join(command), result.stderr.strip(), " ".join(command)))
    return version, os.path.join(directory, debs[0])


def _fetch(package, version):
    """Download and unpack ``package`` into the cache; returns the version unpacked."""
    os.makedirs(cache_root(), exist_ok=True)
    work = tempfile.mkdtemp(prefix=package + "-", dir=cache_root())
    try:
        version, deb = _download(package, version, work)
        tree = os.path.join(work, "tree")
        result = _run(["dpkg-deb", "-x", deb, tree])
        if result.returncode != 0:
            raise ClientUnavailable("`dpkg-deb -x %s` failed: %s" % (deb, result.stderr.strip()))
        open(os.path.join(tree, COMPLETE), "w", encoding="utf-8").close()
        try:
            os.rename(tree, _unpacked(package, version))
        except OSError:
            if not os.path.exists(os.path.join(_unpacked(package, version), COMPLETE)):  # not another run's finished copy
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return version


def site_dirs(packages=PACKAGES, fetch=True):
    """``{package: its unpacked usr/lib/python3/dist-packages}``, fetching what the cache lacks unless ``fetch`` is false."""
    try:
        versions = candidate_versions(packages)
    except ClientUnavailable:
        if not fetch:
            raise
        _refresh_package_lists()
        versions = candidate_versions(packages)
    found = {}
    for package, version in versions.items():
        if not os.path.exists(os.path.join(_unpacked(package, version), COMPLETE)):
            if not fetch:
                raise ClientUnavailable("%s %s is not in %s. Run: python tools/imds_emulator/tests/debian_clients.py "
                                        "(tools/imds_emulator/tests/test_emulator_netns.py does it)" % (package, version, cache_root()))
            version = _fetch(package, version)
        found[package] = os.path.join(_unpacked(package, version), SITE)
    return found


if __name__ == "__main__":
    for name, path in site_dirs().items():
        sys.stdout.write("%s: %s\n" % (name, path))
