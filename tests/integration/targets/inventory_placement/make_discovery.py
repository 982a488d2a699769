"""Write the stand-in of an azure.azcollection.azure_rm inventory source for the emulated fleet.

usage: make_discovery.py MANIFEST > 01-fleet.yml

A YAML inventory with the hosts and host variables azure_rm gives these VMs with
plain_host_names: true (azure_rm's documented host variables, in its shapes: availability_zone
is ARM's zones list, resource_group is lower case, default_inventory_hostname is the hashed
name). azure_rm itself cannot run here: it needs the Azure SDK and Azure Resource Manager.
"""

import hashlib
import json
import sys


def main(manifest_path):
    vms = json.load(open(manifest_path, encoding="utf-8"))
    hosts = {}
    for vm in vms:
        resource_id = vm["resource_id"]
        hosts[vm["name"]] = {
            "id": resource_id,
            "name": vm["name"],
            "location": vm["location"],
            "availability_zone": [vm["zone"]] if vm["zone"] else None,
            "tags": vm["tags"],
            "vmid": vm["vmId"],
            "virtual_machine_size": vm["vm_size"],
            "os_profile": {"system": vm["os_type"].lower()},
            "resource_group": resource_id.split("/resourceGroups/")[1].split("/")[0].lower(),
            "resource_type": "Microsoft.Compute/virtualMachines",
            "powerstate": "running",
            "provisioning_state": "succeeded",
            "default_inventory_hostname": "%s_%s" % (vm["name"], hashlib.sha1(resource_id.encode()).hexdigest()[:4]),
            "private_ipv4_addresses": [],
            "public_ipv4_address": [],
        }
    json.dump({"all": {"hosts": hosts}}, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
