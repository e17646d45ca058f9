"""The `memql` command: serve, schema, purge."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from app.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from app.purge import PurgeCounts


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="memql")
def main() -> None:
    """memql: a GraphQL memory store for LLM chat applications."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--reload", is_flag=True, help="Restart when the code changes (development).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
def serve(host: str, port: int, reload: bool, workers: int) -> None:
    """Run the GraphQL server with uvicorn."""
    import uvicorn

    settings = _settings()
    if workers > 1 and settings.embedded:
        raise click.UsageError(
            "--workers > 1 needs MEMQL_MONGODB_URL: on the embedded store each worker would "
            "hold its own separate in-memory data"
        )
    uvicorn.run(
        "app.http:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=workers,
        log_level=settings.log_level.lower(),
    )


@main.command()
def schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema import build_schema

    click.echo(build_schema().as_str())


@main.command()
def purge() -> None:
    """Hard-delete everything soft-deleted now, whatever its age, and print counts (MongoDB)."""
    settings = _settings()
    if settings.embedded:
        raise click.ClickException(
            "memql purge needs MEMQL_MONGODB_URL: the embedded store lives in the memory of the "
            "server process, which this separate process cannot reach. Call the purgeDeleted "
            "mutation on the running server instead; the server also purges deleted data by "
            f"itself {settings.purge_after_seconds} s after its deletion "
            "(MEMQL_PURGE_AFTER_SECONDS)."
        )
    counts = asyncio.run(_purge(settings))
    for name, count in (
        ("users", counts.users),
        ("sessions", counts.sessions),
        ("memories", counts.memories),
    ):
        click.echo(f"{name}: {count}")


async def _purge(settings: Settings) -> PurgeCounts:
    from pymongo.errors import PyMongoError

    from app.db import Database
    from app.purge import purge_deleted

    db = Database.connect(settings)
    try:
        return await purge_deleted(db)
    except PyMongoError as exc:
        raise click.ClickException(f"purge failed: {exc}") from None
    finally:
        db.close()
