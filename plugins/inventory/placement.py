# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: placement
short_description: Group hosts by Azure fault domain, update domain, zone and tags from IMDS facts
version_added: 0.1.0
description:
  - Builds groups and host variables from the Azure Instance Metadata Service (IMDS) data that
    M(imds.azure.metadata_facts) gathered on each host. IMDS is only reachable from inside each
    VM, so this plugin never asks it for other hosts; it reads what was gathered.
  - "Three sources (O(sources)): V(fact_cache) reads Ansible's fact cache through Ansible's own
    cache plugins (C(jsonfile), C(community.general.redis), ...); V(tree) reads a directory written by
    C(ansible all -m imds.azure.metadata_facts --tree DIR); V(local) queries the IMDS endpoint of the
    machine running Ansible (C(ansible-pull) on each VM) and places O(local_hostname)."
  - Hosts already in the inventory (from earlier inventory sources) get groups. Hosts found only in
    the fact cache or the tree directory are added when O(add_hosts=true).
  - Hosts without usable IMDS data are never dropped silently. They are listed in a warning, each with the reason, and
    put in the group C(<group_prefix>no_imds). Facts gathered without the C(instance) subset of
    M(imds.azure.metadata_facts) (only V(scheduledevents), for example) hold no placement, so such a host is there too,
    never in the C(none) groups.
  - "Built-in group names are C(<group_prefix><dimension>_<value>) with a parent group per dimension,
    for example C(azure_fault_domains) with children C(azure_fault_domain_0), C(azure_fault_domain_1)...
    An empty value (a regional VM has zone V(\"\")) gives C(<dimension>_none), for example C(azure_zone_none).
    Tags give C(<group_prefix>tag_<name>) (parent C(<group_prefix>tags)) and, for a non-empty value,
    C(<group_prefix>tag_<name>_<value>) (parent C(<group_prefix>tag_<name>))."
  - "Built-in group names are always sanitised with ansible-core's C(to_safe_group_name): every
    character that is not a letter, digit or underscore (Unicode letters count as letters) becomes
    C(_), as does a leading digit. So tag C(cost center=cc:1234;shared) gives
    C(azure_tag_cost_center_cc_1234_shared). Names from O(groups) and O(keyed_groups) follow the
    C(TRANSFORM_INVALID_GROUP_CHARS) setting, as in other inventory plugins."
  - "A built-in name that would hold hosts of different values (C(tier=db-primary) and C(tier=db.primary) both
    give C(azure_tag_tier_db_primary)) is not created, and a warning lists each such name with its values."
  - "Every source's data is checked against the shape of the IMDS document (types and ranges of each field, at
    most 50 tags per host, see the facts guide): a host whose data IMDS would never send (a fault domain given as
    a list, C(NaN) or C(\"1 \"), a tag without a name or given twice) or that has no fault domain goes to
    C(<group_prefix>no_imds) with the reason, never into a group of its own."
  - "A cache entry named like a group (C(all), C(ungrouped), a group of an earlier source, or a name of the form
    of the groups this plugin makes, such as C(azure_no_imds) or C(azure_tag_x)) is not added as a host, with a
    warning: ansible-core would give its variables to the group."
  - Values that come from IMDS (placement, tags, facts) are marked unsafe, so Jinja in a tag value
    is never evaluated.
  - The configuration file name must end with C(azure_placement.yml) or C(azure_placement.yaml). Unknown keys,
    values outside an option's choices and anything but true or false for a true/false option are errors.
  - List this source after the sources that define the hosts, for example
    C(-i hosts.ini -i fleet.azure_placement.yml).
author:
  - imds.azure contributors (@imds-azure)
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
  - imds.azure.imds.plugins
options:
  plugin:
    description: Marks this file as a configuration of this plugin.
    type: string
    required: true
    choices: [imds.azure.placement]
  sources:
    description:
      - Where the IMDS data comes from, read in this order. The first source with data for a host wins.
    type: list
    elements: string
    choices: [fact_cache, tree, local]
    default: [fact_cache]
  add_hosts:
    description:
      - Add hosts that exist only in the fact cache or the tree directory.
      - When V(false), only hosts already in the inventory are grouped.
      - The V(local) source always adds O(local_hostname).
    type: bool
    default: false
  fact_cache_plugin:
    description:
      - Cache plugin that holds the facts, for example V(ansible.builtin.jsonfile) or V(community.general.redis).
      - Defaults to the fact cache plugin Ansible is configured with (C(ANSIBLE_CACHE_PLUGIN), C([defaults] fact_caching)).
    type: string
  fact_cache_connection:
    description:
      - Connection of the fact cache plugin (a directory for C(jsonfile), C(host:port:db) for C(redis)).
      - Defaults to C(ANSIBLE_CACHE_PLUGIN_CONNECTION) / C([defaults] fact_caching_connection).
      - For a file-based cache plugin (C(jsonfile), C(community.general.yaml), ...) the directory must exist;
        a missing one is an error, never an empty inventory (the plugin reads the cache and creates nothing).
    type: string
  fact_cache_prefix:
    description: Key prefix of the fact cache. Defaults to the fact cache plugin's own configuration.
    type: string
  fact_cache_timeout:
    description:
      - Age in seconds after which cached facts count as expired (V(0) never expires; a negative value is an error).
        Defaults to the fact cache plugin's own configuration.
    type: int
  tree_dir:
    description:
      - Directory written by C(ansible ... -m imds.azure.metadata_facts --tree DIR), one JSON file per host.
      - Required when O(sources) contains V(tree).
    type: path
  local_hostname:
    description: Inventory name of the machine itself for the V(local) source.
    type: string
    default: localhost
  detect:
    description:
      - For the V(local) source, as in M(imds.azure.metadata_facts). V(auto) checks the DMI data of the
        machine first and only then asks IMDS; V(false) asks the endpoint without checking.
    type: string
    choices: [auto, "true", "false"]
    default: auto
  group_prefix:
    description: Prefix of every built-in group name.
    type: string
    default: azure_
  group_by:
    description:
      - Built-in groupings. Remove an entry to switch it off; V([]) switches them all off
        (the C(no_imds) group is always created).
    type: list
    elements: string
    choices: [fault_domain, update_domain, zone, location, vm_size, scale_set, priority, tags]
    default: [fault_domain, update_domain, zone, location, vm_size, scale_set, priority, tags]
  vars_prefix:
    description:
      - Prefix of the host variables set by this plugin. Names it would make that are not valid variable
        names (for example with C(-)) are refused.
    type: string
    default: azure_
  host_vars:
    description:
      - Host variables to set. V(placement) sets C(<vars_prefix>placement), the placement summary dict
        (C(location), C(zone), C(fault_domain), C(update_domain), C(sub_fault_domain), C(scale_set),
        C(placement_group), C(vm_size), C(priority); strings, V("") when absent).
        V(placement_vars) sets each of those as its own variable, for example C(azure_fault_domain).
        V(tags) sets C(<vars_prefix>tags), a name to value dict. V(imds) sets C(<vars_prefix>imds_facts),
        the whole C(azure_imds) fact.
      - "V(auto) is V(placement) and V(tags): playbooks, C(ansible-inventory --host) and C(ansible-inventory --list --export)
        (what AWX and Automation Platform run for an inventory source) always get C(<vars_prefix>placement) and
        C(<vars_prefix>tags). The one exception is C(ansible-inventory --list) without C(--export) for hosts whose data come
        from the fact cache that Ansible itself is configured with (O(fact_cache_plugin), O(fact_cache_connection),
        O(fact_cache_prefix) and O(fact_cache_timeout) unset or equal to C([defaults] fact_caching*)): that listing prints each
        host's cached facts, C(ansible_facts['azure_imds']['placement']) and C(['tags']), and printing the same data twice
        doubled its cost at fleet scale."
      - O(compose), O(groups) and O(keyed_groups) always see C(azure_imds) (the whole fact),
        C(<vars_prefix>placement) and C(<vars_prefix>tags), whether or not they are set as host variables.
      - "Each variable name must be a valid variable name: O(vars_prefix) and the keys of O(compose) must consist
        of letters, digits and underscores."
    type: list
    elements: string
    choices: [auto, placement, placement_vars, tags, imds]
    default: [auto]
"""

EXAMPLES = r"""
# fleet.azure_placement.yml: group the hosts of an earlier inventory source by the facts that
# `ansible all -m imds.azure.metadata_facts` stored in a jsonfile fact cache:
#   ANSIBLE_CACHE_PLUGIN=jsonfile ANSIBLE_CACHE_PLUGIN_CONNECTION=~/.cache/ansible-facts \
#   ansible-inventory -i hosts.ini -i fleet.azure_placement.yml --graph
plugin: imds.azure.placement

# Each of the following is a configuration file of its own.

# Every host in a shared Redis fact cache, even hosts no other source lists:
# plugin: imds.azure.placement
# fact_cache_plugin: community.general.redis
# fact_cache_connection: redis.example.com:6379:0
# add_hosts: true
# cache: true                   # keep the built inventory for an hour
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: ~/.cache/ansible-inventory

# Results of `ansible all -m imds.azure.metadata_facts --tree /var/tmp/imds`, only zones and
# tags, groups without prefix, plus constructed groups:
# plugin: imds.azure.placement
# sources: [tree]
# tree_dir: /var/tmp/imds
# group_by: [zone, tags]
# group_prefix: ""
# keyed_groups:
#   - key: azure_imds.compute.osType
#     prefix: os
# groups:
#   spot: azure_placement.priority == 'Spot'

# ansible-pull on each VM: place the VM itself:
# plugin: imds.azure.placement
# sources: [local]
# host_vars: [placement, placement_vars, tags]
"""

import difflib
import keyword
import re

from collections.abc import Mapping

from ansible import constants as C
from ansible import context
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.parsing.convert_bool import BOOLEANS
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var
from ansible.utils.vars import combine_vars

from ansible_collections.imds.azure.plugins.module_utils._placement import PLACEMENT_KEYS
from ansible_collections.imds.azure.plugins.module_utils._shape import json_type
from ansible_collections.imds.azure.plugins.plugin_utils import _fact_cache, _placement_sources as sources
from ansible_collections.imds.azure.plugins.plugin_utils._groups import GroupPlan, natural_key, reserved_host_name, safe_group_name

display = Display()

FILE_SUFFIXES = ("azure_placement.yml", "azure_placement.yaml")
# A configuration of this plugin, whatever the file is called (YAML or JSON).
_NAMES_THIS_PLUGIN = re.compile(r"""(?m)^[\s{,]*["']?plugin["']?\s*:\s*["']?imds\.azure\.placement(?![\w.])""")

# ansible-core 2.19+ trusts no value an inventory plugin sets (trusted_by_default is False), so
# the plain strings built from IMDS data are never templates. Older cores template every string:
# there the values are marked unsafe.
_CORE_UNTRUSTS = getattr(BaseInventoryPlugin, "trusted_by_default", None) is False


def _valid_variable_name(name):
    return isinstance(name, str) and name.isascii() and name.isidentifier() and not keyword.iskeyword(name)


def _warn(text):
    display.warning("imds.azure.placement: %s" % text)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Groups and host variables from IMDS facts."""

    NAME = "imds.azure.placement"

    def verify_file(self, path):
        """A file whose name ends with FILE_SUFFIXES; also one that names this plugin under another name, so
        that parse() can say what the name must be (ansible-core would only say it could not parse it)."""
        if not super().verify_file(path):
            return False
        if to_text(path).endswith(FILE_SUFFIXES):
            return True
        try:
            with open(path, "rb") as handle:
                head = handle.read(64 * 1024)
        except OSError:
            return False
        return bool(_NAMES_THIS_PLUGIN.search(head.decode("utf-8", "replace")))

    # ---------------------------------------------------------------- reading the sources

    def _fact_cache_options(self):
        return dict((name, self.get_option("fact_cache_" + name)) for name in ("plugin", "connection", "prefix", "timeout"))

    def _local_params(self):
        return dict((name, self.get_option(name)) for name in ("detect", "endpoint", "api_version", "timeout", "deadline"))

    def _collect(self, wanted, names=None):
        """{host: entry} (see ``sources.entry``) for ``wanted`` (None: every host), from ``names`` (default: every source)."""
        readers = {
            "fact_cache": lambda pending: sources.read_fact_cache(self._fact_cache_options(), pending, _warn),
            "tree": lambda pending: sources.read_tree(self.get_option("tree_dir"), pending),
            "local": lambda _pending: sources.read_local(self._local_params(), self.get_option("local_hostname"), _warn),
        }
        return sources.collect(readers, names or self.get_option("sources"), wanted, self._needs_whole_fact())

    def _needs_whole_fact(self):
        """True when something needs the whole azure_imds fact, not just placement and tags."""
        return "imds" in self.get_option("host_vars") or self._constructing()

    def _constructing(self):
        return any(self.get_option(option) for option in ("compose", "groups", "keyed_groups"))

    def _data(self, path, cache, wanted):
        """{host: entry}: from the inventory cache where it holds them, the rest from the sources; the cache is
        written when it was refreshed, missed or repaired."""
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache")
        data, damaged = self._cached_data(cache_key, path) if use_cache and cache else (None, [])
        if data is None:
            data = self._collect(wanted)
            update = use_cache
        else:
            refresh = damaged + [name for name in self.inventory.hosts if name not in data and name not in damaged]
            refresh_sources = [source for source in self.get_option("sources")
                               if source != "local" or self.get_option("local_hostname") in damaged]
            update = bool(refresh and refresh_sources)
            if update:
                data.update(self._collect(refresh, refresh_sources))
        if update:
            self._cache[cache_key] = data
        return data

    def _cached_data(self, cache_key, path):
        """The checked entries of the inventory cache and the damaged ones (``sources.cached_entries``); ``(None, [])``
        when it holds none, or only placement and tags where the whole fact is needed."""
        try:
            cached = self._cache[cache_key]
        except KeyError:
            return None, []
        data, damaged = sources.cached_entries(cached, to_native(path), _warn)
        if data is not None and self._needs_whole_fact() and any("imds" not in entry for entry in data.values() if "missing" not in entry):
            return None, []   # written with options that kept only placement and tags
        return data, damaged

    # ---------------------------------------------------------------- host variables

    def _listing_prints_facts(self):
        """True for ``ansible-inventory --list`` without ``--export``, when this source reads the fact cache
        Ansible is configured with: that listing prints each host's cached facts, which hold the same
        placement and tags, so ``auto`` does not print them a second time (at fleet scale that doubled the
        listing's cost). Playbooks, ``--host``, ``--graph`` and ``--export`` (what AWX runs) get the variables."""
        if not context.CLIARGS.get("list") or context.CLIARGS.get("export"):
            return False
        return _fact_cache.reads_configured_cache(**self._fact_cache_options())

    def _host_var_entries(self, source, listing_prints_facts):
        """The host_vars entries for one host: ``auto`` is placement and tags, except in a listing that
        prints the same data as the host's cached facts."""
        entries = [entry for entry in self.get_option("host_vars") if entry != "auto"]
        if "auto" in self.get_option("host_vars") and not (source == "fact_cache" and listing_prints_facts):
            entries += ["placement", "tags"]
        return entries

    def _host_vars(self, entries, imds, placement, tags):
        prefix = self.get_option("vars_prefix")
        out = {}
        if "placement" in entries:
            out[prefix + "placement"] = placement
        if "placement_vars" in entries:
            for key in PLACEMENT_KEYS:
                out[prefix + key] = placement[key]
        if "tags" in entries:
            out[prefix + "tags"] = tags
        if "imds" in entries:
            out[prefix + "imds_facts"] = imds
        return out

    def _placer(self):
        """``place(host, entry)``: sets a placed host's variables and constructed groups."""
        listing_prints_facts = ("auto" in self.get_option("host_vars") and "fact_cache" in self.get_option("sources")
                                and self._listing_prints_facts())
        entries = dict((source, self._host_var_entries(source, listing_prints_facts)) for source in sources.SOURCES)
        whole_fact, constructing = self._needs_whole_fact(), self._constructing()

        def place(name, entry):
            placement, tags = entry["placement"], entry["tags"]
            if not _CORE_UNTRUSTS:
                placement, tags = wrap_var(placement), wrap_var(tags)
            imds = wrap_var(entry.get("imds")) if whole_fact else None
            new_vars = self._host_vars(entries[entry["source"]], imds, placement, tags)
            host = self.inventory.hosts[name]
            for key, value in new_vars.items():
                host.set_variable(key, value)   # never inventory.set_variable: it looks the name up among the groups first
            if constructing:
                self._construct(host, new_vars, imds, placement, tags)
        return place

    def _construct(self, host, new_vars, imds, placement, tags):
        """compose, groups and keyed_groups; they see placement and tags whether or not they are host variables."""
        prefix, strict = self.get_option("vars_prefix"), self.get_option("strict")
        template_vars = {prefix + "placement": placement, prefix + "tags": tags, "azure_imds": imds}
        host_vars = combine_vars(host.get_vars(), dict(template_vars, **new_vars))
        self._set_composite_vars(self.get_option("compose"), host_vars, host.name, strict=strict)
        host_vars = combine_vars(host_vars, host.get_vars())
        self._add_host_to_composed_groups(self.get_option("groups"), host_vars, host.name, strict=strict, fetch_hostvars=False)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, host.name, strict=strict, fetch_hostvars=False)

    # ---------------------------------------------------------------- groups

    def _entries(self, data, existing, existing_groups, refused):
        """``(host, entry)`` for every host to place: the inventory's hosts first, then the new ones in name order,
        which are added here; a new host named like a group goes to ``refused`` instead."""
        prefix = self.get_option("group_prefix")
        no_data = {"missing": "no IMDS data in %s" % ", ".join(self.get_option("sources"))}
        for name in existing:
            reserved = reserved_host_name(name, prefix, existing_groups)
            if reserved:
                yield name, {"missing": "the host name is %s, so the host is not placed: ansible-core would give its variables to that "
                                        "group" % reserved}
            else:
                yield name, data.get(name) or no_data
        local_name = self.get_option("local_hostname") if "local" in self.get_option("sources") else None
        known = set(existing)
        for name in sorted(host for host in data if host not in known and (self.get_option("add_hosts") or host == local_name)):
            reserved = reserved_host_name(name, prefix, existing_groups)
            if reserved:
                refused.append((name, reserved))
                continue
            self.inventory.add_host(name)
            if name == local_name:
                self.inventory.hosts[name].set_variable("ansible_connection", "local")
            yield name, data[name]

    def _populate(self, data, existing, existing_groups):
        prefix = self.get_option("group_prefix")
        missing_group = safe_group_name(prefix + "no_imds")
        self.inventory.add_group(missing_group)
        plan = GroupPlan(prefix, [dim for dim in self.get_option("group_by") if dim])
        place = self._placer()
        missing, refused = [], []
        for name, entry in self._entries(data, existing, existing_groups, refused):
            if "missing" in entry:
                self.inventory.add_host(name, group=missing_group)
                missing.append((name, entry["missing"]))
            else:
                place(name, entry)
                plan.add(name, entry["placement"], entry["tags"])
        self._add_groups(plan)
        if refused:
            _warn("%d entr%s not added to the inventory, as a host of that name would give its variables to a group: %s"
                  % (len(refused), "y is" if len(refused) == 1 else "ies are", sources.listed(refused)))
        if missing:
            _warn("%d host(s) have no IMDS data and are in group %s: %s" % (len(missing), missing_group, sources.listed(missing)))

    def _add_groups(self, plan):
        """Create the built-in groups of ``plan``, except those whose name would stand for two values; each parent gets
        its groups as children at the end, in natural order (--graph: 0, 1, 2, 10)."""
        ambiguous = plan.ambiguous()
        inventory = self.inventory
        children = {}   # parent -> its built-in groups
        for group, hosts in plan.members.items():
            if group in ambiguous:
                continue
            inventory.add_group(group)
            if plan.parents[group] not in ambiguous:
                children.setdefault(plan.parents[group], []).append(group)
            for name in hosts:
                # add_child is core's cheapest public call for a membership; it would nest a group of the host's name
                if name in inventory.groups:
                    inventory.add_host(name, group=group)
                else:
                    inventory.add_child(group, name)
        for parent, kids in children.items():
            inventory.add_group(parent)
            for group in sorted(kids, key=natural_key):
                inventory.add_child(parent, group)
        if ambiguous:
            _warn(plan.warning(ambiguous))

    # ---------------------------------------------------------------- options and entry point

    def _check_options(self):
        """Refuse option values that Ansible's option types accept but that would silently give
        a wrong inventory."""
        if not self.get_option("sources"):
            raise AnsibleParserError("imds.azure.placement: sources must not be empty")
        timeout = self.get_option("fact_cache_timeout")
        if timeout is not None and timeout < 0:
            raise AnsibleParserError("imds.azure.placement: fact_cache_timeout must be 0 (never expires) or a number of seconds, not %d"
                                     % timeout)
        names = list(self._host_vars(self._host_var_entries(None, False), {}, dict.fromkeys(PLACEMENT_KEYS, ""), {}))
        bad = [name for name in names if not _valid_variable_name(name)]
        if bad:
            raise AnsibleParserError("imds.azure.placement: vars_prefix %r gives host variable names that are not valid variable names: %s "
                                     "(use letters, digits and underscores, not starting with a digit)"
                                     % (self.get_option("vars_prefix"), ", ".join(bad)))
        bad = [name for name in self.get_option("compose") or {} if not _valid_variable_name(name)]
        if bad:
            raise AnsibleParserError("imds.azure.placement: compose names host variables that are not valid variable names: %s "
                                     "(use letters, digits and underscores, not starting with a digit)" % ", ".join(repr(name) for name in bad))

    def _read_config(self, path):
        """``_read_config_data``, then checks of what the file holds that ansible-core lets pass on some cores: unknown
        keys, a list or a mapping for a true/false option (2.19+ reads a list as false), a value outside an option's
        choices (2.19+ does not list them)."""
        try:
            config = self._read_config_data(path)
        except AnsibleParserError:
            raise
        except (AnsibleError, TypeError) as exc:
            try:
                raw = self.loader.load_from_file(path)
            except Exception:  # pylint: disable=broad-except
                raw = None
            if isinstance(raw, Mapping):
                self._check_config(raw, path)   # raises the plugin's own message when it recognises the mistake
            if isinstance(exc, TypeError):
                # ansible-core 2.18 and older fail with a bare TypeError for some values of the wrong type.
                raise AnsibleParserError("imds.azure.placement: %s: an option has a value of the wrong type (%s): give true/false options "
                                         "true or false, and check the types in the plugin's documentation" % (to_native(path), to_native(exc))) from None
            raise
        self._check_config(config, path)

    def _check_config(self, config, path):
        definitions = C.config.get_configuration_definitions("inventory", self._load_name)
        where = "imds.azure.placement: %s:" % to_native(path)
        unknown = sorted(str(key) for key in config if key not in definitions)
        if unknown:
            hints = ["%r (did you mean %s?)" % (key, near[0]) if near else repr(key)
                     for key, near in ((key, difflib.get_close_matches(key, list(definitions), 1, 0.6)) for key in unknown)]
            raise AnsibleParserError("%s unknown option%s %s; the options are: %s" % (
                where, "s" if len(unknown) > 1 else "", ", ".join(hints), ", ".join(sorted(definitions))))
        for key, value in config.items():
            definition = definitions[key]
            if definition.get("type") in ("bool", "boolean") and not _is_boolean(value):
                raise AnsibleParserError("%s %s must be true or false, got %s" % (where, key, json_type(value)))
            choices = [str(choice) for choice in definition.get("choices") or ()]
            if not choices or key == "plugin":
                continue
            values = value if isinstance(value, list) else value.split(",") if definition.get("type") == "list" and isinstance(value, str) else [value]
            bad = [item for item in values if not isinstance(item, str) or item.strip() not in choices]
            if bad:
                near = [difflib.get_close_matches(item, choices, 1, 0.6) if isinstance(item, str) else [] for item in bad]
                raise AnsibleParserError("%s %s: %s %s not one of its choices, which are: %s%s" % (
                    where, key, ", ".join(repr(item) if isinstance(item, str) else json_type(item) for item in bad),
                    "is" if len(bad) == 1 else "are", ", ".join(choices),
                    "".join(" (did you mean %s?)" % hint[0] for hint in near if hint)))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        if not to_text(path).endswith(FILE_SUFFIXES):
            raise AnsibleParserError("imds.azure.placement: %s: the file name must end with %s (for example fleet.%s): rename the file"
                                     % (to_native(path), " or ".join(FILE_SUFFIXES), FILE_SUFFIXES[0]))
        self._read_config(path)
        self._check_options()
        existing = list(self.inventory.hosts)
        existing_groups = set(self.inventory.groups)
        wanted = None if self.get_option("add_hosts") else existing
        if not existing and wanted is not None and self.get_option("sources") != ["local"]:
            _warn("%s: the inventory has no hosts yet, so there is nothing to group; list this source "
                  "after the sources that define the hosts, or set add_hosts: true" % to_native(path))
        self._populate(self._data(path, cache, wanted), existing, existing_groups)


def _is_boolean(value):
    """What ansible-core reads as true or false, and nothing else (2.19+ reads a list as false)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in (0, 1)
    return isinstance(value, str) and value.strip().lower() in BOOLEANS
