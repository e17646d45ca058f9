"""What validating a document costs at worst (`python -m bench.validation`): the costliest
documents the default limits let through, and the one they refuse before validation, 400 copies
of one field (1,604 tokens), which graphql-core's overlap rule took 1-3 s to validate. Each is
timed through memql's own checks (parse, the expanded-field and pair limits) and graphql-core's
validation with every rule memql runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from graphql import GraphQLError, GraphQLSchema, build_schema, parse, specified_rules, validate

from app.settings import Settings
from schema import build_schema as build_memql_schema
from schema.guards.limits import check_expansion

REPEATED_400 = "query Q1 {" + " users { totalCount }" * 400 + "}"


def worst_documents() -> dict[str, str]:
    """The costliest shapes for the overlap rule found within the default limits (2,000 tokens,
    1,000 pairs): one place selected as often as allowed, with arguments, with sub-selections,
    through fragments, and a Relay-style stack of fragments on one type (each one field more
    would be refused)."""
    return {
        "users-32": "{" + " users { totalCount }" * 32 + "}",
        "node-with-argument-26": "{" + ' node(id: "a") { id }' * 26 + "}",
        "typename-45": "{" + " __typename" * 45 + "}",
        "sub-selections-14x3": "{" + (" users { " + "totalCount " * 3 + "}") * 14 + "}",
        "fragments-32": "{" + " ...U" * 32 + " } fragment U on Query { users { totalCount } }",
        "relay-32-fragments": "{ users { edges { node { "
        + " ".join(f"...F{i}" for i in range(32))
        + " } } } } "
        + " ".join(f"fragment F{i} on User {{ id userId }}" for i in range(32)),
        "paged-18": "{"
        + ' users(first: 1, after: "x", last: 2, before: "y") { totalCount }' * 18
        + "}",
    }


def checked_and_validated(schema: GraphQLSchema, settings: Settings) -> Callable[[str], None]:
    def run(document: str) -> None:
        parsed = parse(document, max_tokens=settings.max_tokens)
        try:
            check_expansion(parsed, settings.max_fields, settings.max_overlapping_fields)
        except GraphQLError:
            return  # refused before validation
        validate(schema, parsed, specified_rules)

    return run


def timings(rounds: int = 30) -> list[tuple[str, float, float]]:
    """(document, median ms, slowest ms) over `rounds` runs of each."""
    settings = Settings.model_construct()
    # The schema memql prints, built by graphql-core: validation reads only its types.
    schema = build_schema(build_memql_schema(settings).as_str())
    run = checked_and_validated(schema, settings)
    documents = {"repeated-400 (refused)": REPEATED_400, **worst_documents()}
    rows = []
    for name, document in documents.items():
        run(document)
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            run(document)
            samples.append((time.perf_counter() - started) * 1000)
        rows.append((name, statistics.median(samples), max(samples)))
    return rows


def main() -> None:
    print("| document | median | slowest |")
    print("|---|---|---|")
    for name, median, slowest in timings():
        print(f"| {name} | {median:.2f} ms | {slowest:.2f} ms |")


if __name__ == "__main__":
    main()
