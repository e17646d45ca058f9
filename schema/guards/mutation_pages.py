"""A mutation's page arguments, checked before its write: its payload is resolved after the
write, so a page argument refused only then would report an error for a change that was
nonetheless made. The node estimate hands each connection it counts to `check_page`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import FieldNode

from app.errors import BadUserInput
from app.settings import QueryLimits
from schema.guards.node_estimate import PageCheck, Refused
from schema.pagination import Paging


def page_check(limits: QueryLimits) -> PageCheck:
    """Checks a connection's page arguments (and a session list's filter) as its resolver
    checks them; a refusal is named by the field's response name."""

    def check_page(paging: Paging, field: FieldNode, arguments: Mapping[str, Any]) -> None:
        try:
            paging.check(limits, arguments)
        except BadUserInput as error:
            shown = field.alias or field.name
            message = f"{shown.value}: {error.message}"
            raise Refused(message, field, extensions=error.extensions) from None

    return check_page
