"""From validated id_token claims to a ``LaunchContext``; and the checks pylti1p3 leaves out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lti_bridge.domain.errors import LaunchError
from lti_bridge.domain.model import LaunchContext, MessageType

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"


def _bad(reason: str) -> LaunchError:
    return LaunchError(
        reason,
        public_message="The launch's credentials were not valid.",
        admin_hint="Check the platform's clock and its registration (issuer, client id) "
        "with the tool.",
    )


def check_token_claims(
    claims: Mapping[str, Any], *, issuer: str, client_id: str, now: float, leeway: int
) -> None:
    """Check iss, aud, azp, exp and iat, with ``leeway`` seconds of clock drift allowed."""
    if claims.get("iss") != issuer:
        raise _bad(f"iss {claims.get('iss')!r} is not the registered issuer {issuer!r}")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise _bad(f"aud {aud!r} does not hold the client id {client_id!r}")
    azp = claims.get("azp")
    if azp is not None and azp != client_id:
        raise _bad(f"azp {azp!r} is not the client id {client_id!r}")
    if len(audiences) > 1 and azp is None:
        raise _bad("aud holds several audiences but azp is missing")
    for name in ("exp", "iat"):
        value = claims.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(f"{name} is missing or not a number")
    if claims["exp"] + leeway < now:
        raise _bad(f"the id_token expired at {claims['exp']} (now {int(now)})")
    if claims["iat"] - leeway > now:
        raise _bad(f"the id_token was issued in the future: iat {claims['iat']} (now {int(now)})")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def launch_context_from_claims(claims: Mapping[str, Any]) -> LaunchContext:
    """Reduce validated launch claims to the tool's ``LaunchContext``."""
    context = claims.get(LTI + "context") or {}
    link = claims.get(LTI + "resource_link") or {}
    lis = claims.get(LTI + "lis") or {}
    presentation = claims.get(LTI + "launch_presentation") or {}
    ags = claims.get(AGS) or {}
    nrps = claims.get(NRPS) or {}
    custom = claims.get(LTI + "custom") or {}
    roles = claims.get(LTI + "roles") or []
    aud = claims.get("aud")
    client_id = claims.get("azp") or (aud[0] if isinstance(aud, list) and aud else aud)
    return LaunchContext(
        issuer=str(claims["iss"]),
        client_id=str(client_id),
        deployment_id=str(claims[LTI + "deployment_id"]),
        message_type=MessageType(claims[LTI + "message_type"]),
        user_sub=str(claims.get("sub") or ""),
        roles=tuple(str(r) for r in roles if isinstance(r, str)),
        target_link_uri=str(claims.get(LTI + "target_link_uri") or ""),
        context_id=_text(context.get("id")),
        context_label=_text(context.get("label")),
        context_title=_text(context.get("title")),
        resource_link_id=_text(link.get("id")),
        resource_link_title=_text(link.get("title")),
        name=_text(claims.get("name")),
        given_name=_text(claims.get("given_name")),
        family_name=_text(claims.get("family_name")),
        email=_text(claims.get("email")),
        person_sourcedid=_text(lis.get("person_sourcedid")),
        course_section_sourcedid=_text(lis.get("course_section_sourcedid")),
        custom={str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else {},
        return_url=_text(presentation.get("return_url")),
        ags_lineitems_url=_text(ags.get("lineitems")),
        ags_lineitem_url=_text(ags.get("lineitem")),
        ags_scopes=tuple(s for s in ags.get("scope", []) if isinstance(s, str)),
        nrps_memberships_url=_text(nrps.get("context_memberships_url")),
        deep_linking_settings=claims.get(DL_SETTINGS) or None,
    )
