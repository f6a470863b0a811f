"""Progress bars for long operations other than an epoch (Lightning draws those): one overall bar for a
command that trains many runs (``compare``, cross-validation, tuning), and one for a download.

Both are tqdm bars (tqdm comes with Lightning, whose own bar uses it) on stderr, drawn only on a terminal
(``disable=None``), so logs and captured output stay free of carriage returns.
"""
from __future__ import annotations

import sys

from tqdm import tqdm


class Overall:
    """One bar over the runs of a multi-run command: runs done / total, elapsed time and ETA.

    Runs found finished (reused, not trained) are counted as done from the start, so they do not make the
    ETA of the remaining ones look shorter than it is. Lines printed meanwhile go through :meth:`write`,
    which keeps the bar below them.

    Example::

        with Overall(len(cells), "compare", done=len(finished)) as bar:
            for cell in todo:
                bar.write(f"compare: {cell}")
                train(cell)
                bar.advance()
    """

    def __init__(self, total: int, desc: str, done: int = 0, enabled: bool = True):
        self.bar = tqdm(total=total, initial=done, desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True,
                        disable=None if enabled else True, leave=True, smoothing=0.0)

    def advance(self, n: int = 1) -> None:
        """``n`` more runs are done."""
        self.bar.update(n)

    def write(self, line: str, file=None) -> None:
        """Print ``line`` above the bar (on ``file``, default stdout)."""
        tqdm.write(line, file=file or sys.stdout)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "Overall":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def download_bar(total_bytes: int | None, desc: str, enabled: bool = True) -> tqdm:
    """A bar of bytes received (size, rate, ETA when ``total_bytes`` is known); ``update(len(block))``."""
    return tqdm(total=total_bytes or None, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, dynamic_ncols=True, disable=None if enabled else True, leave=True)


def on_terminal() -> bool:
    """Whether progress bars are drawn: standard error is a terminal (tqdm's ``disable=None`` rule, which the bars
    above use), so that logs and captured output stay free of carriage returns."""
    return bool(getattr(sys.stderr, "isatty", None) and sys.stderr.isatty())
