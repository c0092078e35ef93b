"""The requested cost of a GraphQL Admin document, estimated the way Shopify documents it, before sending it.

Shopify refuses a single query whose *requested* cost exceeds 1,000 points (MAX_COST_EXCEEDED), before running it;
the requested cost is worked out from the document alone ("GraphQL Admin API rate limits", shopify.dev):

- a scalar or enum field costs 0; an object field costs 1 plus what is selected under it;
- an interface or union costs the most expensive of its possible selections (inline fragments: the maximum);
- a connection costs 2 plus ``first`` (or ``last``) times the cost of one node (the node object's 1 plus what is
  selected on it); ``edges``, ``node``, ``nodes`` and ``pageInfo`` add nothing of their own;
- a mutation field costs 10 (here plus its payload selection, which over-estimates a little).

Without the schema, a field's kind is read from the document: a field with a selection set returns an object, one
without returns a scalar or an enum, and a field given ``first``/``last`` is sized by it. A sized list that is not a
connection (``Order.refunds(first:)``) is costed like a connection, ``2 + n × element``: a safe upper bound. A plain
list of objects without ``first`` (``selectedOptions``, ``quantities``) is costed as one object, as Shopify does. A
connection selected without ``first``/``last`` (only bulk operation queries do that) raises ``ValueError``: it is
not a query this estimator can bound.

The scanner covers what our own documents use: operations with variable definitions (defaults included), aliases,
arguments of every literal kind, directives (ignored), inline fragments. Named fragments are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_QUERY_COST", "Field", "parse_selection", "requested_cost"]

MAX_QUERY_COST = 1000
"""The most a single query may request (Shopify answers MAX_COST_EXCEEDED above it)."""

MUTATION_COST = 10
_WRAPPERS = frozenset({"edges", "node", "nodes", "pageInfo", "cursor"})
_TOKEN = re.compile(
    r"""
    (?P<skip>[\s,\ufeff]+|\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\])*")
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<spread>\.\.\.)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<punct>[!$():=@\[\]{}|&])
    """,
    re.VERBOSE,
)


@dataclass(slots=True)
class Field:
    """One selected field: its name, literal or variable arguments, sub-selection and inline fragments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    selections: list[Field] | None = None  # None: a leaf (scalar or enum)
    fragments: list[list[Field]] = field(default_factory=list)  # inline fragments of an interface or union


@dataclass(frozen=True, slots=True)
class _Var:
    name: str


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise ValueError(f"unexpected character {text[pos]!r} at {pos}")
            pos = match.end()
            if match.lastgroup != "skip":
                self.tokens.append(match.group())
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"expected {expected or 'a token'}, got {token!r}")
        self.i += 1
        return token

    def document(self) -> tuple[str, dict[str, Any], list[Field]]:
        """The first operation: (kind, variable defaults, root selections)."""
        kind = "query"
        defaults: dict[str, Any] = {}
        if self.peek() in ("query", "mutation", "subscription"):
            kind = self.take()
            if self.peek() not in ("(", "{", "@"):
                self.take()  # the operation name
            if self.peek() == "(":
                defaults = self.variable_definitions()
            self.directives()
        if self.peek() == "fragment":
            raise ValueError("named fragments are not supported")
        selections, fragments = self.selection_set()
        if fragments:
            raise ValueError("an inline fragment at the root is not supported")
        return kind, defaults, selections

    def variable_definitions(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        self.take("(")
        while self.peek() != ")":
            self.take("$")
            name = self.take()
            self.take(":")
            self.type_ref()
            if self.peek() == "=":
                self.take("=")
                defaults[name] = self.value()
            self.directives()
        self.take(")")
        return defaults

    def type_ref(self) -> None:
        if self.peek() == "[":
            self.take("[")
            self.type_ref()
            self.take("]")
        else:
            self.take()
        if self.peek() == "!":
            self.take("!")

    def directives(self) -> None:
        while self.peek() == "@":
            self.take("@")
            self.take()
            if self.peek() == "(":
                self.arguments()

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        self.take("(")
        while self.peek() != ")":
            name = self.take()
            self.take(":")
            args[name] = self.value()
        self.take(")")
        return args

    def value(self) -> Any:
        tok = self.take()
        if tok == "$":
            return _Var(self.take())
        if tok == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if tok == "{":
            obj = {}
            while self.peek() != "}":
                key = self.take()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if tok.startswith('"'):
            return tok[1:-1]
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        return tok  # enums, true/false/null, floats: never sizes

    def selection_set(self) -> tuple[list[Field], list[list[Field]]]:
        fields: list[Field] = []
        fragments: list[list[Field]] = []
        self.take("{")
        while self.peek() != "}":
            if self.peek() == "...":
                self.take("...")
                if self.peek() != "on":
                    raise ValueError("named fragment spreads are not supported")
                self.take("on")
                self.take()  # the type condition
                self.directives()
                inner, nested = self.selection_set()
                if nested:
                    raise ValueError("nested inline fragments are not supported")
                fragments.append(inner)
                continue
            name = self.take()
            if self.peek() == ":":  # an alias
                self.take(":")
                name = self.take()
            args = self.arguments() if self.peek() == "(" else {}
            self.directives()
            selections: list[Field] | None = None
            inline: list[list[Field]] = []
            if self.peek() == "{":
                selections, inline = self.selection_set()
            fields.append(Field(name, args, selections, inline))
        self.take("}")
        return fields, fragments


def parse_selection(document: str) -> tuple[str, dict[str, Any], list[Field]]:
    """Parse a document's first operation: (operation kind, variable defaults, root fields)."""
    return _Parser(document).document()


def requested_cost(document: str, variables: Mapping[str, Any] | None = None) -> int:
    """The requested cost Shopify would compute for ``document`` sent with ``variables`` (see the module doc)."""
    kind, defaults, roots = parse_selection(document)
    values = {**defaults, **(variables or {})}
    if kind == "mutation":
        return sum(MUTATION_COST + _selection_cost(f.selections or [], f.fragments, values) for f in roots)
    return _selection_cost(roots, [], values)


def _selection_cost(fields: list[Field], fragments: list[list[Field]], values: Mapping[str, Any]) -> int:
    own = sum(_field_cost(f, values) for f in fields)
    return own + max((_selection_cost(frag, [], values) for frag in fragments), default=0)


def _size(f: Field, values: Mapping[str, Any]) -> int | None:
    for key in ("first", "last"):
        if key in f.args:
            raw = f.args[key]
            if isinstance(raw, _Var):
                if raw.name not in values:
                    raise ValueError(f"{f.name}({key}: ${raw.name}) needs a value for ${raw.name}")
                raw = values[raw.name]
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise ValueError(f"{f.name}({key}:) must be a count, got {raw!r}")
            return raw
    return None


def _is_connection(f: Field) -> bool:
    return f.selections is not None and any(s.name in ("edges", "nodes") for s in f.selections)


def _node_cost(f: Field, values: Mapping[str, Any]) -> int:
    """One element of a sized field: the node object (1) plus its selection, read through edges/node or nodes."""
    assert f.selections is not None
    if not _is_connection(f):
        return 1 + _selection_cost(f.selections, f.fragments, values)
    best = 0
    for s in f.selections:
        if s.name == "nodes" and s.selections is not None:
            best = max(best, 1 + _selection_cost(s.selections, s.fragments, values))
        elif s.name == "edges" and s.selections is not None:
            for e in s.selections:
                if e.name == "node" and e.selections is not None:
                    best = max(best, 1 + _selection_cost(e.selections, e.fragments, values))
    return best


def _connection_extra(f: Field, values: Mapping[str, Any]) -> int:
    """Objects selected on a connection itself besides edges/nodes/pageInfo (rare): counted once, not per node."""
    if not _is_connection(f):
        return 0
    return sum(_field_cost(s, values) for s in f.selections or [] if s.name not in _WRAPPERS)


def _field_cost(f: Field, values: Mapping[str, Any]) -> int:
    if f.selections is None:
        return 0  # scalar or enum
    size = _size(f, values)
    if size is not None:
        return 2 + size * _node_cost(f, values) + _connection_extra(f, values)
    if _is_connection(f):
        raise ValueError(f"connection {f.name} has no first/last: its cost is unbounded (bulk queries only)")
    return 1 + _selection_cost(f.selections, f.fragments, values)
