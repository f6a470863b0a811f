"""The one YAML reader and writer: every YAML medtrain reads (configs, run directories, search spaces,
augmentation policies) is parsed here, numbers (floats and whole numbers) as YAML 1.2 reads them."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from medtrain._io import MISSING, file_problem, write_text
from medtrain.errors import MedtrainError


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading numbers as YAML 1.2 does: PyYAML follows YAML 1.1, whose floats need a
    dot, so ``lr: 1e-3`` would be the *string* "1e-3" (and a search space's ``low: 1e-4`` "not a number").
    No maintained YAML 1.2 loader is in the stack (ruamel.yaml would be a new dependency for one regex), so
    the 1.2 float pattern is added to the safe loader's resolvers.

    A key given twice in one mapping (``lr: 0.1`` ... ``lr: 0.5``) is refused (:class:`DuplicateKey`): PyYAML
    keeps the last one silently, so a config's earlier line would be read and quietly not used. Keys merged in
    with ``<<: *anchor`` (or ``<<: [*a, *b]``) are overridden as YAML means them to be, not refused.

    The check reads the composed node tree once, before anything is constructed: PyYAML's ``flatten_mapping``
    rewrites a merged mapping's node in place (its merged keys prepended to its own) when a mapping that merges it
    is constructed, so a check made as each mapping is constructed saw an anchor used before its own turn with
    the merged keys as its own, and refused valid YAML."""

    def construct_document(self, node):
        _refuse_duplicate_keys(self, node)
        return super().construct_document(node)


def _refuse_duplicate_keys(loader: yaml.SafeLoader, root: yaml.Node) -> None:
    """Raise :class:`DuplicateKey` for the first mapping of ``root`` (in document order) that gives a key twice.
    Each node is walked once (an alias shares its anchor's node; a recursive alias would loop); merge keys
    (``<<``) are skipped, the mappings they merge walked as nodes of their own."""
    walked: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in walked:
            continue
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue  # a mapping or list as a key: unhashable, PyYAML's own refusal follows
                key = loader.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue
                if first is not key_node:
                    raise DuplicateKey(key, first.start_mark.line + 1, key_node.start_mark.line + 1)
            todo.extend(child for pair in reversed(node.value) for child in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(reversed(node.value))


class DuplicateKey(yaml.YAMLError):
    """A key given twice in one YAML mapping, with the (1-based) lines of both."""

    def __init__(self, key: Any, first: int, second: int):
        where = f"lines {first} and {second}" if first != second else f"line {first}"
        super().__init__(f"key {key!r} is given twice ({where}); keep one")
        self.key, self.first, self.second = key, first, second


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"""^(?:
     [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789."))

# Whole numbers as YAML 1.2's core schema reads them, too: PyYAML's 1.1 rule had read `epochs: 012` as 10 (octal)
# and `epochs: 1:30` as 90 (base 60), silently (a bad-input walk). 1.2: decimal digits, 0o octal, 0x hexadecimal;
# 1:30 stays text (and is refused where a number is due).
_INT = "tag:yaml.org,2002:int"
_Loader.yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in rules if tag != _INT]
                                   for first, rules in _Loader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    base = {"0o": 8, "0x": 16}.get(text[:2], 10)
    return int(text[2:] if base != 10 else text, base)


_Loader.add_constructor(_INT, _construct_int)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper quoting a string wherever :class:`_Loader` would read it back as another type: it
    quotes by its own YAML 1.1 rules, so the string "1e-3" (a CSV column, a name) was written bare and read back
    as the number 0.001, "0o17" as 15."""


_Dumper.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


def read_yaml(text: str) -> Any:
    """Parse YAML text safely, ``1e-3`` read as a number (:class:`_Loader`); every YAML medtrain reads
    (configs, run directories, search spaces, augmentation policies) goes through here."""
    return yaml.load(text, Loader=_Loader)


def read_yaml_file(path: str | os.PathLike, what: str) -> Any:
    """The YAML in ``path`` (:func:`read_yaml`), with :func:`read_yaml_bytes`'s messages."""
    return read_yaml_bytes(path, what)[1]


def read_yaml_mapping(path: str | os.PathLike, what: str) -> tuple[bytes, dict]:
    """A YAML file of settings (``train --config``'s, a search space, a ``compare`` recipe): its bytes, read once,
    and the mapping they hold (an empty file, or one holding only null: no settings), with
    :func:`read_yaml_bytes`'s messages.

    Raises:
        MedtrainError: as :func:`read_yaml_bytes`, and when the file holds no mapping.
    """
    data, parsed = read_yaml_bytes(path, what)
    # an empty file (or one of comments, or null): no settings; a falsy value that is no mapping ([], false, 0)
    # is refused below like any other, not read as none
    parsed = {} if parsed is None else parsed
    if not isinstance(parsed, dict):
        raise MedtrainError(f"{what} {Path(path)} must hold a mapping of settings")
    return data, parsed


def read_yaml_bytes(path: str | os.PathLike, what: str) -> tuple[bytes, Any]:
    """The bytes of ``path``, read once, and the YAML they hold (:func:`read_yaml`): for a caller that also keeps
    the bytes it parsed (a recipe file hashed as it was run). Every message of a YAML file that cannot be read is
    worded here.

    Raises:
        MedtrainError: naming ``what`` ("config file", "policy file"...) and the file, when it is missing, is no
            regular file, cannot be read, is not UTF-8 text or is not valid YAML.
    """
    p = Path(path)
    problem = file_problem(p)  # a FIFO is refused unread (reading it waits for a writer), and said to be one
    if problem is not None:
        raise MedtrainError(f"{what} not found: {p}" if problem == MISSING else f"{what} {p}: {problem}")
    try:
        data = p.read_bytes()
    except OSError as e:  # removed or made unreadable since, or an I/O error
        raise MedtrainError(f"{what} {p} cannot be read ({e.strerror or e})") from None
    try:
        return data, read_yaml(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MedtrainError(f"{what} {p} is not UTF-8 text") from None
    except DuplicateKey as e:
        raise MedtrainError(f"{what} {p}: {e}") from None
    except yaml.YAMLError as e:
        raise MedtrainError(f"{what} {p} is not valid YAML: {syntax_error(e)}") from None


def syntax_error(e: yaml.YAMLError) -> str:
    """PyYAML's error in one line, where it is and what (``line 3, column 1: expected ',' or ']', but got '<stream
    end>' (while parsing a flow sequence from line 2, column 5)``): its message's first line alone had been
    ``while parsing a flow sequence``, without the line, the column or the problem."""
    problem, mark = getattr(e, "problem", None), getattr(e, "problem_mark", None)
    if not problem or mark is None:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    context, at = getattr(e, "context", None), getattr(e, "context_mark", None)
    said = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    if context and at is not None and (at.line, at.column) != (mark.line, mark.column):
        return f"{said} ({context} from line {at.line + 1}, column {at.column + 1})"
    return f"{said} ({context})" if context else said


def write_yaml(path: str | os.PathLike, obj: Any, comment: str = "", flow_lists: bool = False,
               width: int = 80) -> None:
    """``obj`` as YAML, keys in their order, written atomically (:func:`medtrain._io.write_text`): each line of
    ``comment`` as a ``#`` line above it; ``flow_lists`` writes lists of scalars on one line (``[flip, 0.5, 3]``)."""
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    body = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=None if flow_lists else False,
                     width=width)
    write_text(path, head + body)
