# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet: N emulated VMs, one Emulator each, on one event loop.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

from . import attested as _attested
from . import profile as _profile
from .emulator import Emulator
from .http11 import LoopThread


class Fleet:
    """N emulated VMs on one event loop (consecutive ports from ``port``, or free ports when 0)."""

    def __init__(self, size=None, seed=0, host="127.0.0.1", port=0, profiles=None, fleet_file=None, base_profile=None,
                 faults=(), rate_limit=5, ca_dir=None, scenarios=()):
        base = _profile.load_data(base_profile) if isinstance(base_profile, str) else base_profile
        if fleet_file is not None:
            profiles = [_profile.apply_overrides(prof, base or {}) for prof in _profile.load_fleet(fleet_file)]
        if profiles is None:
            profiles = _profile.generate_fleet(size if size is not None else 3, seed, base)
        self.profiles = profiles
        self.seed = seed
        self.host = host
        self.port = port
        self._kwargs = {"faults": faults, "rate_limit": rate_limit, "ca_dir": ca_dir, "scenarios": scenarios}
        self._loop = None
        self.members = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._loop = LoopThread("imds-emulator-fleet")
        try:
            for index, prof in enumerate(self.profiles):
                member = Emulator(profile=prof, seed=self.seed * 1000 + index, host=self.host,
                                  port=self.port + index if self.port else 0, loop=self._loop, **self._kwargs)
                member.start()
                self.members.append(member)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        for member in self.members:
            member.stop()
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    @property
    def urls(self):
        return [member.url for member in self.members]

    @property
    def ca_cert_path(self):
        return _attested.get_ca(self._kwargs["ca_dir"]).ca_cert_path

    def manifest(self):
        """One dict per VM (name, url, vmId, placement, tags...) for inventories and demos."""
        out = []
        for member in self.members:
            compute = member.profile["compute"]
            out.append({
                "name": compute.get("name", ""), "url": member.url, "host": member.host, "port": member.port,
                "vmId": compute.get("vmId", ""), "location": compute.get("location", ""), "zone": compute.get("zone", ""),
                "fault_domain": compute.get("platformFaultDomain", ""), "update_domain": compute.get("platformUpdateDomain", ""),
                "vm_size": compute.get("vmSize", ""), "priority": compute.get("priority", ""), "scale_set": compute.get("vmScaleSetName", ""),
                "os_type": compute.get("osType", ""), "resource_id": compute.get("resourceId", ""),
                "tags": {item["name"]: item["value"] for item in compute.get("tagsList", [])},
                "loadbalancer": bool(member.profile.get("loadbalancer")),
            })
        return out
