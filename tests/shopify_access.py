"""Which access a GraphQL Admin document needs, read from Shopify's own introspection (tests/fixtures/shopify/schema).

Shopify's introspection, as @shopify/dev-mcp ships it, gives each type and field a ``requiredAccess`` sentence
("`read_locations` access scope, `read_inventory` access scope or `read_markets_home` access scope.", sometimes
with prose after "Also:" about staff permissions, which an offline token has no staff member for) and marks
protected customer data with ``isProtected``. The documents are found by reading the source of every module of the
app, so a new one cannot be left out of the check.
"""

from __future__ import annotations

import ast
import functools
import gzip
import importlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_client_schema,
    get_named_type,
    visit,
)

from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = FIXTURES / "shopify" / "schema" / "admin_2026-10.json.gz"
PACKAGES = ("app", "integrations", "jobs")

# The start of a GraphQL document: an operation (`query Name(`, `mutation {`, `query ($x`) or a bulk operation's inner
# query, an anonymous selection set (`{ products {`). Prose ("query (the search string)"), Python format strings
# (`{name}`) and JSON do not match.
_DOCUMENT_START = re.compile(
    r"\A\s*(?:(?:query|mutation|subscription)(?:\s*\{|\s*\(\s*\$|\s+[_A-Za-z]\w*\s*[({@])"
    r"|\{\s*[_A-Za-z]\w*\s*[({])"
)

# Scopes Shopify has that no requiredAccess sentence names, and why each is real.
SCOPES_OUTSIDE_INTROSPECTION = {
    "write_app_proxy": "the App Proxy (app_proxy in shopify.app.toml); no Admin GraphQL field needs it",
    "read_all_orders": "widens what Order shows from the last 60 days to all; no field names it",
}


class UnknownRequirement(ValueError):
    """A requiredAccess sentence this reader cannot turn into scopes: a person must judge it (JUDGED below)."""


@functools.cache
def introspection() -> dict[str, Any]:
    """The whole introspection file: ``data`` (the schema) and ``offline_scopes``."""
    with gzip.open(SCHEMA, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@functools.cache
def schema() -> GraphQLSchema:
    """The 2026-10 Admin schema."""
    built = build_client_schema(introspection()["data"])
    # Shopify's schema breaks one rule on deprecated interface fields (see the fixtures' README): skip its own
    # validation, which graphql-core would otherwise run before validating any document.
    built._validation_errors = []
    return built


@functools.cache
def _types() -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in introspection()["data"]["__schema"]["types"]}


def type_entry(name: str) -> dict[str, Any]:
    """One type of the introspection, with its requiredAccess."""
    return _types()[name]


def field_entry(type_name: str, field_name: str) -> dict[str, Any]:
    """One field of the introspection, with its requiredAccess and isProtected."""
    return next(f for f in _types()[type_name].get("fields") or [] if f["name"] == field_name)


@functools.cache
def known_scopes() -> frozenset[str]:
    """Every scope some requiredAccess sentence names."""
    found: set[str] = set()
    for t in _types().values():
        for entry in [t, *(t.get("fields") or [])]:
            found.update(re.findall(r"`(\w+)`", entry.get("requiredAccess") or ""))
    return frozenset(found)


# --- requiredAccess sentences ---------------------------------------------------------------------------------

_CONNECTIVES = frozenset({"access", "scope", "scopes", "or", "any", "of", "the", ",", "."})


def _any_of(part: str, text: str) -> list[str]:
    names = re.findall(r"`(\w+)`", part)
    rest = re.sub(r"`\w+`", " ", part).replace(",", " , ").replace(".", " . ").lower().split()
    if not names or any(word not in _CONNECTIVES for word in rest):
        raise UnknownRequirement(text)
    return names


def scope_alternatives(text: str | None, *, mutation: bool = False) -> list[frozenset[str]]:
    """The sets of scopes any one of which satisfies a requiredAccess sentence; [frozenset()] when it asks nothing.

    Shopify writes "`a` access scope, `b` access scope or `c` access scope." (any one), "Any of `a`, `b` access
    scopes.", "`a` access scope as well as any of `b`, `c` access scopes." (a and one of b, c), and
    "`a` for queries and both `a` as well as `b` for mutations."; text after "Also:" is about staff permissions.
    Anything else raises UnknownRequirement.
    """
    sentence = " ".join((text or "").split())
    sentence = re.sub(r"\s*Also:.*\Z", "", sentence)
    if not sentence:
        return [frozenset()]
    split = re.fullmatch(r"`(\w+)` for queries and both `(\w+)` as well as `(\w+)` for mutations\.?", sentence)
    if split:
        return [frozenset({split[2], split[3]})] if mutation else [frozenset({split[1]})]
    body = re.sub(r"\A(?:Requires|Apps must have)\s+", "", sentence)
    groups = [_any_of(part, sentence) for part in body.split(" as well as ")]
    return [frozenset(combo) for combo in itertools.product(*groups)]


def covered(alternatives: Iterable[frozenset[str]], granted: Iterable[str]) -> bool:
    """True when the granted scopes hold every scope of one alternative (``write_x`` covers ``read_x``)."""
    have = set(granted)
    have |= {"read_" + s.removeprefix("write_") for s in have if s.startswith("write_")}
    return any(option <= have for option in alternatives)


# --- documents --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Found:
    """GraphQL documents in the app's source: module-level constants, and literals anywhere else (an error)."""

    documents: Mapping[str, str]  # "package.module.NAME" -> the document as sent
    stray: tuple[str, ...]  # "path:line" of a document literal not held by a module-level constant


def _leading_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def looks_like_document(text: str) -> bool:
    """True when a string starts the way a GraphQL document does."""
    return _DOCUMENT_START.match(text) is not None


def find_documents(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> Found:
    """Every GraphQL document in the given packages' source, by its constant's name."""
    documents: dict[str, str] = {}
    stray: list[str] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            held: set[int] = set()
            names: list[str] = []
            for stmt in tree.body:
                value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
                text = _leading_text(value) if value is not None else None
                if text is None or not looks_like_document(text):
                    continue
                if len(targets) != 1 or not isinstance(targets[0], ast.Name):
                    continue
                held.update(id(n) for n in ast.walk(value))  # type: ignore[arg-type]
                names.append(targets[0].id)
            parts = _fstring_parts(tree)
            for node in ast.walk(tree):
                if id(node) in held or id(node) in parts:
                    continue
                text = _leading_text(node)
                if text is not None and looks_like_document(text):
                    stray.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}")
            if names:
                loaded = importlib.import_module(module)
                for name in names:
                    documents[f"{module}.{name}"] = getattr(loaded, name)
    return Found(documents, tuple(stray))


def _fstring_parts(tree: ast.AST) -> frozenset[int]:
    # The literal pieces of an f-string are Constant nodes too; the f-string itself is what counts.
    return frozenset(id(part) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for part in n.values)


# --- the access check -------------------------------------------------------------------------------------------

# requiredAccess sentences that name no scope, judged once by a person: the scopes BackSoon's use needs.
JUDGED: dict[str, tuple[frozenset[str], str]] = {
    "Only accessible by supported access tokens: "
    "https://shopify.dev/docs/api/usage/bulk-operations/queries#access-token-considerations.": (
        frozenset(),
        "bulk queries run with the store's offline Admin API token; a Partner app must also have bulk queries "
        "enabled under API access requests in the Partner Dashboard (README)",
    ),
    "the same access level needed to mutate the owner resource. For instance, if you want to set a metafield on "
    "a product, you need the same permissions as you would need to mutate a product.": (
        frozenset({"write_products"}),
        "BackSoon sets metafields on product variants only (app.platforms.shopify.storefront)",
    ),
}


@dataclass(frozen=True, slots=True)
class Use:
    """One type or field a document touches, and the requiredAccess sentence it carries."""

    what: str  # "Type" or "Type.field"
    requirement: str
    mutation: bool


def uses(document: DocumentNode) -> tuple[list[Use], list[str]]:
    """The types and fields a document selects (with their requirements), and the protected fields among them."""
    found: list[Use] = []
    protected: list[str] = []
    info = TypeInfo(schema())
    state = {"mutation": False}

    def add_type(name: str) -> None:
        found.append(Use(name, type_entry(name).get("requiredAccess") or "", state["mutation"]))

    class Collect(Visitor):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            state["mutation"] = node.operation == OperationType.MUTATION
            root = schema().mutation_type if state["mutation"] else schema().query_type
            assert root is not None
            add_type(root.name)

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            parent = info.get_parent_type()
            field = info.get_field_def()
            if parent is None or field is None or node.name.value.startswith("__"):
                return
            entry = field_entry(parent.name, node.name.value)
            found.append(Use(f"{parent.name}.{node.name.value}", entry.get("requiredAccess") or "", state["mutation"]))
            if entry.get("isProtected"):
                protected.append(f"{parent.name}.{node.name.value}")
            add_type(get_named_type(field.type).name)

        def enter_inline_fragment(self, node: InlineFragmentNode, *_: Any) -> None:
            if node.type_condition is not None:
                add_type(node.type_condition.name.value)

    visit(document, TypeInfoVisitor(info, Collect()))
    return found, protected


def access_problems(
    document: DocumentNode, granted: Iterable[str], protected_allowed: Iterable[tuple[str, str]]
) -> list[str]:
    """What a document selects that the granted scopes do not cover, or protected data not declared, as sentences."""
    granted = tuple(granted)
    allowed = {f"{t}.{f}" for t, f in protected_allowed}
    problems: list[str] = []
    used, protected = uses(document)
    for use in used:
        sentence = " ".join(use.requirement.split())
        if sentence in JUDGED:
            alternatives = [JUDGED[sentence][0]]
        else:
            try:
                alternatives = scope_alternatives(use.requirement, mutation=use.mutation)
            except UnknownRequirement:
                problems.append(f"{use.what} needs {sentence!r}, which no rule reads: judge it in JUDGED")
                continue
        if not covered(alternatives, granted):
            wanted = " or ".join("+".join(sorted(a)) for a in alternatives)
            problems.append(f"{use.what} needs {wanted}")
    undeclared = [name for name in protected if name not in allowed]
    problems.extend(f"{name} is protected customer data not declared in PROTECTED_FIELDS" for name in undeclared)
    return list(dict.fromkeys(problems))
