# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Managed identity: fake, well-formed (JWT-shaped) tokens.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import base64
import hashlib
import hmac
import json
import threading
import time


class IdentityError(Exception):
    """An identity request that IMDS would refuse: (status, error, description)."""

    def __init__(self, status, error, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


SELECTORS = ("client_id", "object_id", "msi_res_id", "mi_res_id")
# The token endpoint's parameters (Microsoft's IMDS swagger, plus mi_res_id that IMDS also honours).
TOKEN_PARAMETERS = ("api-version", "resource", "format", "authority", "bypass_cache") + SELECTORS
# No public record says what real IMDS does with another parameter. Ignoring it would hand a client that
# misspells its selector (azure-identity's async client sends resource_id=) the system-assigned identity's
# token: the emulator refuses it instead, so a test cannot pass on another identity's token.
UNKNOWN_PARAMETER = "Unknown query parameter %s: the token endpoint accepts only %s (imds-emulator: real IMDS's answer is not on record)"


class TokenIssuer:
    """Issues and caches tokens for the identities of one VM profile."""

    def __init__(self, profile_getter, secret):
        self._profile = profile_getter
        self._secret = secret
        self._cache = {}
        self._lock = threading.Lock()

    def _identities(self):
        identity = self._profile().get("identity") or {}
        system = identity.get("systemAssigned")
        users = identity.get("userAssigned") or []
        return identity.get("tenantId", ""), system, users

    def select(self, query):
        """The identity dict the query designates, or raise IdentityError."""
        _tenant, system, users = self._identities()
        given = [(name, query[name]) for name in SELECTORS if name in query]
        if len(given) > 1:
            raise IdentityError(400, "invalid_request", "Only one of client_id, object_id or msi_res_id may be specified")
        if not given:
            if system:
                return dict(system, kind="system")
            if len(users) == 1:
                return dict(users[0], kind="user")
            raise IdentityError(400, "invalid_request", "Identity not found")
        name, value = given[0]
        field = {"client_id": "clientId", "object_id": "objectId", "msi_res_id": "resourceId", "mi_res_id": "resourceId"}[name]
        candidates = [dict(u, kind="user") for u in users]
        if system:
            candidates.append(dict(system, kind="system"))
        for candidate in candidates:
            stored = str(candidate.get(field, ""))
            if stored and (stored.lower() == str(value).lower()):
                return candidate
        raise IdentityError(400, "invalid_request", "Identity not found")

    def token(self, query, lifetime=3599, now=None):
        """The token response (every value a string) for ``query`` (a dict of single values)."""
        unknown = sorted(name for name in query if name not in TOKEN_PARAMETERS)
        if unknown:
            raise IdentityError(400, "invalid_request", UNKNOWN_PARAMETER % (", ".join(repr(name) for name in unknown), ", ".join(TOKEN_PARAMETERS)))
        resource = query.get("resource")
        if not resource:
            raise IdentityError(400, "invalid_request", "Required query variable 'resource' is missing")
        ident = self.select(query)
        tenant = self._identities()[0]
        now = int(now if now is not None else time.time())
        cache_key = (ident.get("clientId"), resource)
        with self._lock:
            cached = self._cache.get(cache_key)
            if cached and query.get("bypass_cache", "").lower() != "true" and int(cached["expires_on"]) - now > 300:
                out = dict(cached)
                out["expires_in"] = str(int(out["expires_on"]) - now)
                return self._echo(out, query)
            header = {"typ": "JWT", "alg": "HS256", "kid": "imds-emulator"}
            claims = {
                "aud": resource, "iss": "https://sts.windows.net/%s/" % tenant, "iat": now, "nbf": now, "exp": now + lifetime,
                "aio": "emulator", "appid": ident.get("clientId", ""), "appidacr": "2", "idp": "https://sts.windows.net/%s/" % tenant,
                "idtyp": "app", "oid": ident.get("objectId", ""), "sub": ident.get("objectId", ""), "tid": tenant,
                "uti": _b64url(hashlib.sha256(("%s%s%s" % (resource, now, ident.get("clientId"))).encode()).digest()[:16]), "ver": "1.0",
                "xms_mirid": ident.get("resourceId", ""),
            }
            signing_input = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
                _b64url(json.dumps(claims, separators=(",", ":")).encode())
            signature = _b64url(hmac.new(self._secret, signing_input.encode("ascii"), hashlib.sha256).digest())
            out = {
                "access_token": signing_input + "." + signature,
                "refresh_token": "",
                "expires_in": str(lifetime),
                "expires_on": str(now + lifetime),
                "ext_expires_in": str(lifetime),
                "not_before": str(now),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": ident.get("clientId", ""),
            }
            self._cache[cache_key] = dict(out)
            return self._echo(out, query)

    @staticmethod
    def _echo(out, query):
        if "object_id" in query:
            out["object_id"] = query["object_id"]
        if "msi_res_id" in query:
            out["msi_res_id"] = query["msi_res_id"]
        return out

    def info(self):
        return {"tenantId": self._identities()[0]}
