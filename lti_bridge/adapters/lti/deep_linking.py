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
from lti_bridge.adapters.lti.dynamic_registration import checked_url
from lti_bridge.adapters.lti.keys import ToolKey
from lti_bridge.adapters.lti.tool_config import PlatformRecord
from lti_bridge.domain.deep_linking import PlacedItem
from lti_bridge.domain.errors import LaunchError, ValidationError


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
    """The platform's ``deep_link_return_url``, where the signed placement is posted.

    Only https (http on a loopback host, for development): the form carries a token the
    platform will trust, and a launch whose settings name any other URL is refused.
    """
    settings = launch.get(DL_SETTINGS)
    url = settings.get("deep_link_return_url") if isinstance(settings, dict) else None
    try:
        return checked_url(
            "deep_link_return_url",
            url,
            public_message="The platform's deep linking request cannot be answered safely.",
        )
    except ValidationError as exc:
        raise LaunchError(
            str(exc),
            public_message=exc.public_message,
            admin_hint="The platform's deep_link_return_url must be an https URL.",
        ) from None
