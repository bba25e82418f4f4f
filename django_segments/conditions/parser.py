"""JSON data -> condition tree, with a path in every error and a per-registry cache.

Grammar of the JSON value (``NODE``)::

    NODE  := STRING                 a condition, optionally prefixed by "NOT "
           | {"all": [NODE, ...]}   every item holds (empty: True)
           | {"any": [NODE, ...]}   some item holds (empty: False)
           | {"NOT": NODE}          the negation of a sub-tree

An object has exactly one key. Paths look like ``$.all[2]`` or ``$.any[0].NOT.all[1]``.
Double negations cancel out (``"NOT NOT X"`` parses as ``"X"``).
"""

from __future__ import annotations

import difflib
import json
import threading
import weakref
from collections import OrderedDict
from typing import Any

from django_segments.conditions.base import NOT
from django_segments.conditions.registry import Definitions, default_definitions
from django_segments.conditions.tree import AllOf, AnyOf, Leaf, Node, Not
from django_segments.exceptions import ConditionError

#: Deepest nesting accepted; deeper data is rejected before it can exhaust the stack.
MAX_DEPTH = 64

#: Parsed trees kept per registry (least recently used are dropped).
CACHE_SIZE = 1024

_GROUPS = {"all": AllOf, "any": AnyOf}
_KEYS = ("all", "any", NOT)

_cache: weakref.WeakKeyDictionary[Definitions, OrderedDict[str, Node]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def parse(data: Any, *, definitions: Definitions | None = None) -> Node:
    """Parse JSON ``data`` into a tree; raise `ConditionError` with a path if malformed.

    ``definitions`` defaults to `default_definitions()`. Equal data (as canonical JSON)
    parses once per registry; later calls return the cached, immutable tree.
    """
    defs = default_definitions() if definitions is None else definitions
    key = canonical_json(data)
    with _cache_lock:
        per_defs = _cache.setdefault(defs, OrderedDict())
        tree = per_defs.get(key)
        if tree is not None:
            per_defs.move_to_end(key)
            return tree
    tree = parse_node(data, defs, "$", 0)
    with _cache_lock:
        per_defs[key] = tree
        if len(per_defs) > CACHE_SIZE:
            per_defs.popitem(last=False)
    return tree


def canonical_json(data: Any) -> str:
    """The cache key of ``data``: compact JSON with sorted keys; `ConditionError` if not JSON."""
    try:
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ConditionError(f"not JSON data: {exc}") from exc
    except RecursionError as exc:
        raise ConditionError(f"nested deeper than {MAX_DEPTH} levels") from exc


def clear_cache() -> None:
    """Forget every cached tree (tests, or after redefining condition classes)."""
    with _cache_lock:
        _cache.clear()


def parse_node(data: Any, defs: Definitions, path: str, depth: int) -> Node:
    """Parse one node at ``path``."""
    if depth > MAX_DEPTH:
        raise ConditionError(f"nested deeper than {MAX_DEPTH} levels", path=path)
    if isinstance(data, str):
        return parse_string(data, defs, path, depth)
    if isinstance(data, dict):
        return parse_object(data, defs, path, depth)
    raise ConditionError(
        f'expected a condition string or an object with "all", "any" or "{NOT}"; got {_json_type(data)}',
        path=path,
    )


def parse_object(data: dict[Any, Any], defs: Definitions, path: str, depth: int) -> Node:
    """Parse ``{"all": [...]}``, ``{"any": [...]}`` or ``{"NOT": NODE}``."""
    if not data:
        raise ConditionError(f'empty object; expected one key of "all", "any", "{NOT}"', path=path)
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise ConditionError(f'unknown key "{unknown[0]}"; expected one of "all", "any", "{NOT}"', path=path)
    if len(data) > 1:
        keys = " and ".join(f'"{k}"' for k in data)
        raise ConditionError(f"both {keys}; nest objects to combine them", path=path)
    ((keyword, body),) = data.items()
    if keyword == NOT:
        return negate(parse_node(body, defs, f"{path}.{NOT}", depth + 1), path)
    return parse_group(keyword, body, defs, path, depth)


def parse_group(keyword: str, body: Any, defs: Definitions, path: str, depth: int) -> Node:
    """Parse the list of an ``all`` / ``any`` group."""
    body_path = f"{path}.{keyword}"
    if not isinstance(body, list):
        raise ConditionError(f'"{keyword}" must be a list; got {_json_type(body)}', path=body_path)
    children = tuple(
        parse_node(item, defs, f"{body_path}[{index}]", depth + 1) for index, item in enumerate(body)
    )
    return _GROUPS[keyword](children, path=path)


def parse_string(text: str, defs: Definitions, path: str, depth: int = 0) -> Node:
    """Parse ``"[NOT ]NAME [terms]"``; each ``NOT`` prefix negates what follows."""
    terms = text.split()
    negations = 0
    while terms and terms[0] == NOT:
        negations += 1
        terms = terms[1:]
    if depth + negations > MAX_DEPTH:
        raise ConditionError(f"nested deeper than {MAX_DEPTH} levels", path=path)
    if not terms:
        message = f'"{NOT}" must be followed by a condition' if negations else "empty condition"
        raise ConditionError(message, path=path)
    node: Node = Leaf(parse_condition(terms, defs, path), path=path)
    return negate(node, path) if negations % 2 else node


def negate(node: Node, path: str) -> Node:
    """``Not(node)``, except that a double negation cancels out.

    Cancelling is exact in the three-valued logic of evaluation (``NOT NOT unknown`` is
    unknown) and in SQL, so ``encode`` never produces ``NOT NOT``.
    """
    return node.child if isinstance(node, Not) else Not(node, path=path)


def parse_condition(terms: list[str], defs: Definitions, path: str) -> Any:
    """Look the name up and let its class parse the remaining terms."""
    name, rest = terms[0], terms[1:]
    cls = defs.get(name)
    if cls is None:
        raise ConditionError(f'unknown condition "{name}"{_suggest(name, defs)}', path=path)
    return cls.from_terms(rest, path=path)


def _suggest(name: str, defs: Definitions) -> str:
    close = difflib.get_close_matches(name.upper(), list(defs), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", list: "list", dict: "object"}
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)
