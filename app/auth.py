"""Bearer tokens: who is calling (an admin, or one user) and how tokens are made (PyJWT, HS256)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt

from app.errors import BadUserInput, Unauthenticated
from app.validation import check_identifier

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who calls: an admin, or one user (what each may do is app.store.access's)."""

    admin: bool
    user_id: str | None = None
    expires_at: datetime | None = field(default=None, compare=False)
    """When the token that proved it expires (None: never, as without authentication)."""


# With no secret configured there is no authentication: every caller is an admin.
OPEN = Viewer(admin=True)


def issue_token(
    secret: str, *, ttl: timedelta, user_id: str | None = None, admin: bool = False
) -> str:
    if admin == (user_id is not None):
        raise ValueError("a token is either for an admin or for one user")
    now = datetime.now(UTC)
    claims: dict[str, object] = {"iat": now, "exp": now + ttl}
    if admin:
        claims["role"] = "admin"
    else:
        claims.update(role="user", sub=user_id)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _expiry(exp: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None  # past the years a datetime holds: it does not expire in practice


def authenticate(authorization: str | None, secret: str) -> Viewer:
    """The viewer an `Authorization: Bearer <JWT>` header proves; Unauthenticated otherwise."""
    if not authorization:
        raise Unauthenticated("missing Authorization header: send `Authorization: Bearer <token>`")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    try:
        claims = jwt.decode(
            token.strip(), secret, algorithms=[ALGORITHM], options={"require": ["exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the token is invalid") from None
    exp = claims["exp"]
    # PyJWT reads a numeric string as a NumericDate too; RFC 7519 says it is a JSON number.
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise Unauthenticated("the token is invalid: its exp must be a number (seconds)")
    role = claims.get("role")
    expires_at = _expiry(exp)
    if role == "admin":
        return Viewer(admin=True, expires_at=expires_at)
    subject = claims.get("sub")
    if role == "user" and isinstance(subject, str):
        try:
            check_identifier(subject, "sub")
        except BadUserInput:
            raise Unauthenticated("the token's subject is not a valid userId") from None
        return Viewer(admin=False, user_id=subject, expires_at=expires_at)
    raise Unauthenticated("the token needs role 'admin', or role 'user' with a `sub` userId")
