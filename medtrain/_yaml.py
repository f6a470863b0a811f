"""The one YAML reader and writer: every YAML medtrain reads (configs, run directories, search spaces,
augmentation policies) is parsed here, numbers as YAML 1.2 reads them."""
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
    the 1.2 float pattern is added to the safe loader's resolvers."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"""^(?:
     [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789."))


def read_yaml(text: str) -> Any:
    """Parse YAML text safely, ``1e-3`` read as a number (:class:`_Loader`); every YAML medtrain reads
    (configs, run directories, search spaces, augmentation policies) goes through here."""
    return yaml.load(text, Loader=_Loader)


def read_yaml_file(path: str | os.PathLike, what: str) -> Any:
    """The YAML in ``path`` (:func:`read_yaml`).

    Raises:
        MedtrainError: naming ``what`` ("config file", "policy file"...) and the file, when it is missing, is
            not UTF-8 text or is not valid YAML.
    """
    p = Path(path)
    problem = file_problem(p)  # a FIFO is refused unread (reading it waits for a writer), and said to be one
    if problem is not None:
        raise MedtrainError(f"{what} not found: {p}" if problem == MISSING else f"{what} {p}: {problem}")
    return parse_yaml_bytes(p.read_bytes(), p, what)


def parse_yaml_bytes(data: bytes, path: str | os.PathLike, what: str) -> Any:
    """The YAML in ``data``, the bytes already read from ``path`` (:func:`read_yaml`): for a caller that also keeps
    the bytes it parsed (a recipe file hashed as it was run), with :func:`read_yaml_file`'s messages.

    Raises:
        MedtrainError: naming ``what`` and ``path``, when ``data`` is not UTF-8 text or is not valid YAML.
    """
    try:
        return read_yaml(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MedtrainError(f"{what} {path} is not UTF-8 text") from None
    except yaml.YAMLError as e:
        raise MedtrainError(f"{what} {path} is not valid YAML: {str(e).splitlines()[0]}") from None


def write_yaml(path: str | os.PathLike, obj: Any, comment: str = "", flow_lists: bool = False,
               width: int = 80) -> None:
    """``obj`` as YAML, keys in their order, written atomically (:func:`medtrain._io.write_text`): each line of
    ``comment`` as a ``#`` line above it; ``flow_lists`` writes lists of scalars on one line (``[flip, 0.5, 3]``)."""
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    body = yaml.safe_dump(obj, sort_keys=False, default_flow_style=None if flow_lists else False, width=width)
    write_text(path, head + body)
