"""The `memql` command: serve, schema, purge, indexes, token, export, import."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from app.logs import configure_logging
from app.settings import Settings, SettingsError, load_settings, unknown_variable_warnings

if TYPE_CHECKING:
    from app.db import Database
    from app.indexes import IndexReport
    from app.persistence.transfer import ImportCounts
    from app.store import PurgeCounts

T = TypeVar("T")

_DURATION = re.compile(r"^([0-9]+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
MAX_TOKEN_LIFETIME = timedelta(days=3650)
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})


logger = logging.getLogger("memql.cli")


def _settings(**overrides: object) -> Settings:
    """The settings, with logging set up from them; warns of MEMQL_* names that are no setting."""
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings)
    for warning in unknown_variable_warnings():
        logger.warning(warning)
    return settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_duration(value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if not match:
        raise click.BadParameter(
            "use a number and a unit, e.g. 90s, 30m, 1h or 7d", param_hint="--ttl"
        )
    count = match.group(1).lstrip("0")
    if not count:
        raise click.BadParameter(
            "a token's lifetime must be positive, e.g. 90s, 30m, 1h or 7d", param_hint="--ttl"
        )
    seconds = _UNIT_SECONDS[match.group(2)]
    # Checked as text first: a huge count overflows timedelta (or int() itself).
    if len(count) > 12 or int(count) * seconds > MAX_TOKEN_LIFETIME.total_seconds():
        raise click.BadParameter(
            f"a token lives at most {MAX_TOKEN_LIFETIME.days} days (ten years): use a shorter "
            "lifetime, e.g. 30d",
            param_hint="--ttl",
        )
    return timedelta(seconds=int(count) * seconds)


class PortNumber(click.ParamType[int]):
    """A TCP port, 0 to 65535 (0: any free port), with a message that says so."""

    name = "port"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if re.fullmatch(r"[0-9]{1,5}", text) and int(text) <= 65535:
            return int(text)
        self.fail(
            f"{value!r} is not a port: give a whole number from 0 to 65535, e.g. 8000", param, ctx
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="memql")
def main() -> None:
    """memql: a GraphQL memory store for LLM chat applications."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=PortNumber())
@click.option("--reload", is_flag=True, help="Restart when app/ or schema/ changes (development).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the embedded store keeps its data (MEMQL_DATA_DIR)  [default: ./memql-data]",
)
@click.option(
    "--in-memory",
    is_flag=True,
    help="Keep the embedded store's data in memory only: it is lost when memql stops.",
)
def serve(
    host: str, port: int, reload: bool, workers: int, data_dir: Path | None, in_memory: bool
) -> None:
    """Run the GraphQL server with uvicorn."""
    import uvicorn

    from app.logs import logging_config
    from app.web.serving import reload_options, server_options

    _use_data_dir(data_dir, in_memory)
    settings = _settings()
    if workers > 1 and settings.embedded:
        raise click.UsageError(
            "--workers > 1 needs MEMQL_MONGODB_URL: on the embedded store each worker would "
            "hold its own separate in-memory data"
        )
    if not settings.auth_enabled and not is_loopback(host) and not settings.allow_unauthenticated:
        raise click.UsageError(
            f"refusing to serve on {host} without authentication: anyone who can reach it "
            "could read and change every user's data. Set MEMQL_AUTH_SECRET (see `memql "
            "token`), or set MEMQL_ALLOW_UNAUTHENTICATED=true if something in front of memql "
            "already controls access."
        )
    if not settings.auth_enabled and not is_loopback(host):
        if host in WILDCARD_ADDRESSES:
            logger.warning(
                "authentication is off and memql listens on every interface (%s): anything that "
                "reaches it may read and change every user's data. Only requests naming Host "
                "127.0.0.1, localhost or a name in MEMQL_ALLOWED_HOSTS are answered.",
                host,
            )
        else:
            # The bound address is a Host name clients use: allowed, like the loopback names,
            # in the server process the factory below builds.
            bound = f"[{host}]" if ":" in host else host
            os.environ["MEMQL_ALLOWED_HOSTS"] = ",".join([*settings.allowed_hosts, bound])
    if settings.snapshot_dir is not None:
        _check_data_dir(settings.snapshot_dir)
    uvicorn.run(
        "app.web.http:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=workers,
        log_config=logging_config(settings),
        **server_options(settings),
        **(reload_options() if reload else {}),
    )


def _use_data_dir(data_dir: Path | None, in_memory: bool) -> None:
    """Hand --data-dir or --in-memory to the server process as MEMQL_DATA_DIR: uvicorn builds
    the app there (in a child process with --reload), from the environment."""
    if data_dir is not None and in_memory:
        raise click.UsageError("give --data-dir or --in-memory, not both")
    if in_memory:
        os.environ["MEMQL_DATA_DIR"] = ""
    elif data_dir is not None:
        os.environ["MEMQL_DATA_DIR"] = str(data_dir.absolute())


def _check_data_dir(path: Path) -> None:
    """Refuse, in one line, what would stop the server's start-up with a traceback."""
    from app.persistence.data_dir import DataDirError
    from app.persistence.snapshot_file import SnapshotFileError
    from app.persistence.snapshots import check_data_dir

    try:
        check_data_dir(path)
    except (DataDirError, SnapshotFileError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
def schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema import build_schema

    _settings()  # refuses bad settings here too, as every command does

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
    counts = asyncio.run(_on_mongodb(settings, "purge", _purge))
    for name, count in (
        ("users", counts.users),
        ("sessions", counts.sessions),
        ("memories", counts.memories),
    ):
        click.echo(f"{name}: {count}")


async def _purge(db: Database) -> PurgeCounts:
    from app.auth import OPEN
    from app.store import Store

    return await Store(db).for_viewer(OPEN).purge_deleted()


@main.command()
def indexes() -> None:
    """Make the indexes memql needs on MongoDB and print what was found, created and changed.

    A deploy step to run before starting new servers: `memql serve` makes them too, in the
    background, and its /readyz waits for them; here a failure stops the deploy instead.
    """
    settings = _settings()
    if settings.embedded:
        raise click.ClickException(
            "memql indexes needs MEMQL_MONGODB_URL: the embedded store has no indexes to make"
        )
    report = asyncio.run(_on_mongodb(settings, "building indexes", _ensure_indexes))
    for line in report.lines():
        click.echo(line)


async def _ensure_indexes(db: Database) -> IndexReport:
    return await db.ensure_indexes()


async def _on_mongodb(settings: Settings, what: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """`work` on the database `settings` name; any failure is one line, never a traceback or
    pymongo's dump of the topology."""
    from pymongo.errors import ConnectionFailure, PyMongoError

    from app.db import Database, describe_connection_error, first_line

    db = Database.connect(settings)
    try:
        if unreachable := await db.unreachable():
            raise click.ClickException(unreachable)
        return await work(db)
    except ConnectionFailure as exc:
        raise click.ClickException(describe_connection_error(exc, db.hosts)) from None
    except PyMongoError as exc:
        raise click.ClickException(f"{what} failed: {first_line(exc)}") from None
    finally:
        db.close()


@main.command()
@click.option("--user-id", help="A token that sees and changes only this user's data.")
@click.option("--admin", is_flag=True, help="A token that sees and changes everything.")
@click.option("--ttl", default="1h", show_default=True, help="Lifetime: 90s, 30m, 1h, 7d…")
def token(user_id: str | None, admin: bool, ttl: str) -> None:
    """Print a bearer token signed with MEMQL_AUTH_SECRET."""
    from app.auth import issue_token
    from app.errors import BadUserInput
    from app.validation import check_identifier

    if admin == (user_id is not None):
        raise click.UsageError("give exactly one of --user-id U or --admin")
    if user_id is not None:
        try:
            check_identifier(user_id, "--user-id")
        except BadUserInput as exc:
            raise click.BadParameter(exc.message) from None
    lifetime = parse_duration(ttl)
    settings = _settings()
    if settings.auth_secret is None:
        raise click.UsageError(
            "MEMQL_AUTH_SECRET is not set: there is nothing to sign with. Make a secret with "
            '`openssl rand -hex 32` or `python -c "import secrets; '
            'print(secrets.token_hex(32))"`, and set it as MEMQL_AUTH_SECRET both for the server '
            "and for this command."
        )
    click.echo(
        issue_token(
            settings.auth_secret.get_secret_value(), ttl=lifetime, user_id=user_id, admin=admin
        )
    )


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The embedded store's data directory (MEMQL_DATA_DIR)  [default: ./memql-data]",
)
LEFT_OUT_BECAUSE = {
    "users": "another user there has the same userId",
    "sessions": "another session there has the same sessionId",
    "memories": "their session was left out",
}
# Files from this size on get a progress bar (as documents: an export of this many).
LARGE_FILE_BYTES = 4 * 1024 * 1024
LARGE_EXPORT_DOCUMENTS = 10_000


@main.command(name="export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@DATA_DIR_OPTION
def export_command(file: Path, data_dir: Path | None) -> None:
    """Write every user, session and memory to FILE as JSON Lines.

    From MongoDB when MEMQL_MONGODB_URL is set, otherwise from the embedded store's data
    directory (stop the server using it first). `memql import FILE` reads it back, into either.
    """
    from app.persistence.transfer import count_documents, export_documents

    settings = _transfer_settings(data_dir)

    async def export(db: Database) -> dict[str, int]:
        total = await count_documents(db)
        temporary = file.with_name(file.name + ".tmp")
        with (
            temporary.open("wb") as out,
            _progress(total, total >= LARGE_EXPORT_DOCUMENTS, "exporting") as progress,
        ):
            counts = await export_documents(db, out, progress)
        temporary.replace(file)
        return counts

    counts = asyncio.run(_on_store(settings, "memql export", export, writes=False))
    click.echo(f"exported to {file}: " + ", ".join(f"{n} {name}" for name, n in counts.items()))


@main.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@DATA_DIR_OPTION
def import_command(file: Path, data_dir: Path | None) -> None:
    """Add the users, sessions and memories of FILE (written by `memql export`).

    Into MongoDB when MEMQL_MONGODB_URL is set, otherwise into the embedded store's data
    directory (stop the server using it first). Documents already there are left as they are,
    so importing a file twice changes nothing.
    """
    from app.persistence.transfer import ExportFileError, import_documents, read_lines

    settings = _transfer_settings(data_dir)
    size = file.stat().st_size

    async def load(db: Database) -> ImportCounts:
        with (
            file.open("rb") as lines,
            _progress(size, size >= LARGE_FILE_BYTES, "importing") as progress,
        ):
            try:
                return await import_documents(db, read_lines(lines, progress))
            except ExportFileError as exc:
                done = (
                    "nothing was imported"
                    if settings.embedded
                    else "documents of the lines before it may have been imported; importing "
                    "the whole file adds the rest"
                )
                raise click.ClickException(f"{file}: {exc}; {done}") from None

    counts = asyncio.run(_on_store(settings, "memql import", load, writes=True))
    for name, added in counts.added.items():
        line = f"{name}: {added} added, {counts.present[name]} already there"
        if counts.conflicting[name]:
            line += f", {counts.conflicting[name]} left out ({LEFT_OUT_BECAUSE[name]})"
        click.echo(line)
    if not counts.complete:
        raise click.ClickException(
            f"{file} ends before its last line: it was cut short (an export that did not "
            "finish?); what it holds was imported, and importing the whole file adds the rest"
        )


def _transfer_settings(data_dir: Path | None) -> Settings:
    settings = _settings() if data_dir is None else _settings(data_dir=data_dir.absolute())
    if settings.embedded and settings.snapshot_dir is None:
        raise click.ClickException(
            "MEMQL_DATA_DIR is empty, so the embedded store keeps nothing on disk to export to "
            "or import into: give --data-dir, or set MEMQL_MONGODB_URL for MongoDB"
        )
    return settings


def _no_progress(done: int) -> None:
    pass


@contextlib.contextmanager
def _progress(total: int, shown: bool, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (when `shown`: for large files), told how much more is done."""
    if not shown:
        yield _no_progress
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


async def _on_store(
    settings: Settings, purpose: str, work: Callable[[Database], Awaitable[T]], *, writes: bool
) -> T:
    """`work` on MongoDB, or on the embedded store restored from its data directory (locked
    meanwhile, and snapshotted after `work` when it `writes`)."""
    if not settings.embedded:
        return await _on_mongodb(settings, purpose, work)
    from app.db import Database
    from app.persistence.data_dir import DataDirError
    from app.persistence.snapshot_file import SnapshotFileError
    from app.persistence.snapshots import Snapshots

    assert settings.snapshot_dir is not None
    if not writes and not settings.snapshot_dir.is_dir():
        raise click.ClickException(
            f"there is no data directory {settings.snapshot_dir.absolute()}: nothing to export "
            "(give the one `memql serve` used with --data-dir, or MEMQL_DATA_DIR)"
        )
    db = Database.connect(settings)
    try:
        try:
            snapshots = await Snapshots.open(
                db,
                settings.snapshot_dir,
                interval=settings.snapshot_interval_seconds,
                purpose=purpose,
            )
        except (DataDirError, SnapshotFileError) as exc:
            raise click.ClickException(str(exc)) from None
        try:
            result = await work(db)
            if writes:
                await snapshots.take()
            return result
        finally:
            snapshots.close()
    finally:
        db.close()
