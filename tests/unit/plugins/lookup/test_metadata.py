# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata through lookup_loader, against the in-process IMDS emulator."""

from __future__ import annotations

import copy
import os
import threading
import time

import pytest

from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import lookup_loader
from ansible.template import Templar

from ansible_collections.imds.azure.plugins.lookup import metadata as metadata_lookup


try:  # ansible-core >= 2.19: only trusted strings are templates
    from ansible.template import trust_as_template
except ImportError:  # older cores: every string is a template
    def trust_as_template(value):
        return value


def lookup():
    plugin = lookup_loader.get("imds.azure.metadata")
    assert plugin is not None
    return plugin


def metadata_requests(emulator, prefix="/metadata/"):
    return [record for record in emulator.request_log if record.path.startswith(prefix)]


def paths(emulator):
    return [record.path for record in emulator.request_log]


def facts_of(emulator, loadbalancer=False, scheduled=False):
    """azure_imds facts shaped as imds.azure.metadata_facts returns them."""
    compute = copy.deepcopy(emulator.profile["compute"])
    compute.pop("userData", None)
    facts = {"is_azure": True, "endpoint": emulator.url, "api_version": "2025-04-07", "compute": compute,
             "network": copy.deepcopy(emulator.profile["network"]), "placement": {}, "tags": {}}
    if loadbalancer:
        lb = emulator.profile.get("loadbalancer")
        facts["loadbalancer"] = dict({"found": bool(lb)}, **(lb or {"publicIpAddresses": [], "inboundRules": [], "outboundRules": []}))
    if scheduled:
        facts["scheduled_events"] = {"DocumentIncarnation": 1, "Events": []}
    return facts


def host_vars(facts=None, host="vm-1", **extra):
    variables = {"inventory_hostname": host, "ansible_connection": "local"}
    if facts is not None:
        variables["ansible_facts"] = {"azure_imds": facts}
    variables.update(extra)
    return variables


# --------------------------------------------------------------------------- live values

def test_leaf_structure_and_several_terms_cost_one_request(imds_emulator):
    compute = imds_emulator.profile["compute"]
    result = lookup().run(["compute/vmId", "compute/platformFaultDomain", "compute/tagsList", "network/interface/0",
                           "network/interface/0/ipv4/ipAddress/0/privateIpAddress"],
                          variables=host_vars(), endpoint=imds_emulator.url, source="live")
    assert result[0] == compute["vmId"]
    assert result[1] == compute["platformFaultDomain"]
    assert result[2] == compute["tagsList"]
    assert result[3] == imds_emulator.profile["network"]["interface"][0]
    assert result[4] == imds_emulator.profile["network"]["interface"][0]["ipv4"]["ipAddress"][0]["privateIpAddress"]
    assert paths(imds_emulator) == ["/metadata/versions", "/metadata/instance"]


def test_whole_instance_document_never_holds_user_data(imds_emulator):
    document = lookup().run(["/instance"], variables=host_vars(), endpoint=imds_emulator.url, source="live")[0]
    assert document["compute"]["vmId"] == imds_emulator.profile["compute"]["vmId"]
    assert "userData" not in document["compute"]
    assert "userData" not in lookup().run(["compute"], variables=host_vars(), endpoint=imds_emulator.url, source="live")[0]


def test_user_data_path_has_its_own_request_and_is_not_written_to_the_run_dir(imds_emulator, fresh_run):
    plugin = lookup()
    plugin.run(["compute/vmId"], variables=host_vars(), endpoint=imds_emulator.url, source="live")
    value = plugin.run(["compute/userData"], variables=host_vars(), endpoint=imds_emulator.url, source="live")[0]
    assert value == imds_emulator.profile["compute"]["userData"]
    plugin.run(["compute/userData"], variables=host_vars(), endpoint=imds_emulator.url, source="live")
    assert paths(imds_emulator) == ["/metadata/versions", "/metadata/instance", "/metadata/instance/compute/userData"]
    stored = ""
    for root, _dirs, files in os.walk(str(fresh_run)):
        for name in files:
            with open(os.path.join(root, name)) as handle:
                stored += handle.read()
    assert imds_emulator.profile["compute"]["vmId"] in stored      # the document is in the run cache...
    assert imds_emulator.profile["compute"]["userData"] not in stored   # ...the user data is not


def test_other_categories(imds_emulator):
    lb = imds_emulator.profile["loadbalancer"]
    result = lookup().run(["/loadbalancer/inboundRules/0/frontendPort", "/loadbalancer", "/scheduledevents/Events",
                           "/scheduledevents/DocumentIncarnation"],
                          variables=host_vars(), endpoint=imds_emulator.url, source="live")
    assert result[0] == lb["inboundRules"][0]["frontendPort"]
    assert result[1] == lb
    assert result[2] == []
    assert isinstance(result[3], int)
    assert sorted(paths(imds_emulator)) == ["/metadata/loadbalancer", "/metadata/scheduledevents", "/metadata/versions"]


def test_scheduled_events_cache_false_sees_new_events(imds_emulator):
    plugin = lookup()
    assert plugin.run(["/scheduledevents/Events"], variables=host_vars(), endpoint=imds_emulator.url, source="live")[0] == []
    event_id = imds_emulator.add_scheduled_event("Freeze")
    cached = plugin.run(["/scheduledevents/Events"], variables=host_vars(), endpoint=imds_emulator.url, source="live")[0]
    assert cached == []   # cached for the run
    fresh = plugin.run(["/scheduledevents/Events/0/EventId"], variables=host_vars(), endpoint=imds_emulator.url, source="live",
                       cache=False)[0]
    assert fresh == event_id


def test_no_load_balancer(imds_emulator_factory):
    emulator = imds_emulator_factory(profile={"loadbalancer": None})
    with pytest.raises(AnsibleLookupError, match="no loadbalancer metadata .*no Standard load balancer"):
        lookup().run(["/loadbalancer/inboundRules"], variables=host_vars(), endpoint=emulator.url, source="live")
    assert lookup().run(["/loadbalancer/inboundRules"], variables=host_vars(), endpoint=emulator.url, source="live",
                        default=[]) == [[]]
    assert len(metadata_requests(emulator, "/metadata/loadbalancer")) == 1


# --------------------------------------------------------------------------- JMESPath

def test_query_over_the_instance_document(imds_emulator):
    expected = [ip["privateIpAddress"] for nic in imds_emulator.profile["network"]["interface"] for ip in nic["ipv4"]["ipAddress"]]
    result = lookup().run([], variables=host_vars(), endpoint=imds_emulator.url, source="live",
                          query="network.interface[*].ipv4.ipAddress[*].privateIpAddress | []")
    assert result == [expected]


def test_query_over_a_term_and_default_for_null(imds_emulator):
    plugin = lookup()
    env = plugin.run(["compute"], variables=host_vars(), endpoint=imds_emulator.url, source="live",
                     query="tagsList[?name=='env'].value | [0]")
    assert env == ["dev"]
    assert plugin.run(["compute"], variables=host_vars(), endpoint=imds_emulator.url, source="live",
                      query="tagsList[?name=='nope'].value | [0]") == [None]
    assert plugin.run(["compute"], variables=host_vars(), endpoint=imds_emulator.url, source="live",
                      query="tagsList[?name=='nope'].value | [0]", default="unset") == ["unset"]
    assert len(metadata_requests(imds_emulator, "/metadata/instance")) == 1


@pytest.mark.parametrize("expression", ["network.interface[", "tagsList[?name=='env'", "compute.", "`unterminated"])
def test_bad_query_fails_before_any_request(imds_emulator, expression):
    with pytest.raises(AnsibleLookupError, match="invalid JMESPath expression"):
        lookup().run(["compute"], variables=host_vars(), endpoint=imds_emulator.url, source="live", query=expression)
    assert imds_emulator.request_log == []


def test_no_terms_and_no_query():
    with pytest.raises(AnsibleLookupError, match="at least one path"):
        lookup().run([], variables=host_vars())


# --------------------------------------------------------------------------- errors and defaults

def test_missing_path_error_names_path_and_nearest_keys(imds_emulator):
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run(["compute/platformFaultDomian"], variables=host_vars(), endpoint=imds_emulator.url, source="live")
    message = str(info.value)
    assert "'compute/platformFaultDomian' not found" in message
    assert "did you mean 'compute/platformFaultDomain'" in message


def test_missing_path_with_default(imds_emulator):
    result = lookup().run(["compute/vmId", "compute/nothere", "network/interface/9"], variables=host_vars(),
                          endpoint=imds_emulator.url, source="live", default="")
    assert result == [imds_emulator.profile["compute"]["vmId"], "", ""]
    assert lookup().run(["compute/nothere"], variables=host_vars(), endpoint=imds_emulator.url, source="live",
                        default=None) == [None]


@pytest.mark.parametrize("term", ["compute/../../etc", "http://203.0.113.7/metadata/instance", "compute/vmId\r\nX-Forwarded-For: a",
                                  "compute/vmId?format=json", "compute/vmId#x", "compute//vmId", "", "/identity/oauth2/token",
                                  "//203.0.113.7/compute"])
def test_malformed_paths_fail_before_any_request(imds_emulator, term):
    with pytest.raises(AnsibleLookupError):
        lookup().run(["compute/vmId", term], variables=host_vars(), endpoint=imds_emulator.url, source="live", default="x")
    assert imds_emulator.request_log == []


def test_non_integer_index_is_an_error_even_with_default(imds_emulator):
    with pytest.raises(AnsibleLookupError, match="network/interface is a list, so 'first' must be an index"):
        lookup().run(["network/interface/first"], variables=host_vars(), endpoint=imds_emulator.url, source="live", default="")


def test_html_answer_is_a_clear_error(imds_emulator_factory):
    emulator = imds_emulator_factory(faults=["html=1"])
    with pytest.raises(AnsibleLookupError, match="cannot read /metadata/instance live from .*HTML"):
        lookup().run(["compute/vmId"], variables=host_vars(), endpoint=emulator.url, api_version="2021-02-01", source="live")


def test_bad_endpoint_option_fails_without_request():
    with pytest.raises(AnsibleLookupError, match="endpoint"):
        lookup().run(["compute/vmId"], variables=host_vars(), endpoint="ftp://203.0.113.7", source="live")


def test_retries_transient_errors(imds_emulator_factory):
    emulator = imds_emulator_factory(faults=["throttle=1"])
    assert lookup().run(["compute/vmId"], variables=host_vars(), endpoint=emulator.url, api_version="2021-02-01",
                        source="live") == [emulator.profile["compute"]["vmId"]]


# --------------------------------------------------------------------------- facts and source modes

def test_auto_uses_the_hosts_facts_without_any_request(imds_emulator):
    facts = facts_of(imds_emulator, loadbalancer=True, scheduled=True)
    facts["compute"]["vmId"] = "from-facts"
    result = lookup().run(["compute/vmId", "/loadbalancer/inboundRules/0/backendPort", "/scheduledevents/Events"],
                          variables=host_vars(facts), endpoint=imds_emulator.url)
    assert result == ["from-facts", imds_emulator.profile["loadbalancer"]["inboundRules"][0]["backendPort"], []]
    result = lookup().run([], variables=host_vars(facts), endpoint=imds_emulator.url, query="compute.vmId")
    assert result == ["from-facts"]
    assert imds_emulator.request_log == []


def test_each_host_gets_its_own_value(imds_emulator_factory):
    emulators = [imds_emulator_factory(profile={"compute": {"vmId": "vm-%d" % index}}) for index in range(3)]
    plugin = lookup()
    for index, emulator in enumerate(emulators):
        facts = facts_of(emulator)
        # the controller's own IMDS (the endpoint option) is another VM: it must not be asked
        assert plugin.run(["compute/vmId"], variables=host_vars(facts, host="h%d" % index), endpoint=emulators[0].url) == ["vm-%d" % index]
    assert all(emulator.request_log == [] for emulator in emulators)


def test_live_mode_uses_each_hosts_endpoint_variable(imds_emulator_factory):
    emulators = [imds_emulator_factory(profile={"compute": {"vmId": "vm-%d" % index}}) for index in range(2)]
    plugin = lookup()
    for index, emulator in enumerate(emulators):
        variables = host_vars(host="h%d" % index, azure_imds_endpoint=emulator.url)
        assert plugin.run(["compute/vmId"], variables=variables, source="live") == ["vm-%d" % index]
    assert [len(metadata_requests(emulator, "/metadata/instance")) for emulator in emulators] == [1, 1]


def test_source_live_ignores_facts(imds_emulator):
    facts = facts_of(imds_emulator)
    facts["compute"]["vmId"] = "from-facts"
    assert lookup().run(["compute/vmId"], variables=host_vars(facts), endpoint=imds_emulator.url,
                        source="live") == [imds_emulator.profile["compute"]["vmId"]]


def test_source_facts_without_facts_is_an_error(imds_emulator):
    with pytest.raises(AnsibleLookupError, match="host vm-1 has no azure_imds facts; run imds.azure.metadata_facts first, or use source=live"):
        lookup().run(["compute/vmId"], variables=host_vars(), endpoint=imds_emulator.url, source="facts")
    assert imds_emulator.request_log == []


def test_source_from_a_variable(imds_emulator):
    with pytest.raises(AnsibleLookupError, match="cannot answer 'compute/vmId' from facts"):
        lookup().run(["compute/vmId"], variables=host_vars(azure_imds_lookup_source="facts"), endpoint=imds_emulator.url)


def test_auto_with_facts_missing_the_category_does_not_ask_the_controller(imds_emulator):
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run(["/loadbalancer/inboundRules"], variables=host_vars(facts_of(imds_emulator)), endpoint=imds_emulator.url)
    assert "gather_subset=loadbalancer" in str(info.value) and "source=live" in str(info.value)
    assert imds_emulator.request_log == []


def test_facts_of_a_non_azure_host(imds_emulator):
    facts = {"is_azure": False, "compute": {}, "network": {}, "placement": {}, "tags": {}}
    with pytest.raises(AnsibleLookupError, match="host vm-1 is not an Azure VM"):
        lookup().run(["compute/zone"], variables=host_vars(facts), endpoint=imds_emulator.url)
    assert lookup().run(["compute/zone"], variables=host_vars(facts), endpoint=imds_emulator.url, default="none") == ["none"]
    assert imds_emulator.request_log == []


def test_facts_without_load_balancer_give_the_default(imds_emulator_factory):
    emulator = imds_emulator_factory(profile={"loadbalancer": None})
    facts = facts_of(emulator, loadbalancer=True)
    assert lookup().run(["/loadbalancer/inboundRules"], variables=host_vars(facts), default=[]) == [[]]
    with pytest.raises(AnsibleLookupError, match="host vm-1 has no loadbalancer metadata"):
        lookup().run(["/loadbalancer/inboundRules"], variables=host_vars(facts))


@pytest.mark.parametrize("source", ["live", "facts"])
def test_a_field_that_imds_never_sends_that_way_is_refused_live_and_from_facts(imds_emulator_factory, source):
    # even when the path asked for is another field: the whole document is not IMDS's
    emulator = imds_emulator_factory(profile={"compute": {"platformFaultDomain": [0, 1]}})
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run(["compute/vmId"], variables=host_vars(facts_of(emulator)), endpoint=emulator.url, source=source, api_version="2021-02-01")
    message = str(info.value)
    assert message.startswith("imds.azure.metadata: not_imds: ") and "compute.platformFaultDomain is an array, not a whole number" in message
    if source == "facts":
        assert "host vm-1's azure_imds facts do not hold what IMDS sends" in message and emulator.request_log == []


def test_facts_changed_to_other_shapes_are_refused(imds_emulator):
    for key, value, message in [("scheduled_events", {"DocumentIncarnation": 1, "Events": [{"EventId": 5}]}, "the EventId of event 0 is a number"),
                                ("loadbalancer", {"found": True, "inboundRules": "all"}, "loadbalancer.inboundRules is a string")]:
        facts = dict(facts_of(imds_emulator), **{key: value})
        term = "/scheduledevents/Events" if key == "scheduled_events" else "/loadbalancer/inboundRules"
        with pytest.raises(AnsibleLookupError, match=message):
            lookup().run([term], variables=host_vars(facts), endpoint=imds_emulator.url)


def test_user_data_from_facts_hints_at_the_userdata_fact(imds_emulator):
    with pytest.raises(AnsibleLookupError, match=r"gather_subset=userdata"):
        lookup().run(["compute/userData"], variables=host_vars(facts_of(imds_emulator)), endpoint=imds_emulator.url)


@pytest.mark.parametrize("variables", [
    {"inventory_hostname": "web-7", "ansible_host": "203.0.113.10"},
    {"inventory_hostname": "web-7", "ansible_connection": "ssh", "ansible_facts": {}},
    {"inventory_hostname": "web-7", "ansible_facts": {"azure_imds": {}}},
])
def test_auto_without_facts_on_a_remote_host_is_an_error_not_the_controllers_answer(imds_emulator, warnings, variables):
    """Issue 22 item 7: the controller's VM was the answer for web-7, with a warning that AWX does not show."""
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run(["compute/vmId"], variables=variables, endpoint=imds_emulator.url)
    message = str(info.value)
    assert message.startswith("imds.azure.metadata: config: cannot answer 'compute/vmId' from facts: host web-7 has no azure_imds facts")
    assert "the answer would be the controller's VM, not web-7's; set source=live for that" in message
    assert imds_emulator.request_log == [] and warnings == []


def test_auto_without_facts_asks_live_for_the_controller_itself_and_live_for_anyone(imds_emulator, monkeypatch):
    plugin = lookup()
    vm_id = imds_emulator.profile["compute"]["vmId"]
    for variables in (host_vars(), {"inventory_hostname": "localhost"}, {"inventory_hostname": "me", "ansible_host": "127.0.0.1"}):
        assert plugin.run(["compute/vmId"], variables=variables, endpoint=imds_emulator.url) == [vm_id]
    remote = {"inventory_hostname": "web-7", "ansible_host": "203.0.113.10"}
    assert plugin.run(["compute/vmId"], variables=remote, endpoint=imds_emulator.url, source="live") == [vm_id]
    assert plugin.run(["compute/vmId"], variables=dict(remote, azure_imds_lookup_source="live"), endpoint=imds_emulator.url) == [vm_id]
    monkeypatch.setenv("AZURE_IMDS_LOOKUP_SOURCE", "live")
    assert plugin.run(["compute/vmId"], variables=remote, endpoint=imds_emulator.url) == [vm_id]


# --------------------------------------------------------------------------- cache and rate limit

def test_fifty_lookups_one_request(imds_emulator):
    plugin = lookup()
    for index in range(50):
        plugin.run(["compute/vmId" if index % 2 else "network/interface/0/macAddress"], variables=host_vars(),
                   endpoint=imds_emulator.url, source="live")
    assert paths(imds_emulator) == ["/metadata/versions", "/metadata/instance"]


def test_cache_is_keyed_by_api_version(imds_emulator):
    plugin = lookup()
    for version in ("2021-02-01", "2021-02-01", "2020-09-01", "latest"):
        plugin.run(["compute/vmId"], variables=host_vars(), endpoint=imds_emulator.url, api_version=version, source="live")
    versions = [record.query.get("api-version") for record in metadata_requests(imds_emulator, "/metadata/instance")]
    assert versions[:2] == ["2021-02-01", "2020-09-01"] and len(versions) == 3


def test_cache_false_asks_every_time(imds_emulator):
    for _attempt in range(3):
        lookup().run(["compute/vmId"], variables=host_vars(), endpoint=imds_emulator.url, api_version="2021-02-01",
                     source="live", cache=False)
    assert len(metadata_requests(imds_emulator, "/metadata/instance")) == 3


def _worker(url, run_dir, queue):
    from ansible import constants as C
    C.DEFAULT_LOCAL_TMP = run_dir
    value = lookup_loader.get("imds.azure.metadata").run(["compute/vmId"], variables=host_vars(), endpoint=url, source="live")
    queue.put(value[0])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_workers_of_one_run_share_the_cache(imds_emulator, fresh_run, forked):
    """ansible-playbook runs each task in a forked worker: 6 workers, one request per category."""
    assert set(forked(_worker, 6, imds_emulator.url, str(fresh_run))) == {imds_emulator.profile["compute"]["vmId"]}
    assert paths(imds_emulator) == ["/metadata/versions", "/metadata/instance"]


def _failing_worker(url, run_dir, queue):
    from ansible import constants as C
    C.DEFAULT_LOCAL_TMP = run_dir
    try:
        lookup_loader.get("imds.azure.metadata").run(["compute/vmId"], variables=host_vars(), endpoint=url, source="live",
                                                     api_version="2021-02-01", timeout=1, deadline=1)
    except AnsibleLookupError as exc:
        queue.put(str(exc))
    else:
        queue.put("no error")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_workers_of_one_run_share_a_failure(imds_emulator_factory, fresh_run, forked):
    """Issue 22 item 13: each worker asked again after the one before it failed, k deadlines for the k-th; now the
    run's first failure is every worker's answer, at once."""
    emulator = imds_emulator_factory(faults=["status=500"])
    messages = set(forked(_failing_worker, 6, emulator.url, str(fresh_run)))
    assert len(messages) == 1 and next(iter(messages)).startswith("imds.azure.metadata: server_error: cannot read /metadata/instance")
    assert len(metadata_requests(emulator, "/metadata/instance")) == 1


def test_options_are_worked_out_once_per_distinct_settings(imds_emulator, monkeypatch):
    """A template of many calls validates the options once per distinct settings (keywords, the variables and the
    environment the options read), not once per call; ``default`` is read per call."""
    made = []
    original = metadata_lookup.LookupModule.set_options
    monkeypatch.setattr(metadata_lookup.LookupModule, "set_options", lambda self, **kw: made.append(1) or original(self, **kw))
    vm_id = imds_emulator.profile["compute"]["vmId"]
    for _attempt in range(20):
        assert lookup().run(["compute/vmId"], variables=host_vars(), endpoint=imds_emulator.url, source="live") == [vm_id]
    assert lookup().run(["compute/nothing"], variables=host_vars(), endpoint=imds_emulator.url, source="live", default=[]) == [[]]
    assert len(made) == 1
    monkeypatch.setenv("AZURE_IMDS_LOOKUP_SOURCE", "live")
    assert lookup().run(["compute/vmId"], variables=host_vars(), endpoint=imds_emulator.url) == [vm_id]
    monkeypatch.setenv("AZURE_IMDS_LOOKUP_SOURCE", "facts")
    with pytest.raises(AnsibleLookupError, match="host vm-1 has no azure_imds facts"):
        lookup().run(["compute/vmId"], variables=host_vars(), endpoint=imds_emulator.url)
    with pytest.raises(AnsibleLookupError, match="host vm-1 has no azure_imds facts"):
        lookup().run(["compute/vmId"], variables=host_vars(azure_imds_lookup_source="auto", ansible_connection="ssh"),
                     endpoint=imds_emulator.url)
    assert len(made) == 4
    assert len(metadata_requests(imds_emulator)) == 2   # versions and instance, once


def test_requests_stay_under_the_rate_limit(imds_emulator_factory):
    """Without the cache, 12 lookups are paced under 5/s: the emulator (rate limit 5) never answers 429."""
    emulator = imds_emulator_factory(rate_limit=5)
    for _attempt in range(12):
        lookup().run(["compute/vmId"], variables=host_vars(), endpoint=emulator.url, api_version="2021-02-01", source="live",
                     cache=False)
    statuses = [record.status for record in emulator.request_log]
    assert statuses == [200] * 12


# --------------------------------------------------------------------------- unsafe values

def test_values_are_never_templated(imds_emulator_factory, tmp_path):
    marker = tmp_path / "EVALUATED"
    emulator = imds_emulator_factory(profile={"tags": {"note": "{{ lookup('pipe', 'touch %s') }}" % marker}})
    templar = Templar(loader=DataLoader(), variables=host_vars(imds_url=emulator.url))
    result = templar.template(trust_as_template(
        "{{ lookup('imds.azure.metadata', 'compute/tagsList', source='live', endpoint=imds_url) }}"))
    assert "lookup('pipe'" in str(result)
    assert not marker.exists()


def test_waiting_for_a_request_slot_counts_against_the_deadline(imds_emulator):
    """30 lookups at once, as 30 forks would, with deadline 2: the pacer lets 4 requests a second through
    (IMDS allows 5), so most cannot be sent in time. Each ends within the deadline, with its value or
    a throttling error that says why."""
    plugin = lookup()
    outcomes = []

    def one():
        started = time.monotonic()
        try:
            value = plugin.run(["compute/vmId"], variables=host_vars(), endpoint=imds_emulator.url, api_version="2021-02-01",
                               source="live", cache=False, deadline=2)[0]
        except AnsibleLookupError as exc:
            value = exc
        outcomes.append((time.monotonic() - started, value))

    threads = [threading.Thread(target=one) for _index in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 30
    assert max(elapsed for elapsed, _value in outcomes) < 2 + 3, sorted(elapsed for elapsed, _value in outcomes)
    errors = [str(value) for _elapsed, value in outcomes if isinstance(value, Exception)]
    assert 5 <= 30 - len(errors) < 30
    assert all("no free request slot within" in error and "5 requests/s" in error for error in errors), errors[:1]
    assert len(metadata_requests(imds_emulator, "/metadata/instance")) == 30 - len(errors)


# --------------------------------------------------------------------------- error keywords

@pytest.mark.parametrize("keyword, terms, kwargs, facts, faults", [
    ("config", ["compute//vmId"], {}, None, []),
    ("config", [], {}, None, []),
    ("config", ["compute"], {"query": "tagsList[?name=="}, None, []),
    ("config", ["compute/vmId"], {"source": "facts"}, None, []),
    ("config", ["/loadbalancer"], {}, "instance", []),
    ("config", ["compute/vmId"], {"endpoint": "ftp://203.0.113.7", "source": "live"}, None, []),
    ("not_found", ["compute/platformFaultDomian"], {"source": "live"}, None, []),
    ("not_found", ["compute/vmId"], {}, "not_azure", []),
    ("not_imds", ["compute/vmId"], {"source": "live"}, None, ["html=1"]),
    ("rejected", ["compute/vmId"], {"source": "live"}, None, ["status=403"]),
])
def test_errors_start_with_the_plugin_and_a_keyword(imds_emulator_factory, keyword, terms, kwargs, facts, faults):
    # The keywords of the modules' imds_error (docs/docsite/rst/lookups.rst "Errors").
    emulator = imds_emulator_factory(faults=faults)
    if facts == "instance":
        facts = facts_of(emulator)
    elif facts == "not_azure":
        facts = {"is_azure": False}
    kwargs = dict({"endpoint": emulator.url, "api_version": "2021-02-01"}, **kwargs)
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run(terms, variables=host_vars(facts), **kwargs)
    assert str(info.value).startswith("imds.azure.metadata: %s: " % keyword)


def test_at_vvvv_each_value_says_where_it_came_from_and_never_the_user_data(imds_emulator, monkeypatch):
    from ansible_collections.imds.azure.plugins.lookup import metadata as module  # pylint: disable=import-outside-toplevel
    said = []
    monkeypatch.setattr(module.display, "verbosity", 4)
    monkeypatch.setattr(module.display, "vvvv", lambda msg, host=None: said.append(msg))
    facts = facts_of(imds_emulator)
    assert lookup().run(["compute/vmId"], variables=host_vars(facts), endpoint=imds_emulator.url, source="facts") == [
        facts["compute"]["vmId"]]
    assert lookup().run(["compute/userData"], variables=host_vars(), endpoint=imds_emulator.url, source="live", cache=False)
    assert any("from the host's azure_imds facts" in msg for msg in said)
    assert any("from /metadata/instance at %s" % imds_emulator.url in msg for msg in said)
    user_data = imds_emulator.profile["compute"].get("userData")
    assert user_data and not any(user_data in msg for msg in said)
