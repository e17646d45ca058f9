"""Who calls: the viewer an entry point's credentials prove. GraphQL over HTTP, over WebSocket
and the Zep REST routes all ask this one function."""

from __future__ import annotations

from app.auth import OPEN, Viewer, authenticate
from app.settings import Settings
from app.store import Store


async def caller(authorization: str | None, settings: Settings, store: Store) -> Viewer:
    """The viewer an `Authorization: Bearer <token>` value proves (everyone is an admin when no
    secret is set); UNAUTHENTICATED for a missing, bad or expired token, or one of a deleted
    user."""
    secret = settings.auth_secret
    if secret is None:
        return OPEN
    return await store.admit(authenticate(authorization, secret.get_secret_value()))
