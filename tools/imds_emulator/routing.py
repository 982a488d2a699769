# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IMDS endpoints of one emulated VM: which path is which category, the checks IMDS makes
(method, Metadata header, query, api-version) and each endpoint's answer, with IMDS's wording.

``ImdsRoutes`` is mixed into ``Emulator`` (emulator.py), whose state it reads: the profile and the
caches made from it, the CA, the token issuer and the scheduled events.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import copy
import hashlib
import json

from . import attested as _attested
from .http11 import JSON_TYPE, TEXT_TYPE, Response, error, json_response
from .identity import IdentityError
from .provisioning import XML_TYPE, ovf_environment
from .versions import API_VERSIONS, CATEGORY_MINIMUM, SCHEDULED_EVENTS_VERSIONS, gate_instance, newest

MISSING_HEADER = "Bad request: . Required metadata header not specified"
VERSION_ERROR = "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds"
NO_LB = "No load balancer metadata is found. Check if your virtual machine is using any nonbasic SKU load balancer and retry later."
# Load balancer errors from Microsoft's "Common error codes when using IMDS to retrieve load balancer information".
LB_MISSING_PARAMETER = 'Missing required parameter "%s". Fix the request and retry.'
LB_UNEXPECTED_REQUEST = "Unexpected request. Check the query parameters and retry."
LB_QUERY_PARAMETERS = ("api-version", "format")
# The identity endpoints' error shape; Azure SDK tests mock the probe answer as exactly this body.
IDENTITY_MISSING_HEADER = {"error": "invalid_request", "error_description": "Required metadata header not specified"}
CATEGORIES_TEXT_OK = ("instance",)


def throttled(identity, extra=None):
    """429 in the endpoint's own shape: the identity error shape under /metadata/identity."""
    if identity:
        return json_response(429, {"error": "too_many_requests", "error_description": "Too many requests"}, extra)
    return error(429, "Too many requests", extra)


def _etag_matches(header, etag):
    """Whether an If-None-Match header names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or (tag[2:] if tag.startswith("W/") else tag) == etag:
            return True
    return False


class ImdsRoutes:
    """The IMDS endpoints (mixed into Emulator)."""

    def _versions(self):
        knob = self.profile["emulator"].get("versions")
        return list(knob) if knob else list(API_VERSIONS)

    def _se_versions(self):
        knob = self.profile["emulator"].get("scheduled_events_versions")
        return list(knob) if knob else list(SCHEDULED_EVENTS_VERSIONS)

    def _version_error(self, category="instance"):
        served = self._se_versions() if category == "scheduledevents" else self._versions()
        return json_response(400, {"error": VERSION_ERROR, "newest-versions": newest(served)})

    def _check_version(self, category, query):
        """None when the api-version is acceptable for ``category``, else the error Response."""
        version = query.get("api-version")
        known = SCHEDULED_EVENTS_VERSIONS if category == "scheduledevents" else API_VERSIONS
        served = self._se_versions() if category == "scheduledevents" else self._versions()
        if not version or version not in known:
            return self._version_error(category)
        if version < CATEGORY_MINIMUM[category]:
            if category == "loadbalancer":
                return error(400, 'Parameter value "%s" isn\'t allowed for parameter "api-version". Fix the request and retry.' % version)
            return self._version_error(category)
        if version not in served:
            if int(self.profile["emulator"].get("unavailable_version_status", 400)) == 404:
                return error(404, "Not found. Invalid version requested")
            return self._version_error(category)
        return None

    def _route(self, method, path, query, duplicates, headers, body, stale):
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        if path == "/metadata":
            category = "root"
        elif path == "/metadata/versions":
            category = "versions"
        elif path == "/metadata/instance" or path.startswith("/metadata/instance/"):
            category = "instance"
        elif path == "/metadata/attested/document":
            category = "attested"
        elif path in ("/metadata/identity/oauth2/token", "/metadata/identity/info"):
            category = "identity"
        elif path.startswith("/metadata/identity"):
            return error(404, "Not Found")
        elif path == "/metadata/loadbalancer" or path.startswith("/metadata/loadbalancer/"):
            category = "loadbalancer"
        elif path == "/metadata/scheduledevents":
            category = "scheduledevents"
        elif path == "/metadata/reprovisiondata":
            category = "reprovisiondata"
        else:
            return error(404, "Not found")
        allowed = ("GET", "POST") if category == "scheduledevents" else ("GET",)
        if method not in allowed:
            allow = [("Allow", ", ".join(allowed))]
            if category == "loadbalancer":
                return error(405, 'Http method isn\'t allowed: Path = "%s", Method = "%s"' % (path, method), allow)
            return error(405, "The requested HTTP method is not allowed; only %s requests are supported" % " and ".join(allowed), allow)
        if (headers.get("Metadata") or "").strip().lower() != "true":
            if category == "identity":
                return json_response(400, IDENTITY_MISSING_HEADER)
            return error(400, MISSING_HEADER)
        if "X-Forwarded-For" in headers:
            return error(400, "Bad request. X-Forwarded-For header is not allowed")
        if duplicates:
            return error(400, "Bad request. Duplicate query parameter: %s" % ", ".join(sorted(set(duplicates))))
        fmt = query.get("format")
        if fmt is not None and fmt not in ("json", "text"):
            return error(400, "Bad request. Invalid format %r; supported formats are json and text" % fmt)
        if category == "root":
            return self._version_error()
        if category == "versions":
            if not self.profile["emulator"].get("versions_endpoint", True):
                return error(404, "Not found")
            if fmt == "text":
                return error(400, "Bad request. format=text is not supported for this endpoint")
            return json_response(200, {"apiVersions": sorted(self._versions())})
        if category == "loadbalancer":
            if "api-version" not in query:
                return error(400, LB_MISSING_PARAMETER % "api-version")
            if any(name not in LB_QUERY_PARAMETERS for name in query):
                return error(400, LB_UNEXPECTED_REQUEST)
        problem = self._check_version(category, query)
        if problem is not None:
            return problem
        if fmt == "text" and category not in CATEGORIES_TEXT_OK:
            return error(400, "Bad request. format=text is not supported for this endpoint")
        version = query["api-version"]
        if category == "instance":
            return self._instance(path, version, fmt, query.get("extended", "").lower() == "true")
        if category == "attested":
            return self._attested_document(version, query, stale, headers.get("Host"))
        if category == "identity":
            return self._identity(path, query)
        if category == "reprovisiondata":
            return self._reprovision_data()
        if category == "loadbalancer":
            if path != "/metadata/loadbalancer":
                return error(404, 'API isn\'t found: Path = "%s", Method = "%s"' % (path, method))
            lb = self.profile.get("loadbalancer")
            if not lb:
                return error(404, NO_LB)
            return json_response(200, {"loadbalancer": lb})
        return self._scheduled(method, version, body, headers)

    def _gated_tree(self, version):
        tree = self._gated.get(version)
        if tree is None:
            with self._profile_lock:
                source = {"compute": self.profile.get("compute", {}), "network": self.profile.get("network", {})}
                tree = gate_instance(source, version)
                self._gated[version] = tree
        return tree

    def _instance(self, path, version, fmt, extended):
        cache_key = (path, version, fmt, extended)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        node = self._gated_tree(version)
        if extended and path == "/metadata/instance":
            node = dict(node, extended={"compute": copy.deepcopy(self.profile["emulator"].get("extended") or {})})
        for segment in path.split("/")[3:]:
            if isinstance(node, dict) and segment in node:
                node = node[segment]
            elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node) and str(int(segment)) == segment:
                node = node[int(segment)]
            else:
                return error(404, "Not found")
        leaf = not isinstance(node, (dict, list))
        if leaf and fmt != "text":
            response = error(400, "Bad request. Leaf nodes must be requested with format=text")
        elif leaf:
            text = node if isinstance(node, str) else json.dumps(node)
            response = Response(200, text.encode("utf-8"), TEXT_TYPE)
        elif fmt == "text":
            items = node.items() if isinstance(node, dict) else enumerate(node)
            lines = ["%s%s" % (key, "/" if isinstance(value, (dict, list)) else "") for key, value in items]
            response = Response(200, "\n".join(lines).encode("utf-8"), TEXT_TYPE)
        else:
            response = json_response(200, node)
        if len(self._cache) < 4096:
            self._cache[cache_key] = response
        return response

    def _own_base_url(self, host):
        """This emulator's URL as the client reached it (its Host header when listening on every address)."""
        if self.host in ("0.0.0.0", "::", "") and host and all(c.isalnum() or c in ".:-[]" for c in host):
            return "http://" + host
        return self.url

    def _attested_document(self, version, query, stale, host=None):
        knobs = self.profile["emulator"].get("attested") or {}
        nonce = query.get("nonce")
        if nonce is not None and (len(nonce) > 32 or not nonce):
            return error(400, "Bad request. The nonce must be 1 to 32 characters long")
        nonce = nonce or _attested.default_nonce()
        if stale or knobs.get("stale_nonce"):
            previous = self._last_nonce
            if not previous or previous == nonce:
                previous = _attested.default_nonce(_attested._utcnow() - _attested.datetime.timedelta(hours=1))  # pylint: disable=protected-access
            served = previous
        else:
            served = nonce
            self._last_nonce = nonce
        compute = dict(self.profile["compute"])
        for knob, field in (("vm_id", "vmId"), ("subscription_id", "subscriptionId")):
            if knobs.get(knob) is not None:
                compute[field] = str(knobs[knob])
        now = _attested._utcnow() + _attested.datetime.timedelta(seconds=float(knobs.get("clock_offset") or 0))  # pylint: disable=protected-access
        content = _attested.document_content(compute, version, served, int(knobs.get("lifetime", 21600)), bool(knobs.get("expired_document")),
                                             now=now)
        ca = _attested.get_untrusted_ca() if knobs.get("untrusted_ca") else self._ca
        sans = knobs.get("san")
        if not sans:
            domain = _attested.metadata_domain(compute.get("azEnvironment"))
            sans = ["%s.%s" % (compute.get("location", "westus"), domain), domain]
        ca_issuers = knobs.get("ca_issuers")
        if ca_issuers is None:
            ca_issuers = [] if knobs.get("untrusted_ca") else [self._own_base_url(host) + _attested.INTERMEDIATE_PATH]
        elif isinstance(ca_issuers, str):
            ca_issuers = [ca_issuers]
        cert, key = ca.leaf(list(sans), bool(knobs.get("expired_certificate")), ca_issuers)
        # Real IMDS puts only the signing certificate in the PKCS#7 set; the verifier downloads its issuer.
        extra = [ca.intermediate_cert] if knobs.get("include_intermediate") else []
        try:
            body = _attested.attested_response(content, cert, key, extra, bool(knobs.get("signed_attributes")), tamper=knobs.get("tamper"))
        except ValueError as exc:  # a bad knob value: say so rather than drop the connection
            return error(500, "emulator knob attested.tamper: %s" % exc)
        return json_response(200, body)

    def _identity(self, path, query):
        if path.endswith("/info"):
            return json_response(200, self._tokens.info())
        lifetime = int((self.profile["emulator"].get("identity") or {}).get("token_lifetime", 3599))
        try:
            return json_response(200, self._tokens.token(query, lifetime))
        except IdentityError as exc:
            return json_response(exc.status, {"error": exc.error, "error_description": exc.description})

    def _reprovision_data(self):
        """A pre-provisioned VM's provisioning data (provisioning.py); any other VM has none: 404."""
        with self._profile_lock:
            if (self.profile["emulator"].get("extended") or {}).get("ppsType", "None") == "None":
                return error(404, "Not found")
            body = ovf_environment(self.profile.get("compute", {}))
        return Response(200, body, XML_TYPE)

    def _scheduled(self, method, version, body, headers):
        if method == "GET":
            response = json_response(200, self.events.document(version))
            if not self.profile["emulator"].get("scheduled_events_etag", True):
                return response
            # Microsoft's Node.js sample polls with If-None-Match and expects 304 while nothing changed.
            etag = '"%s"' % hashlib.sha256(response.body).hexdigest()[:16]
            if _etag_matches(headers.get("If-None-Match") or "", etag):
                return Response(304, extra=[("ETag", etag)])
            response.extra.append(("ETag", etag))
            return response
        try:
            payload = json.loads(body.decode("utf-8") or "null")
            requests = payload["StartRequests"]
            if not isinstance(requests, list):
                raise TypeError("StartRequests")
            ids = []
            for item in requests:
                event_id = item["EventId"]
                if not isinstance(event_id, str) or not event_id.strip():
                    raise TypeError("EventId")
                ids.append(event_id)
        except (ValueError, TypeError, KeyError, AttributeError):
            return error(400, "Bad request. The body must be {\"StartRequests\": [{\"EventId\": \"<id>\"}, ...]}")
        self.events.approve(ids)
        return Response(200, b"", JSON_TYPE)
