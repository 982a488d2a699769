#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: scheduled_events
short_description: Read, wait for and approve Azure scheduled events (maintenance notices)
version_added: 0.1.0
description:
  - Reads the scheduled events of the VM the task runs on from the Azure Instance Metadata Service
    (C(/metadata/scheduledevents)). Azure announces there, minutes ahead, that the VM will be frozen
    (V(Freeze)), rebooted (V(Reboot)), moved to another host (V(Redeploy)), evicted (V(Preempt), Spot VMs)
    or deleted (V(Terminate)).
  - Returns the events that pass the filters O(event_ids), O(event_types), O(statuses), O(resources) and
    O(this_host), as IMDS returned them.
  - With O(wait_for), polls (at most once per O(poll_interval), never more than once per second as Microsoft
    recommends) until an event of one of those types that passes the filters appears, or fails after O(wait_timeout).
  - With O(approve=true), approves the selected events that are still C(Scheduled) (a C(StartRequests) POST), so
    that the platform can start them before C(NotBefore). Approving is idempotent; events that already started or
    no longer exist are reported, not approved again, and are not an error.
  - With O(wait_for_completion=true), then polls until the selected events have left the document (finished or
    cancelled).
  - Works on Linux targets (the module runs there) and on Windows targets, where the action plugin runs the same
    code on the controller and reaches IMDS through the PowerShell module M(imds.azure.win_metadata_request) on the host.
  - See R(the maintenance guide,ansible_collections.imds.azure.docsite.maintenance) for a playbook that drains a host,
    approves its maintenance and puts it back.
author:
  - imds.azure contributors (@imds-azure)
options:
  api_version:
    description:
      - IMDS API version, for example V(2021-02-01). Scheduled events have their own api-version line.
      - V(latest) uses the newest scheduled-events version (2020-07-01) without asking the service first.
        An explicit version selects the newest scheduled-events version not newer than it.
      - O(this_host=true) also reads C(compute/name) from the instance line with this version (V(latest)
        asks C(/metadata/versions) first, once per task).
    type: str
    default: latest
  deadline:
    description:
      - Overall seconds allowed for one IMDS request including all retries. Retries stop early when the next
        one would end after the deadline.
      - The first scheduled events request on a VM can take up to about two minutes while the service switches
        scheduled events on, hence the longer default than the other modules.
      - O(wait_timeout) bounds the waiting between requests, not a single request.
    type: float
    default: 150
  event_ids:
    description:
      - Only events with these C(EventId) values (compared case-insensitively).
      - Ids that are not in the document (the event finished, was cancelled or never existed) are returned in
        RV(missing_ids); this is not an error.
      - An empty list selects no event. When a list of pending ids comes out empty (the usual case), the task reads
        the document once, approves nothing, waits for nothing and succeeds with C(changed=false). Leave the option
        out to select every event. An empty entry (C(['']), a variable that templates to nothing) is refused.
    type: list
    elements: str
  event_types:
    description:
      - Only events of these C(EventType) values.
    type: list
    elements: str
    choices: [Freeze, Reboot, Redeploy, Preempt, Terminate]
  statuses:
    description:
      - Only events with these C(EventStatus) values. C(Scheduled) events have not started yet (they start at
        C(NotBefore) or when approved); C(Started) events are under way. Finished events disappear from the document.
    type: list
    elements: str
    choices: [Scheduled, Started]
  resources:
    description:
      - Only events whose C(Resources) list one of these VM names (compared case-insensitively).
      - Events are sent to every VM of an availability set or scale set placement group; C(Resources) says which
        VMs an event actually affects.
    type: list
    elements: str
  this_host:
    description:
      - Only events that affect this VM, that is whose C(Resources) contain this VM's C(compute.name).
      - The name is read from IMDS (one request to C(/metadata/instance/compute/name), plus one to
        C(/metadata/versions) when O(api_version=latest)).
    type: bool
    default: false
  wait_for:
    description:
      - Wait until an event of one of these types that passes the filters is in the document.
      - Polls at most once per O(poll_interval); fails after O(wait_timeout) with RV(timed_out=true) and the
        events of the last read.
    type: list
    elements: str
    choices: [Freeze, Reboot, Redeploy, Preempt, Terminate]
  wait_timeout:
    description:
      - Seconds to wait for O(wait_for) and, separately, for O(wait_for_completion).
    type: float
    default: 300
  poll_interval:
    description:
      - Seconds between two reads of the document while waiting. At least V(1) (Microsoft's recommendation).
    type: float
    default: 1
  approve:
    description:
      - Approve the selected events that are C(Scheduled), with one C(StartRequests) POST, so that they start now
        instead of at C(NotBefore).
      - Needs O(event_ids) (an empty list approves nothing) or O(this_host=true). Approving an event releases it for
        every VM in its C(Resources), so the module never approves events it was not pointed at.
      - Events that already started are listed in RV(already_started); ids that no longer exist in RV(missing_ids).
        Neither is an error, so running the task again changes nothing.
      - In check mode nothing is sent; RV(approved) lists what would be approved.
    type: bool
    default: false
  wait_for_completion:
    description:
      - After approving (or right away without O(approve)), wait until none of the selected events is in the document
        any more, that is until they finished or were cancelled. Fails after O(wait_timeout).
      - For V(Reboot) and V(Redeploy) this host restarts while it waits, which fails the task; wait for the
        connection instead (see the maintenance guide).
      - In check mode, when an approval would have been sent, it does not wait (the events cannot progress).
    type: bool
    default: false
extends_documentation_fragment:
  - imds.azure.imds
  - imds.azure._attributes
  - imds.azure._attributes.platform_posix_windows
notes:
  - Unless O(this_host=true), the module makes one request per read and one for the approval.
  - On Windows targets O(wait_for) and O(wait_for_completion) wait on the controller, with one run of the request module
    per read; C(async) is not supported there.
attributes:
  check_mode:
    support: full
    details:
      - Reads and waits as usual; the approval is not sent.
  diff_mode:
    support: none
  facts:
    support: none
seealso:
  - module: imds.azure.metadata_facts
  - name: Azure scheduled events
    description: Microsoft's documentation of scheduled events.
    link: https://learn.microsoft.com/azure/virtual-machines/linux/scheduled-events
"""

EXAMPLES = r"""
- name: Read the events that affect this VM
  imds.azure.scheduled_events:
    this_host: true
  register: maintenance

- name: Wait up to ten minutes for a reboot or redeploy of this VM
  imds.azure.scheduled_events:
    this_host: true
    wait_for: [Reboot, Redeploy]
    wait_timeout: 600
  register: maintenance

- name: Approve every scheduled event that affects this VM and wait until it is over
  imds.azure.scheduled_events:
    this_host: true
    approve: true
    wait_for_completion: true

- name: Approve the events read earlier (already started or vanished ones are fine)
  imds.azure.scheduled_events:
    event_ids: "{{ maintenance.events | map(attribute='EventId') | list }}"
    approve: true
"""

RETURN = r"""
events:
  description:
    - The events that pass the filters, exactly as IMDS returned them, from the read the module acted on.
    - After O(wait_for_completion), the selected events still in the document (empty unless it timed out).
  returned: always
  type: list
  elements: dict
  sample:
    - EventId: C7061BAC-AFDC-4513-B24B-AA5F13A16123
      EventStatus: Scheduled
      EventType: Freeze
      ResourceType: VirtualMachine
      Resources: [web-01]
      NotBefore: Mon, 11 Apr 2026 22:26:58 GMT
      Description: Virtual machine is being paused because of a memory-preserving Live Migration operation.
      EventSource: Platform
      DurationInSeconds: 5
document_incarnation:
  description: C(DocumentIncarnation) of the last read. It increases whenever the events change.
  returned: always
  type: int
  sample: 2
approved:
  description: Ids of the events approved with this task (in check mode, that would have been approved).
  returned: always
  type: list
  elements: str
  sample: [C7061BAC-AFDC-4513-B24B-AA5F13A16123]
already_started:
  description: With O(approve=true), ids of selected events that had already started, so were not approved again.
  returned: always
  type: list
  elements: str
  sample: []
missing_ids:
  description: Ids from O(event_ids) that are not in the document (finished, cancelled or unknown).
  returned: always
  type: list
  elements: str
  sample: []
vm_name:
  description: This VM's name as used in C(Resources), when O(this_host=true); else V("").
  returned: always
  type: str
  sample: web-01
api_version:
  description: The scheduled-events api-version used.
  returned: always
  type: str
  sample: "2020-07-01"
polls:
  description: How many times the document was read.
  returned: always
  type: int
  sample: 1
waited:
  description: Seconds from the start of the first read of the document to the end of the last one.
  returned: always
  type: float
  sample: 0.0
timed_out:
  description: Whether O(wait_for) or O(wait_for_completion) ran out of time (the task then fails).
  returned: always
  type: bool
  sample: false
imds_error:
  description:
    - One stable keyword naming what failed; C(msg) says it in words. See
      R(troubleshooting,ansible_collections.imds.azure.docsite.troubleshooting) for every message.
    - V(config) - an option, or the combination of options, is not valid (nothing was requested or approved).
    - V(wait_timeout) - O(wait_for) or O(wait_for_completion) ran out of time (RV(timed_out) is V(true) and the other
      values describe the last read).
    - V(unreachable), V(timeout), V(rejected), V(not_found), V(throttled), V(server_error), V(not_imds), V(too_large) - what
      went wrong with IMDS.
    - On Windows targets also V(command) (a PowerShell module could not run on the host) and V(timeout) (the connection
      did not return).
  returned: failure
  type: str
  sample: wait_timeout
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imds.azure.plugins.module_utils._scheduled import ARGUMENT_SPEC, run_module


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
