"""pylti1p3's OIDC login and message launch, tightened where the library is lax.

What changes, and why:
- state and nonce are bound together at login and consumed atomically in the shared store at
  launch; pylti1p3 checks the nonce but never consumes it, and accepts the same id_token and
  state posted twice;
- the signature is checked against a cached, parsed key set (pylti1p3 fetches it per launch),
  on the token's bytes as decoded once: RS256/384/512 with ``cryptography``, no ``crit``
  extensions (pylti1p3 decodes the token twice and verifies it with PyJWT in about three times
  the time);
- ``exp`` and ``iat`` are required with leeway; ``aud`` may be a list holding the client id and
  ``azp``, when present, must equal it (pylti1p3 compares only the first ``aud`` entry and
  ignores ``azp``);
- an unknown deployment is refused with a message that names it and the command that allows it;
- launch data is kept only for deep linking, which needs it for the response.
- the state consume can carry a read the launch needs next (the credit gate's facts) in the same
  statement: built from the claims as sent, used only if the verified claims ask for the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin

from lti_bridge.adapters.db.read_ahead import ReadAhead
from lti_bridge.adapters.lti.claims import LTI, check_token_claims, launch_context_from_claims
from lti_bridge.adapters.lti.platform_keys import PlatformKeyCache
from lti_bridge.adapters.lti.store import SharedLaunchStore
from lti_bridge.adapters.lti.tool_config import DbToolConf, PlatformRecord
from lti_bridge.domain.errors import LaunchError
from lti_bridge.domain.model import LaunchContext

LOGIN_KEY = "login-"
STORAGE_KEY_PREFIX = "lti_bridge-"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class PlatformStorageCheck(Exception):
    """The launch has no state cookie, but its login put a proof in the platform's storage.

    The web layer answers a page that reads the proof back with ``lti.get_data`` (LTI client-side
    postMessage storage) and posts the launch again with it.
    """

    def __init__(self, state: str, target: str, platform_origin: str) -> None:
        super().__init__(state)
        self.state = state
        self.target = target
        self.platform_origin = platform_origin
        self.key = STORAGE_KEY_PREFIX + state


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64url(segment: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): any other character is an error."""
    if not _BASE64URL.fullmatch(segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _refused(reason: str, public: str, hint: str = "") -> LaunchError:
    return LaunchError(reason, public_message=public, admin_hint=hint)


class HardenedOIDCLogin(OIDCLogin):  # type: ignore[type-arg]
    """Third-party-initiated login whose state and nonce live in the shared store."""

    state_ttl = 600

    def __init__(self, *args: Any, store: SharedLaunchStore, tool_base_url: str, **kwargs: Any):
        super().__init__(*args, launch_data_storage=store, **kwargs)
        self._store = store
        self._tool_base_url = tool_base_url.rstrip("/")
        self.state: str | None = None
        self.storage_proof: str | None = None
        self.storage_target = self._get_request_param("lti_storage_target") or None

    def validate_oidc_login(self) -> PlatformRecord:
        iss = self._get_request_param("iss")
        if not iss:
            raise _refused("login without iss", "The platform did not say who it is (no iss).")
        if not self._get_request_param("login_hint"):
            raise _refused("login without login_hint", "The platform sent no login_hint.")
        client_id = self._get_request_param("client_id")
        config: DbToolConf = self._tool_config
        registration = config.find_registration_by_params(iss, client_id)
        if registration is None:
            if config.candidates and not client_id:
                raise _refused(
                    f"issuer {iss} has several client ids {config.candidates}; login named none",
                    "The platform's login request did not name the tool's client id.",
                    "Configure the LMS to send client_id with the login request.",
                )
            raise _refused(
                f"no registration for issuer {iss!r} and client id {client_id!r}",
                "This platform is not registered with the tool.",
                f"Register it: lti-bridge platform add --issuer {iss} "
                f"--client-id {client_id or 'CLIENT_ID'} …",
            )
        target = self._get_request_param("target_link_uri")
        if target and not target.startswith(self._tool_base_url + "/"):
            raise _refused(
                f"target_link_uri {target!r} is outside the tool ({self._tool_base_url})",
                "The launch points somewhere other than this tool.",
                "Check the tool's URLs in the LMS and LTI_BRIDGE_PUBLIC_URL.",
            )
        return registration  # type: ignore[no-any-return]

    def _prepare_redirect_url(self, launch_url: str) -> str:
        self._registration = self.validate_oidc_login()
        state = "state-" + secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(24)
        self._cookie_service.set_cookie(state, state, self.state_ttl)
        record = {
            "nonce": nonce,
            "iss": self._registration.get_issuer(),
            "client_id": self._registration.get_client_id(),
        }
        if self.storage_target:
            # The proof goes to the platform's storage, only its digest to ours: a launch
            # without the cookie must show it was posted from a browser that holds it.
            self.storage_proof = secrets.token_urlsafe(24)
            record["storage_target"] = self.storage_target
            record["platform_origin"] = origin_of(self._registration.get_auth_login_url())
            record["proof_digest"] = _digest(self.storage_proof)
        self._store.set_value(LOGIN_KEY + state, record, exp=self.state_ttl)
        self.state = state
        params = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": self._registration.get_client_id(),
            "redirect_uri": launch_url,
            "state": state,
            "nonce": nonce,
            "login_hint": self._get_request_param("login_hint"),
        }
        hint = self._get_request_param("lti_message_hint")
        if hint:
            params["lti_message_hint"] = hint
        url: str = self._registration.get_auth_login_url()
        return url + ("&" if "?" in url else "?") + urlencode(params)


class HardenedMessageLaunch(MessageLaunch):  # type: ignore[type-arg]
    """A resource link or deep linking launch, validated against the shared store."""

    def __init__(
        self,
        *args: Any,
        store: SharedLaunchStore,
        key_cache: PlatformKeyCache,
        leeway: int = 60,
        clock: Callable[[], float] = time.time,
        storage_proof: str | None = None,
        read_ahead: Callable[[int, LaunchContext], ReadAhead | None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, launch_data_storage=store, **kwargs)
        self._store = store
        self._key_cache = key_cache
        self._leeway = leeway
        self._clock = clock
        self._storage_proof = storage_proof
        self._read_ahead = read_ahead
        self._login: dict[str, Any] | None = None
        self._signature_verified = False
        self._context: LaunchContext | None = None

    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)  # type: ignore[no-any-return]

    @property
    def platform_id(self) -> int:
        assert isinstance(self._registration, PlatformRecord)
        return self._registration.platform_id

    def validate(self) -> HardenedMessageLaunch:
        try:
            try:
                return super().validate()  # type: ignore[no-any-return]
            except LtiException as exc:
                # The library's own refusals (bad format, missing claims) become ours.
                raise _refused(str(exc), "The launch was not a valid LTI 1.3 launch.") from exc
        except LaunchError as refusal:
            # Only a signed launch may send the learner somewhere: its return URL is the
            # platform's word, an unverified one could be anybody's.
            if self._signature_verified:
                presentation = self._jwt.get("body", {}).get(LTI + "launch_presentation") or {}
                url = presentation.get("return_url") if isinstance(presentation, dict) else None
                refusal.return_url = url if isinstance(url, str) else None
            raise

    def validate_state(self) -> HardenedMessageLaunch:
        state = self._get_request_param("state")
        if not state:
            raise _refused("launch without state", "The launch carried no state.")
        if not self._get_request_param("id_token"):
            raise _refused("launch without id_token", "The launch carried no id_token.")
        cookie = self._cookie_service.get_cookie(state) or ""
        cookie_ok = hmac.compare_digest(cookie.encode(), state.encode())
        if not cookie_ok and not self._storage_proof:
            pending = self._store.get_value(LOGIN_KEY + state)
            if pending and pending.get("storage_target"):
                raise PlatformStorageCheck(
                    state, pending["storage_target"], pending["platform_origin"]
                )
            raise _refused(
                "state cookie missing or different, and no platform storage",
                "Your browser did not keep the sign-in cookie for this launch.",
                "Allow cookies for the tool, or open the launch in a new window.",
            )
        read = self._read_ahead_from_claims()
        if read is None:
            login = self._store.consume(LOGIN_KEY + state)
        else:
            login = self._store.consume_reading(LOGIN_KEY + state, read)
        if not login:
            raise _refused(
                "state unknown, expired or already used",
                "This launch has expired or was already used. Please launch again from the course.",
            )
        if not cookie_ok and not hmac.compare_digest(
            _digest(self._storage_proof or "").encode(), str(login.get("proof_digest")).encode()
        ):
            raise _refused(
                "platform storage proof does not match the login's",
                "This launch could not be tied to your browser. Please launch again.",
            )
        self._login = login
        return self

    def _read_ahead_from_claims(self) -> ReadAhead | None:
        """The read to ride with the state consume, built from the claims as sent.

        Nothing is verified yet: the rows are used only once the launch is, and only if the
        verified claims ask for the very same read (``adapters/db/read_ahead.py``).
        """
        if self._read_ahead is None:
            return None
        try:
            self.validate_jwt_format()
            claimed = self.launch_context()
            record = self._tool_config.find(claimed.issuer, claimed.client_id)
        except Exception:  # noqa: BLE001 - validation proper reports what is wrong
            return None
        if record is None:
            return None
        return self._read_ahead(record.platform_id, claimed)

    def launch_context(self) -> LaunchContext:
        """The launch's claims as a ``LaunchContext``: verified ones, once ``validate`` passed."""
        if self._context is None:
            self._context = launch_context_from_claims(self._jwt["body"])
        return self._context

    def validate_nonce(self) -> HardenedMessageLaunch:
        nonce = self._get_jwt_body().get("nonce")
        expected = (self._login or {}).get("nonce", "")
        if not isinstance(nonce, str) or not hmac.compare_digest(
            nonce.encode(), str(expected).encode()
        ):
            raise _refused("nonce does not match the login's", "The launch could not be verified.")
        return self

    def validate_registration(self) -> HardenedMessageLaunch:
        iss = self._get_jwt_body().get("iss")
        if not isinstance(iss, str) or not iss:
            raise _refused("id_token without iss", "The launch did not say which platform sent it.")
        login = self._login or {}
        client_id = login.get("client_id")
        if login.get("iss") != iss:
            raise _refused(
                f"id_token iss {iss!r} is not the login's issuer {login.get('iss')!r}",
                "The launch came from a different platform than the sign-in.",
            )
        config: DbToolConf = self._tool_config
        self._registration = config.find_registration_by_params(iss, client_id)
        if self._registration is None:
            raise _refused(
                f"no registration for issuer {iss!r} and client id {client_id!r}",
                "This platform is not registered with the tool.",
            )
        return self

    def validate_jwt_format(self) -> HardenedMessageLaunch:
        """Split and decode the compact JWS once; the signature is checked over these bytes."""
        if self._jwt:
            return self  # decoded already, for the state consume's read-ahead
        parts = self._get_id_token().split(".")
        if len(parts) != 3:
            raise _refused(
                "id_token is not a compact JWS of three parts",
                "The launch was not a valid LTI 1.3 launch.",
            )
        try:
            header = json.loads(_b64url(parts[0]))
            body = json.loads(_b64url(parts[1]))
            self._signature = _b64url(parts[2])
        except ValueError as exc:  # binascii, JSON and UTF-8 errors all are ValueErrors
            raise _refused(
                f"id_token is not base64url-encoded JSON: {exc}",
                "The launch was not a valid LTI 1.3 launch.",
            ) from exc
        if not isinstance(header, dict) or not isinstance(body, dict):
            raise _refused(
                "id_token header or claims are not JSON objects",
                "The launch was not a valid LTI 1.3 launch.",
            )
        self._jwt = {"header": header, "body": body}
        self._signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        return self

    def validate_jwt_signature(self) -> HardenedMessageLaunch:
        header = self._jwt.get("header", {})
        kid, alg = header.get("kid"), header.get("alg")
        if not kid:
            raise _refused("id_token header has no kid", "The launch's signature is not usable.")
        if alg not in _HASHES:
            raise _refused(
                f"id_token alg {alg!r} is not allowed", "The launch's signature is not usable."
            )
        if "crit" in header:
            # RFC 7515 §4.1.11: extensions the tool does not implement make the token unusable.
            raise _refused(
                f"id_token header has critical extensions {header['crit']!r}",
                "The launch's signature is not usable.",
            )
        key = self._key_cache.rsa_key(self._registration.get_key_set_url(), kid)
        try:
            key.verify(self._signature, self._signing_input, padding.PKCS1v15(), _HASHES[alg]())
        except InvalidSignature as exc:
            raise _refused(
                "id_token signature invalid", "The launch's signature is not valid."
            ) from exc
        self._signature_verified = True
        check_token_claims(
            self._jwt["body"],
            issuer=self._registration.get_issuer(),
            client_id=self._registration.get_client_id(),
            now=self._clock(),
            leeway=self._leeway,
        )
        return self

    def validate_deployment(self) -> HardenedMessageLaunch:
        deployment_id = self._get_jwt_body().get(
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
        )
        registration: PlatformRecord = self._registration
        if not deployment_id:
            raise _refused("id_token has no deployment_id", "The launch named no deployment.")
        config: DbToolConf = self._tool_config
        # The tool config rereads a cached registration that does not know the deployment.
        allowed = config.find_deployment_by_params(
            registration.get_issuer(), deployment_id, registration.get_client_id()
        )
        if allowed is None:
            raise _refused(
                f"deployment {deployment_id!r} is not allowed for {registration.get_issuer()}",
                f"This tool is not enabled for deployment {deployment_id!r} of your platform.",
                "Allow it: lti-bridge platform allow-deployment "
                f"--issuer {registration.get_issuer()} --client-id "
                f"{registration.get_client_id()} --deployment-id {deployment_id}",
            )
        return self

    def save_launch_data(self) -> HardenedMessageLaunch:
        if self.is_deep_link_launch():
            self._session_service.save_launch_data(self._launch_id, self._jwt["body"])
        return self
