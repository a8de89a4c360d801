"""LTI Dynamic Registration 1.0: read a platform's configuration, register the tool with it.

https://www.imsglobal.org/spec/lti-dr/v1p0. The platform opens the tool's registration URL with
``openid_configuration`` (and usually a one-time ``registration_token``); the tool fetches that
OpenID configuration, POSTs its client registration (OpenID Connect Dynamic Client Registration
plus the LTI tool configuration claim) to the platform's ``registration_endpoint``, and keeps the
``client_id`` and ``deployment_id`` the platform answers. Nothing here writes to the database: the
caller stores the returned ``PlatformRegistration`` only when every step succeeded.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from lti_bridge import telemetry
from lti_bridge.domain.errors import ForbiddenError, LtiBridgeError, ValidationError
from lti_bridge.domain.model import MessageType, PlatformRegistration

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
CLIENT_NAME = "lti_bridge"
TOOL_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)
TOOL_CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")
REQUIRED_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "registration_endpoint",
)
# Configuration and registration documents are a few kilobytes; the cap keeps a hostile or
# broken URL from streaming into memory.
MAX_DOCUMENT_BYTES = 256 * 1024
_REQUEST_REFUSED = "The platform's registration request could not be used."
_CONFIGURATION_REFUSED = "The platform's configuration does not allow registering this tool."


class PlatformResponseError(LtiBridgeError):
    """The platform was unreachable, or answered other than LTI Dynamic Registration says."""

    public_message = "The platform did not answer the tool's registration as expected."


@dataclass(frozen=True)
class PlatformConfiguration:
    """The parts of a platform's OpenID configuration the registration uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    product_family_code: str
    version: str = ""
    authorization_server: str | None = None
    scopes_supported: tuple[str, ...] | None = None
    messages_supported: frozenset[str] | None = None


@dataclass(frozen=True)
class DynamicRegistration:
    """A finished registration: what the platform is, and what to store for it."""

    platform: PlatformConfiguration
    registration: PlatformRegistration


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_url(name: str, value: object, *, public_message: str) -> str:
    """Return ``value`` if it is an absolute https URL (http only on a loopback host)."""
    url = value.strip() if isinstance(value, str) else ""
    parts = urlsplit(url)
    try:
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        parts = urlsplit("")
    host = parts.hostname or ""
    secure = parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))
    if not (secure and host) or parts.fragment or parts.username or parts.password:
        raise ValidationError(
            f"{name} {value!r} is not an absolute https URL",
            public_message=public_message,
            admin_hint=f"{name} must be an absolute https URL (http only on localhost); "
            f"got {str(value)[:200]!r}.",
        )
    return url


def origin(url: str) -> tuple[str, str, int]:
    """The URL's origin (scheme, host, port), with the scheme's default port filled in."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _check_token(token: str | None) -> None:
    # The token goes into an Authorization header: refuse anything that could break out of it.
    if token is not None and (
        len(token) > 4096 or not token.isascii() or not token.isprintable() or " " in token
    ):
        raise ValidationError(
            "registration_token is not a printable ASCII token",
            public_message=_REQUEST_REFUSED,
            admin_hint="The registration_token parameter must be a printable ASCII token.",
        )


def _string_list(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(item for item in value if isinstance(item, str))


def parse_platform_configuration(document: object, configuration_url: str) -> PlatformConfiguration:
    """Validate an OpenID configuration for LTI Dynamic Registration and keep what it needs."""
    if not isinstance(document, dict):
        raise ValidationError(
            "the OpenID configuration is not a JSON object",
            public_message=_CONFIGURATION_REFUSED,
            admin_hint="The openid_configuration URL must answer a JSON object.",
        )
    missing = [key for key in ("issuer", *REQUIRED_ENDPOINTS) if not document.get(key)]
    lti = document.get(PLATFORM_CONFIGURATION)
    if (
        not isinstance(lti, dict)
        or not isinstance(lti.get("product_family_code"), str)
        or not (lti["product_family_code"].strip())
    ):
        missing.append(f"{PLATFORM_CONFIGURATION} (with product_family_code)")
    if missing:
        raise ValidationError(
            f"the OpenID configuration lacks {', '.join(missing)}",
            public_message=_CONFIGURATION_REFUSED,
            admin_hint=f"The platform's OpenID configuration lacks: {', '.join(missing)}.",
        )
    assert isinstance(lti, dict)
    issuer = checked_url("issuer", document["issuer"], public_message=_CONFIGURATION_REFUSED)
    if urlsplit(issuer).query:
        raise ValidationError(
            f"issuer {issuer} has a query",
            public_message=_CONFIGURATION_REFUSED,
            admin_hint="The platform's issuer must be a URL without query or fragment.",
        )
    # LTI DR 1.0: the configuration must come from the issuer's own origin, so a page that
    # merely links to a configuration elsewhere cannot register a platform under another name.
    if origin(issuer) != origin(configuration_url):
        raise ValidationError(
            f"issuer {issuer} does not match the configuration URL {configuration_url}",
            public_message=_CONFIGURATION_REFUSED,
            admin_hint=f"The issuer {issuer} and the openid_configuration URL must share their "
            "scheme, host and port.",
        )
    endpoints = {
        key: checked_url(key, document[key], public_message=_CONFIGURATION_REFUSED)
        for key in REQUIRED_ENDPOINTS
    }
    # Every endpoint on the issuer's own origin: otherwise a configuration served from an
    # allowed origin could point the tool's trust (the JWKS above all) at any host.
    elsewhere = [key for key, url in endpoints.items() if origin(url) != origin(issuer)]
    if elsewhere:
        raise ValidationError(
            f"{', '.join(elsewhere)} not on the issuer's origin {issuer}",
            public_message=_CONFIGURATION_REFUSED,
            admin_hint=f"{', '.join(elsewhere)} must be on the issuer's origin; register such a "
            "platform with: lti-bridge platform add …",
        )
    algorithms = _string_list(document.get("id_token_signing_alg_values_supported"))
    if algorithms is not None and "RS256" not in algorithms:
        raise ValidationError(
            f"platform signs id_tokens only with {list(algorithms)}",
            public_message=_CONFIGURATION_REFUSED,
            admin_hint="The platform must support RS256 id_tokens "
            "(id_token_signing_alg_values_supported).",
        )
    audience = document.get("authorization_server")
    messages = lti.get("messages_supported")
    message_types = (
        frozenset(
            m["type"] for m in messages if isinstance(m, dict) and isinstance(m.get("type"), str)
        )
        if isinstance(messages, list)
        else None
    )
    return PlatformConfiguration(
        issuer=issuer,
        product_family_code=lti["product_family_code"].strip(),
        version=str(lti.get("version") or ""),
        authorization_server=audience if isinstance(audience, str) and audience else None,
        scopes_supported=_string_list(document.get("scopes_supported")),
        messages_supported=message_types,
        **endpoints,
    )


def tool_registration_request(base_url: str, platform: PlatformConfiguration) -> dict[str, Any]:
    """The tool's client registration for ``platform``, its URLs under ``base_url``."""
    launch_url = base_url + "/lti/launch"
    scopes = [
        scope
        for scope in TOOL_SCOPES
        if platform.scopes_supported is None or scope in platform.scopes_supported
    ]
    messages: list[dict[str, Any]] = [
        {"type": MessageType.RESOURCE_LINK.value, "target_link_uri": launch_url}
    ]
    if (
        platform.messages_supported is None
        or MessageType.DEEP_LINKING.value in platform.messages_supported
    ):
        messages.append(
            {
                "type": MessageType.DEEP_LINKING.value,
                "target_link_uri": launch_url,
                "label": CLIENT_NAME,
            }
        )
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": base_url + "/lti/login",
        "redirect_uris": [launch_url],
        "client_name": CLIENT_NAME,
        "jwks_uri": base_url + "/lti/jwks",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: {
            "domain": urlsplit(base_url).netloc,
            "target_link_uri": launch_url,
            "claims": list(TOOL_CLAIMS),
            "messages": messages,
        },
    }


def _identifier(value: object) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def _platform_error(body: bytes) -> str:
    """The OAuth error code and description a refusal carries, shortened for a page."""
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(document, dict):
        return ""
    parts = [str(document.get(k)) for k in ("error", "error_description") if document.get(k)]
    return ": ".join(parts)[:300]


def _unroutable(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # Private, loopback, link-local (cloud metadata), shared (CGNAT), reserved, unspecified.
    return not address.is_global or address.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port)})


class DynamicRegistrationClient:
    """Talks LTI Dynamic Registration to one platform over an injected ``requests.Session``.

    Whoever opens the registration page names the URLs the tool fetches: unless
    ``allow_private_networks`` (development), a URL whose host resolves to a private,
    link-local, loopback or otherwise unroutable address is refused before any request.
    """

    def __init__(
        self,
        http: requests.Session,
        *,
        timeout: float,
        allow_private_networks: bool = False,
        resolver: Callable[[str, int], list[str]] = resolve,
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._allow_private = allow_private_networks
        self._resolve = resolver

    def _check_address(self, url: str) -> None:
        if self._allow_private:
            return
        _, host, port = origin(url)
        try:
            found = self._resolve(host, port)
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        except (OSError, ValueError) as exc:
            raise PlatformResponseError(
                f"{host} does not resolve: {exc}",
                public_message="The tool could not reach the platform to register.",
                admin_hint=f"{host} does not resolve from the tool.",
            ) from exc
        refused = [str(a) for a in addresses if _unroutable(a)]
        if refused or not addresses:
            raise ForbiddenError(
                f"dynamic registration URL {url} resolves to non-public {', '.join(refused)}",
                public_message=_REQUEST_REFUSED,
                admin_hint="Registration URLs must resolve to public addresses; set "
                "LTI_BRIDGE_REGISTRATION_ALLOW_PRIVATE_NETWORKS=true only for development.",
            )

    def register_tool(
        self, openid_configuration: str, *, registration_token: str | None, tool_base_url: str
    ) -> DynamicRegistration:
        """Fetch the configuration, register the tool, and return what to store."""
        _check_token(registration_token)
        platform = self.fetch_configuration(openid_configuration)
        answer = self.post_registration(
            platform, tool_registration_request(tool_base_url, platform), registration_token
        )
        client_id = _identifier(answer.get("client_id"))
        tool_config = answer.get(TOOL_CONFIGURATION)
        deployment_id = _identifier(
            tool_config.get("deployment_id") if isinstance(tool_config, dict) else None
        )
        if not client_id:
            raise PlatformResponseError(
                "registration response without client_id",
                admin_hint="The platform accepted the registration but returned no client_id.",
            )
        if not deployment_id:
            raise PlatformResponseError(
                f"registration response for client {client_id} without deployment_id",
                admin_hint=f"The platform registered client {client_id} but gave no deployment "
                f"id in {TOOL_CONFIGURATION}; add it with: lti-bridge platform add "
                f"--client-id {client_id} --deployment-id ID ...",
            )
        return DynamicRegistration(
            platform=platform,
            registration=PlatformRegistration(
                issuer=platform.issuer,
                client_id=client_id,
                auth_login_url=platform.authorization_endpoint,
                auth_token_url=platform.token_endpoint,
                key_set_url=platform.jwks_uri,
                deployment_ids=(deployment_id,),
                auth_audience=platform.authorization_server,
            ),
        )

    def fetch_configuration(self, url: str) -> PlatformConfiguration:
        """GET and validate the platform's OpenID configuration."""
        if not url.strip():
            raise ValidationError(
                "no openid_configuration parameter",
                public_message=_REQUEST_REFUSED,
                admin_hint="Open this URL from the platform's dynamic registration, which adds "
                "the openid_configuration parameter.",
            )
        url = checked_url("openid_configuration", url, public_message=_REQUEST_REFUSED)
        response, body = self._call("GET", url, what="the OpenID configuration")
        if not 200 <= response.status_code < 300:
            raise PlatformResponseError(
                f"GET {url} answered {response.status_code}",
                admin_hint=f"The OpenID configuration URL answered HTTP {response.status_code}.",
            )
        return parse_platform_configuration(self._json(body, url, "OpenID configuration"), url)

    def post_registration(
        self, platform: PlatformConfiguration, body: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        """POST the client registration; return the platform's JSON answer."""
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = platform.registration_endpoint
        response, answer = self._call(
            "POST", url, what="the registration endpoint", json=body, headers=headers
        )
        if not 200 <= response.status_code < 300:
            detail = _platform_error(answer)
            raise PlatformResponseError(
                f"POST {url} answered {response.status_code} {detail}".rstrip(),
                public_message="The platform refused the tool's registration.",
                admin_hint=f"The registration endpoint answered HTTP {response.status_code}"
                + (f" ({detail})" if detail else "")
                + ". A registration token is usually good for one attempt: start the "
                "registration again from the platform.",
            )
        document = self._json(answer, url, "registration response")
        if not isinstance(document, dict):
            raise PlatformResponseError(
                f"POST {url} answered JSON that is not an object",
                admin_hint="The registration endpoint did not answer a JSON object.",
            )
        return document

    def _call(
        self, method: str, url: str, *, what: str, **kwargs: Any
    ) -> tuple[requests.Response, bytes]:
        self._check_address(url)
        try:
            # No redirects: the issuer check holds for the URL the platform named, and a
            # redirect would carry the registration token to wherever it points.
            with telemetry.outbound("registration"), self._http.request(
                method, url, timeout=self._timeout, allow_redirects=False, stream=True, **kwargs
            ) as response:
                body = bytearray()
                for chunk in response.iter_content(chunk_size=16384):
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise PlatformResponseError(
                            f"{method} {url} answered more than {MAX_DOCUMENT_BYTES} bytes",
                            admin_hint=f"{what} at {url} answered an oversized document.",
                        )
        except requests.RequestException as exc:
            raise PlatformResponseError(
                f"{method} {url} failed: {exc}",
                public_message="The tool could not reach the platform to register.",
                admin_hint=f"{what} at {url} was not reachable from the tool "
                f"({exc.__class__.__name__}).",
            ) from exc
        return response, bytes(body)

    @staticmethod
    def _json(body: bytes, url: str, what: str) -> Any:
        try:
            return json.loads(body)
        except ValueError as exc:
            raise PlatformResponseError(
                f"{url} did not answer JSON: {exc}",
                admin_hint=f"The platform's {what} at {url} is not JSON.",
            ) from exc
