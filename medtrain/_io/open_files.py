"""Which files under a folder a process holds open or memory-mapped (Linux's ``/proc``): what ``medtrain cache
clear`` must not remove under a running run (a mapped store is read without a lock). Written by hand: psutil's
``open_files`` lists descriptors only, not memory maps, and would be a dependency for one function."""
from __future__ import annotations

import os
from pathlib import Path


def held_open(base: Path) -> dict[str, int]:
    """``{path: pid}`` of every file under ``base`` that a process holds open or mapped, and of every folder above
    one up to ``base`` (Linux's ``/proc``; empty elsewhere). Other users' processes are seen by root only."""
    real = os.path.realpath(base)
    prefix = real.rstrip(os.sep) + os.sep
    found: dict[str, int] = {}
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        paths = []
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    paths.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
                except OSError:
                    pass
        except OSError:  # ended, or another user's
            pass
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
                paths += [line.split(None, 5)[-1].rstrip("\n") for line in f if prefix in line]
        except OSError:
            pass
        for p in paths:
            while p.startswith(prefix):
                found.setdefault(p, int(pid))
                p = os.path.dirname(p)
    return found
