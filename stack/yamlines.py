"""YAML with line numbers: mappings and lists remember where they came from, so a scenario error can say
``file:line: what was expected``."""
from __future__ import annotations

import yaml

__all__ = ["LDict", "LList", "ScenarioError", "load_yaml", "line_of"]


class ScenarioError(ValueError):
    """``str(e)`` is ``file:line: message``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


class LDict(dict):
    line: int = 0
    key_lines: dict

    def line_of(self, key: str) -> int:
        return getattr(self, "key_lines", {}).get(key, self.line)


class LList(list):
    line: int = 0
    item_lines: list


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    loader.flatten_mapping(node)
    d = LDict()
    d.line = node.start_mark.line + 1
    d.key_lines = {}
    for k_node, v_node in node.value:
        key = loader.construct_object(k_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise ScenarioError(loader.name, k_node.start_mark.line + 1, "a mapping key must be a plain word")
        if key in d:
            raise ScenarioError(loader.name, k_node.start_mark.line + 1, f"duplicate key {key!r}")
        d[key] = loader.construct_object(v_node, deep=True)
        d.key_lines[key] = k_node.start_mark.line + 1
    return d


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [n.start_mark.line + 1 for n in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load_yaml(text: str, path: str) -> object:
    """One YAML document with line numbers, parsed through the bounded parser (size, depth, aliases, numbers are
    checked before anything is built): any problem is a :class:`ScenarioError` naming ``path`` and the line."""
    from sim.wire import bounded

    try:
        return bounded.loads_yaml(text, what=path, Loader=_Loader)
    except bounded.BoundedInputError as exc:
        raise ScenarioError(path, exc.line or 1, exc.problem) from None


def line_of(obj: object, default: int = 1) -> int:
    return getattr(obj, "line", default) or default


def read_text_file(path: str) -> str:
    """A spec/scenario file as text, or a :class:`ScenarioError` naming the file and the problem (missing, a
    directory, too big, binary, UTF-16, not UTF-8), through the bounded parser's file reader."""
    from sim.wire import bounded

    try:
        return bounded.decode_text(bounded.read_bytes(path), what=path, max_bytes=bounded.MAX_FILE_BYTES)
    except bounded.BoundedInputError as exc:
        raise ScenarioError(path, exc.line or 1, exc.problem) from None
