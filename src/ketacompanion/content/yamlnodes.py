"""Checks on YAML node trees shared by the content validators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml


def node_and_data(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers in problems) and its data, from one
    parse with the C parser and the safe constructor: composing and then loading the
    same text would parse it twice. ``(None, None)`` when empty; raises
    ``yaml.YAMLError`` as ``yaml.load`` does."""
    loader = yaml.CSafeLoader(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def duplicate_keys(root: yaml.Node) -> Iterator[tuple[int, str]]:
    """PyYAML silently keeps the last of two equal keys, so an editor's typo would vanish."""
    stack, visited = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in visited:  # an alias shares its anchor's node: report it once
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for k, v in node.value:
                if k.value in keys:
                    yield k.start_mark.line + 1, f"duplicate key {k.value!r}"
                keys.add(k.value)
                stack.append(v)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
