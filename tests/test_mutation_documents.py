"""Mutation documents of several fields: every rule a field can be refused by, that no earlier
field can change, is checked for all fields before the first write; what only running can
tell stops the document at its field and names the fields that already wrote."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from strawberry.types.base import get_object_definition

from schema.guards.preflight import COMMAND
from schema.mutations import Mutation
from tests.support.data import World, snapshot

ADD = 'addMemory(input: {{sessionId: "{session}", memories: [{memories}]}}) {{ memories {{ id }} }}'


def add(session: str, memories: str = '{role: "h", content: "x"}') -> str:
    return ADD.format(session=session, memories=memories)


REFUSED_SECOND_FIELDS = {
    "another-users-session": (add("b1"), "FORBIDDEN"),
    "a-session-of-no-user": (add("free"), "FORBIDDEN"),
    "the-system-key": (
        add("a1", '{role: "h", content: "x", metadata: {system: {x: 1}}}'),
        "FORBIDDEN",
    ),
    "admin-only": ("purgeDeleted { users }", "FORBIDDEN"),
    "another-user": (
        'updateUser(input: {userId: "bob", email: "x@y"}) { user { id } }',
        "FORBIDDEN",
    ),
    "another-users-memory": (
        'updateMemory(input: {id: "MEMORY", metadata: {x: 1}}) { memory { id } }',
        "FORBIDDEN",
    ),
    "no-memories": (add("a1", ""), "BAD_USER_INPUT"),
    "an-empty-id": ('addUser(input: {userId: ""}) { user { id } }', "BAD_USER_INPUT"),
    "a-bad-page": (
        'addSession(input: {sessionId: "n"}) { session { b: memories(first: -1) { totalCount } } }',
        "BAD_USER_INPUT",
    ),
}


@pytest.mark.parametrize(
    "second", list(REFUSED_SECOND_FIELDS.values()), ids=list(REFUSED_SECOND_FIELDS)
)
async def test_a_refused_field_refuses_the_whole_document_before_anything_is_written(
    world: World, second: tuple[str, str]
) -> None:
    field, code = second
    field = field.replace("MEMORY", world.ids["b1:memory"])
    before = await snapshot(world.admin)
    body = await world.alice.post(f"mutation {{ a: {add('a1')} b: {field} c: {add('a2')} }}")
    assert "data" not in body or body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == code
    assert error["message"].startswith("b: ")
    assert await snapshot(world.admin) == before


async def test_every_refused_field_is_reported(world: World) -> None:
    body = await world.alice.post(
        f"mutation {{ a: {add('b1')} b: {add('a1')} c: purgeDeleted {{ users }} }}"
    )
    assert [error["message"][:3] for error in body["errors"]] == ["a: ", "c: "]


async def test_fields_skipped_by_a_directive_are_not_checked(world: World) -> None:
    data = await world.alice.data(
        f"mutation($no: Boolean = false) {{ a: {add('a1')} "
        f"b: purgeDeleted @include(if: $no) {{ users }} }}"
    )
    assert list(data) == ["a"]


async def test_a_field_refused_only_while_running_names_the_fields_that_wrote(
    world: World,
) -> None:
    """ALREADY_EXISTS depends on what ran before (the first addSession creates the id): it
    stops the document at its field, and the error says which fields wrote."""
    body = await world.alice.post(
        'mutation { a: addSession(input: {sessionId: "n1"}) { session { id } } '
        f"b: {add('n1')} "
        'c: addSession(input: {sessionId: "n1"}) { session { id } } '
        'd: addSession(input: {sessionId: "n2"}) { session { id } } }'
    )
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "ALREADY_EXISTS",
        "field": "input.sessionId",
        "completed": ["a", "b"],
    }
    sessions = await world.admin.data(
        '{ n1: session(sessionId: "n1") { memories { totalCount } } '
        'n2: session(sessionId: "n2") { sessionId } }'
    )
    assert sessions == {"n1": {"memories": {"totalCount": 1}}, "n2": None}


async def test_a_single_field_error_names_no_completed_fields(world: World) -> None:
    error = await world.alice.error(f"mutation {{ {add('b1')} }}")
    assert error["extensions"] == {"code": "FORBIDDEN", "field": "input.sessionId"}


async def test_the_same_fields_all_allowed_all_run(world: World) -> None:
    data: dict[str, Any] = await world.alice.data(
        f"mutation {{ a: {add('a1')} b: {add('a2')} c: {add('new-of-alice')} }}"
    )
    assert [len(data[key]["memories"]) for key in "abc"] == [1, 1, 1]


def test_every_mutation_field_runs_the_command_its_preflight_checks() -> None:
    """A mutation's check and its write are one object (schema.commands): each field declares
    its command class, which the preflight builds and checks and the resolver builds and runs."""
    definition = get_object_definition(Mutation, strict=True)
    commands: dict[str, Any] = {
        field.python_name: field.metadata.get(COMMAND) for field in definition.fields
    }
    assert len(commands) == 10 and all(commands.values()), commands
    for name, command in commands.items():
        assert all(callable(getattr(command, method, None)) for method in ("of", "check", "run"))
        resolver = inspect.getsource(getattr(Mutation, name))
        assert f"run(info, {command.__name__}" in resolver, name
