"""Bicep templates as Python values, parsed with tree-sitter-bicep (the whole language).

A literal becomes its Python value (object -> dict, array -> list, string, number, bool,
null -> None); anything computed becomes an `Expr` holding its source text, a conditional a
`Ternary`, a `for` a `Loop`. Each declaration keeps the comment that ends its line, so a
role definition id can be checked against the role name written beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

__all__ = ["Declaration", "Expr", "Loop", "Template", "Ternary", "load", "parse_errors"]

_KINDS = {
    "parameter_declaration": "param",
    "variable_declaration": "var",
    "resource_declaration": "resource",
    "module_declaration": "module",
    "output_declaration": "output",
}


@dataclass(frozen=True)
class Expr:
    text: str


@dataclass(frozen=True)
class Ternary:
    condition: str
    then: Any
    otherwise: Any


@dataclass(frozen=True)
class Loop:
    header: str
    body: Any


@dataclass
class Declaration:
    kind: str
    name: str
    target: str | None  # a resource's type@version, a module's path
    value: Any
    condition: str | None = None  # `= if (...)`
    comment: str = ""
    decorators: list[str] = field(default_factory=list)  # e.g. "@allowed(['a', 'b'])"
    children: list[Declaration] = field(default_factory=list)


@dataclass
class Template:
    path: Path
    declarations: list[Declaration]

    def of(self, kind: str) -> dict[str, Declaration]:
        return {d.name: d for d in self.declarations if d.kind == kind}

    def resources(self, type_prefix: str) -> list[Declaration]:
        """Every resource (nested ones too) whose type starts with `type_prefix`."""
        found: list[Declaration] = []

        def walk(declarations: list[Declaration]) -> None:
            for declaration in declarations:
                if declaration.kind == "resource" and (declaration.target or "").startswith(
                    type_prefix
                ):
                    found.append(declaration)
                walk(declaration.children)

        walk(self.declarations)
        return found


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_bicep.language()))


def parse_errors(source: bytes) -> list[str]:
    """Where the parser found a syntax error, as `line:column: text`."""
    errors: list[str] = []

    def walk(node: Node) -> None:
        if node.is_error or node.is_missing:
            row, column = node.start_point
            errors.append(f"{row + 1}:{column + 1}: {_text(node)[:60]!r}")
        for child in node.children:
            walk(child)

    walk(_parser().parse(source).root_node)
    return errors


def load(path: Path) -> Template:
    source = path.read_bytes()
    errors = parse_errors(source)
    if errors:
        raise ValueError(f"{path}: syntax errors at " + "; ".join(errors))
    root = _parser().parse(source).root_node
    return Template(path, _declarations(root.named_children))


def _text(node: Node) -> str:
    return (node.text or b"").decode()


def _declarations(nodes: list[Node]) -> list[Declaration]:
    out: list[Declaration] = []
    for index, node in enumerate(nodes):
        kind = _KINDS.get(node.type)
        if kind is None:
            continue
        children = node.named_children
        name = _text(children[0])
        target = None
        rest = children[1:]
        if kind in ("resource", "module"):
            target = _string(rest[0])
            rest = rest[1:]
        elif rest and rest[0].type == "type":
            rest = rest[1:]
        declaration = Declaration(kind, name, target, None)
        before = nodes[index - 1] if index else None
        if before is not None and before.type == "decorators":
            declaration.decorators = [_text(d) for d in before.named_children]
        body = rest[-1] if rest else None
        if body is not None and body.type == "if_statement":
            condition, body = body.named_children
            declaration.condition = _text(condition)
        if body is not None:
            declaration.value = _value(body, declaration.children)
        following = nodes[index + 1] if index + 1 < len(nodes) else None
        if (
            following is not None
            and following.type == "comment"
            and following.start_point[0] == node.end_point[0]
        ):
            declaration.comment = _text(following).removeprefix("//").strip()
        out.append(declaration)
    return out


def _string(node: Node) -> str | Expr:
    if any(child.type == "interpolation" for child in node.named_children):
        return Expr(_text(node))
    return "".join(_text(child) for child in node.named_children)


def _value(node: Node, nested: list[Declaration]) -> Any:
    kind = node.type
    if kind == "object":
        result: dict[str, Any] = {}
        for prop in node.named_children:
            if prop.type != "object_property":
                continue
            parts = prop.named_children
            if parts and parts[0].type == "resource_declaration":
                nested.extend(_declarations(parts))
                continue
            key = _string(parts[0]) if parts[0].type == "string" else _text(parts[0])
            result[str(key)] = _value(parts[1], nested)
        return result
    if kind == "array":
        return [_value(item, nested) for item in node.named_children if item.type != "comment"]
    if kind == "string":
        return _string(node)
    if kind == "number":
        return int(_text(node))
    if kind == "boolean":
        return _text(node) == "true"
    if kind == "null":
        return None
    if kind == "ternary_expression":
        condition, then, otherwise = node.named_children
        return Ternary(_text(condition), _value(then, nested), _value(otherwise, nested))
    if kind == "for_statement":
        *header, body = node.named_children
        return Loop(" ".join(_text(part) for part in header), _value(body, nested))
    return Expr(_text(node))
