"""The tool's own signing keys: generated, published in the JWKS, rotated and retired."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk
from sqlalchemy import Connection, insert, select, update

from lti_bridge.adapters.db.tables import tool_keys


@dataclass(frozen=True)
class ToolKey:
    kid: str
    private_key_pem: str
    public_jwk: dict[str, Any]
    active: bool
    created_at: datetime
    retired_at: datetime | None


def _row_to_key(row: Any) -> ToolKey:
    return ToolKey(
        kid=row.kid,
        private_key_pem=row.private_key_pem,
        public_jwk=dict(row.public_jwk),
        active=row.active,
        created_at=row.created_at,
        retired_at=row.retired_at,
    )


def generate_key(conn: Connection, now: datetime) -> ToolKey:
    """Create a new RSA key; it becomes the signing key and joins the published set."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    kid = f"{now:%Y%m%d}-{secrets.token_hex(6)}"
    public = jwk.JWK.from_pem(pem.encode()).export_public(as_dict=True)
    public.update({"kid": kid, "alg": "RS256", "use": "sig"})
    conn.execute(
        insert(tool_keys).values(
            kid=kid, private_key_pem=pem, public_jwk=public, active=True, created_at=now
        )
    )
    return ToolKey(kid, pem, public, True, now, None)


def list_keys(conn: Connection) -> list[ToolKey]:
    rows = conn.execute(select(tool_keys).order_by(tool_keys.c.created_at, tool_keys.c.id))
    return [_row_to_key(row) for row in rows]


def signing_key(conn: Connection) -> ToolKey | None:
    """Return the newest active key, the one the tool signs with."""
    row = conn.execute(
        select(tool_keys)
        .where(tool_keys.c.active.is_(True))
        .order_by(tool_keys.c.created_at.desc(), tool_keys.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _row_to_key(row)


def ensure_key(conn: Connection, now: datetime) -> ToolKey:
    return signing_key(conn) or generate_key(conn, now)


def published_jwks(conn: Connection) -> dict[str, Any]:
    """Return the JWKS document: every active key, newest first."""
    return {"keys": [key.public_jwk for key in reversed(list_keys(conn)) if key.active]}


def retire_key(conn: Connection, kid: str, now: datetime) -> str:
    """Retire ``kid``; return 'retired', 'unknown', 'already retired' or 'last key'."""
    keys = {key.kid: key for key in list_keys(conn)}
    key = keys.get(kid)
    if key is None:
        return "unknown"
    if not key.active:
        return "already retired"
    if sum(1 for k in keys.values() if k.active) == 1:
        return "last key"
    conn.execute(
        update(tool_keys).where(tool_keys.c.kid == kid).values(active=False, retired_at=now)
    )
    return "retired"
