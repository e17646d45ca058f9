"""memql's GraphQL layer: the Strawberry schema over the store."""

from __future__ import annotations

from pathlib import Path

from schema.build import build_schema

SDL_PATH = Path(__file__).with_name("schema.graphql")

__all__ = ["SDL_PATH", "build_schema"]
