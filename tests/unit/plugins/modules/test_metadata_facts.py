# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.metadata_facts as a module (argument handling, result shape) against the emulator."""

from __future__ import annotations

import contextlib
import json
from unittest.mock import patch

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.imds.azure.plugins.modules import metadata_facts


class AnsibleExitJson(Exception):
    pass


class AnsibleFailJson(Exception):
    pass


@contextlib.contextmanager
def set_module_args(args):
    """Module arguments on ansible-core 2.16 to 2.21."""
    args = dict(args)
    args.setdefault("_ansible_remote_tmp", "/tmp")
    args.setdefault("_ansible_keep_remote_files", False)
    try:
        from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    except ImportError:
        with patch.object(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))):
            yield
    else:
        with patch_module_args(args):
            yield


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    def exit_json(self, **kwargs):
        raise AnsibleExitJson(kwargs)

    def fail_json(self, **kwargs):
        raise AnsibleFailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


def run(args):
    with set_module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as info:
            metadata_facts.main()
    return info.type is AnsibleExitJson, info.value.args[0]


def metadata_log(emu):
    return [record for record in emu.request_log if record.path.startswith("/metadata")]


def test_default_gather(imds_emulator, azure_dmi):
    ok, result = run({"endpoint": imds_emulator.url})
    assert ok and result["changed"] is False
    assert set(result) == {"changed", "ansible_facts"}
    facts = result["ansible_facts"]["azure_imds"]
    assert facts["is_azure"] is True and facts["detection"] == "dmi"
    assert facts["placement"]["vm_size"] == "Standard_D2s_v5"
    assert [r.path for r in metadata_log(imds_emulator)] == ["/metadata/versions", "/metadata/instance"]


def test_check_mode_gathers_the_same(imds_emulator, azure_dmi):
    ok, result = run({"endpoint": imds_emulator.url, "_ansible_check_mode": True, "api_version": "2021-02-01"})
    assert ok and result["changed"] is False
    assert result["ansible_facts"]["azure_imds"]["api_version"] == "2021-02-01"


def test_endpoint_env_fallback(imds_emulator, azure_dmi, monkeypatch):
    monkeypatch.setenv("AZURE_IMDS_ENDPOINT", imds_emulator.url)
    ok, result = run({"api_version": "2021-02-01"})
    assert ok and result["ansible_facts"]["azure_imds"]["endpoint"] == imds_emulator.url
    assert len(metadata_log(imds_emulator)) == 1


def test_detect_false_as_yaml_boolean(imds_emulator, dmi, tmp_path, monkeypatch):
    monkeypatch.setenv("IMDS_AZURE_DMI_PATH", dmi(tmp_path / "aws", "", "Amazon EC2"))
    ok, result = run({"endpoint": imds_emulator.url, "detect": False, "api_version": "2021-02-01"})
    assert ok and result["ansible_facts"]["azure_imds"]["detection"] == "disabled"
    assert result["ansible_facts"]["azure_imds"]["is_azure"] is True


def test_not_azure_host_no_request(imds_emulator, dmi, tmp_path, monkeypatch):
    monkeypatch.setenv("IMDS_AZURE_DMI_PATH", dmi(tmp_path / "aws", "", "Amazon EC2"))
    ok, result = run({"endpoint": imds_emulator.url, "gather_subset": ["all"]})
    assert ok and result["ansible_facts"]["azure_imds"]["is_azure"] is False
    assert metadata_log(imds_emulator) == []


def test_failure_is_fail_json_with_message(imds_emulator_factory, azure_dmi):
    emu = imds_emulator_factory(faults=["html=1"])
    ok, result = run({"endpoint": emu.url, "api_version": "2021-02-01"})
    assert not ok
    assert "HTML page" in result["msg"] and result["imds_error"] == "not_imds"
    assert "ansible_facts" not in result


def test_bad_arguments_fail(azure_dmi):
    ok, result = run({"endpoint": "http://169.254.169.254/metadata"})
    assert not ok and "no path" in result["msg"]
    ok, result = run({"gather_subset": ["hardware"]})
    assert not ok and "unknown subset" in result["msg"]
    ok, result = run({"api_version": "yesterday"})
    assert not ok and "api_version" in result["msg"]


def test_options_the_argument_spec_refuses_fail_with_imds_error_config():
    """The module validates the options (the action passes them on): its own refusals say imds_error too."""
    for args in ({"detect": "maybe"}, {"timeout": "soon"}, {"gather_subset": "instance", "unknown": 1}):
        ok, result = run(args)
        assert not ok and result["imds_error"] == "config", result


def test_userdata_needs_no_log(imds_emulator, azure_dmi):
    ok, result = run({"endpoint": imds_emulator.url, "gather_subset": ["userdata"]})
    assert not ok and "no_log" in result["msg"]
    ok, result = run({"endpoint": imds_emulator.url, "gather_subset": ["userdata"], "_ansible_no_log": True})
    assert ok and result["ansible_facts"]["azure_imds"]["userdata"].startswith("#cloud-config")


def test_argument_spec_matches_contract():
    with set_module_args({}):
        with patch.object(metadata_facts, "FactsModule") as module_class:
            module_class.return_value.params = {}
            with patch.object(metadata_facts, "run_module"):
                metadata_facts.main()
    spec = module_class.call_args.kwargs["argument_spec"]
    assert set(spec) == {"endpoint", "api_version", "timeout", "deadline", "gather_subset", "detect", "attested_required", "attested_ca_path",
                         "attested_domain", "attested_clock_skew", "attested_nonce_retries", "attested_fetch_intermediates", "attested_aia_allowlist",
                         "attested_nonce"}
    assert spec["attested_required"]["default"] is True
    assert module_class.call_args.kwargs["supports_check_mode"] is True


def test_the_internal_option_sits_with_its_siblings():
    """ansible-doc and the HTML reference list options by name, and "_" sorts before every lower-case letter: the
    internal nonce is named like the attested options it belongs to, and its description starts by saying it is internal."""
    options = yaml.safe_load(metadata_facts.DOCUMENTATION)["options"]
    assert [name for name in options if name.startswith("_")] == []
    assert options["attested_nonce"]["description"][0].startswith("Internal, not for tasks.")


# --------------------------------------------------------------------------- hostile answers (issue 14)

def test_an_empty_endpoint_fails_instead_of_asking_the_real_imds(dmi, tmp_path, monkeypatch):
    monkeypatch.setenv("IMDS_AZURE_DMI_PATH", dmi(tmp_path / "aws", "", "Amazon EC2"))   # no request either way
    ok, result = run({"endpoint": ""})
    assert not ok and result["imds_error"] == "config"
    assert "endpoint is empty" in result["msg"]


@pytest.mark.parametrize("fault", ["nested=100000", "nested=200"])
def test_a_deeply_nested_document_fails_with_imds_error(imds_emulator_factory, azure_dmi, fault):
    emu = imds_emulator_factory(faults=[fault])
    ok, result = run({"endpoint": emu.url, "api_version": "2021-02-01"})
    assert not ok and result["imds_error"] == "not_imds"
    assert "nested more than 32 levels deep" in result["msg"] and "ansible_facts" not in result


def test_a_lone_surrogate_in_a_tag_name_fails_with_imds_error(imds_emulator_factory, azure_dmi):
    emu = imds_emulator_factory(profile={"tags": {"role\udc80": "web"}})
    ok, result = run({"endpoint": emu.url, "api_version": "2021-02-01"})
    assert not ok and result["imds_error"] == "not_imds"
    assert "IMDS GET /metadata/instance answered 200 with JSON that holds a lone UTF-16 surrogate" in result["msg"]
    json.dumps(result, ensure_ascii=False).encode("utf-8")   # the result can be written out as UTF-8


@pytest.mark.parametrize("fault, kind", [("oversize=8", "too_large"), ("endless=20", "too_large"), ("trickle-body=0.2", "timeout")])
def test_hostile_answers_fail_with_imds_error(imds_emulator_factory, azure_dmi, fault, kind):
    emu = imds_emulator_factory(faults=[fault])
    ok, result = run({"endpoint": emu.url, "api_version": "2021-02-01", "timeout": 1, "deadline": 2})
    assert not ok and result["imds_error"] == kind and "ansible_facts" not in result
