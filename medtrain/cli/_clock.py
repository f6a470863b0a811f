"""When the command started, which a ``--budget`` counts from (``augment search``, ``tune``): the process's start,
so Python's start-up, the imports and the parsing before the command's function count."""
from __future__ import annotations

import os


def command_started() -> float:
    """The ``time.monotonic()`` time the command started, which ``--budget`` counts from: the process's start where
    it is the ``medtrain`` command (Linux's ``/proc``; the clock had started seconds later, after the imports: ``augment search`` 88 s for a 1-minute budget);
    now elsewhere (``main([...])`` in a script or a test, whose process started long before; no ``/proc``)."""
    import sys
    import time

    now, spec, argv = time.monotonic(), getattr(sys.modules.get("__main__"), "__spec__", None), sys.orig_argv
    if not (spec.name in ("medtrain.__main__", "medtrain") if spec is not None else
            len(argv) > 1 and os.path.basename(argv[1]) == "medtrain"):
        return now
    try:
        with open("/proc/self/stat", encoding="ascii") as f:  # field 22, starttime (the name may hold spaces)
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        return now - max(time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError, AttributeError):  # not Linux
        return now
