"""The signed LtiDeepLinkingResponse, built by pylti1p3 and signed with the tool's current key.

pylti1p3's own encoder puts no ``kid`` in the header when the key comes from a database (it
derives the kid from a PEM it does not have); platforms look the key up by ``kid``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jwcrypto import jwk, jwt
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource

from lti_bridge.adapters.lti.claims import DL_SETTINGS, LTI
from lti_bridge.adapters.lti.keys import ToolKey
from lti_bridge.adapters.lti.tool_config import PlatformRecord
from lti_bridge.domain.deep_linking import PlacedItem


def response_jwt(
    launch: Mapping[str, Any],
    registration: PlatformRecord,
    key: ToolKey,
    item: PlacedItem,
    launch_url: str,
) -> str:
    """Return the compact JWT that places ``item`` as a resource link."""
    resource = (
        DeepLinkResource()
        .set_url(launch_url)
        .set_title(item.title)
        .set_custom_params(item.custom_parameters())
    )
    settings = launch.get(DL_SETTINGS) or {}
    message = DeepLink(registration, launch[LTI + "deployment_id"], settings).get_message_jwt(
        [resource]
    )
    if message.get("https://purl.imsglobal.org/spec/lti-dl/claim/data") is None:
        message.pop("https://purl.imsglobal.org/spec/lti-dl/claim/data")
    signer = jwk.JWK.from_pem(key.private_key_pem.encode())
    token = jwt.JWT(header={"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims=message)
    token.make_signed_token(signer)
    return str(token.serialize())


def return_url(launch: Mapping[str, Any]) -> str:
    return str((launch.get(DL_SETTINGS) or {}).get("deep_link_return_url") or "")
