"""``medtrain cache``: what medtrain keeps in its cache folder, and clearing it.

    medtrain cache [list] [--json]                 # the folder, then count and size on disk of each kind
    medtrain cache clear stores volumes [--dry-run]
    medtrain cache clear all                       # every kind medtrain rebuilds: stores, volumes
    medtrain cache clear downloads                 # downloads, weights and arrays go only when named

The folder is ``--data-dir``, else :data:`medtrain._io.cache.WHERE` (the one wording of it, in each --help and the
README). Entries in use (a store being converted or read by a run) are kept and named; links are not followed.
An entry that cannot be deleted (another user's, a read-only disk) is kept and named and the clear goes on (exit 0);
only when nothing of the kinds named could be removed does ``clear`` fail (exit 2; with --json its JSON is still
printed, the one error line in it). A dry run foresees such entries (a read-only mount, a lock that cannot be made)
and names them as kept: the space it would free is what the clear frees. A folder inside an entry that
cannot be read is named, and that entry's size is then what could be read ("at least"). What a killed store
conversion left (a full-size temporary copy of the store) is listed under partial and, once no process converts
that store, named in the listing and removed by a clear of stores (or all).
The layout and the rules are :mod:`medtrain._io.cache`'s.
"""
from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    from medtrain._io.cache import ALL, BY_NAME, DERIVED, WHERE

    about = __doc__.split("\n\n")[0].replace("``", "")
    p = subparsers.add_parser("cache", help="list or clear what medtrain keeps in its cache folder",
                              description=f"{about} The cache folder: --data-dir, else {WHERE}.")
    _common(p)
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    ls = csub.add_parser("list", help="the cache folder, then count and size on disk of each kind (the default)",
                         description="The cache folder, then the count and size on disk of each kind it holds.")
    _common(ls, argparse.SUPPRESS)
    c = csub.add_parser("clear", help="remove the entries of the kinds named, keeping those in use",
                        description="Remove every entry of the kinds named, each renamed aside then deleted; entries "
                                    "in use are kept. Links are not followed.")
    _common(c, argparse.SUPPRESS)
    c.add_argument("kinds", nargs="*", metavar="KIND",
                   help=f"{', '.join(BY_NAME)}, or {ALL} ({', '.join(DERIVED)}: what medtrain makes again; "
                        f"{', '.join(k for k in BY_NAME if k not in DERIVED)} only when named)")
    c.add_argument("--dry-run", action="store_true", help="only list what would be removed (interrupted clears' "
                                                          "leftovers too, and with stores killed conversions') and "
                                                          "the space freed")
    p.set_defaults(func=run, cache_command="list", kinds=[], dry_run=False)


def _common(p: argparse.ArgumentParser, default=None) -> None:
    """--json and --data-dir on ``cache`` and on each action (``default``: SUPPRESS there, so that an action does not
    reset what was given before it: ``medtrain cache --json list``)."""
    p.add_argument("--json", action="store_true", default=default if default is not None else False,
                   help="print JSON")
    from medtrain._io.cache import WHERE

    p.add_argument("--data-dir", metavar="DIR", default=default, help=f"the cache folder (default {WHERE})")


def run(args) -> int:
    if args.cache_command == "clear":
        return _clear(args)
    return _list(args)


def _rel(path, root) -> str:
    return str(path.relative_to(root))


def _size(e) -> str:
    from medtrain._io.cache import human

    return f"at least {human(e.bytes)}" if e.unreadable else human(e.bytes)


def _list(args) -> int:
    from medtrain._io.cache import ABOUT, BY_NAME, PARTIAL, STORES, abandoned, folder, human, survey

    s = survey(args.data_dir)
    left = abandoned(s.entries[PARTIAL], folder(STORES, s.root)) if s.exists else []
    about = {**{k: v.what for k, v in BY_NAME.items()}, **ABOUT}
    rows = {k: (len(es), sum(e.bytes for e in es)) for k, es in s.entries.items()} if s.exists else \
        {k: (0, 0) for k in about}
    count, size = s.total()
    unread = [e for es in s.entries.values() for e in es if e.unreadable]
    low = {e.kind for e in unread}
    if args.json:
        print(json.dumps({
            "folder": str(s.root), "exists": s.exists,
            "kinds": {k: {"count": n, "bytes": b, "what": about[k],
                          "cleared_by": "all" if k in BY_NAME and BY_NAME[k].derived else
                          "its name" if k in BY_NAME else None} for k, (n, b) in rows.items()},
            "total": {"count": count, "bytes": size},
            "links": [{"path": str(link), "target": target} for link, target in s.links],
            "unreadable": [{"path": str(e.path), "kind": e.kind, "bytes_at_least": e.bytes, "cannot_read": e.unreadable}
                           for e in unread],
            "abandoned": [{"path": str(e.path), "bytes": e.bytes, "cleared_by": STORES} for e in left]}, indent=2))
        return 0
    print(f"{s.root}{'' if s.exists else ' (does not exist: nothing cached yet)'}")
    for k, (n, b) in rows.items():
        print(f"  {k:<10}{n:>7}{('>=' if k in low else '') + human(b):>11}   {about[k]}")
    print(f"  {'total':<10}{count:>7}{('>=' if low else '') + human(size):>11}")
    if left:  # the walk's 119 MB of a SIGKILLed conversion, listed as swept after an hour, that no clear removed
        print(f"  {len(left)} of partial ({human(sum(e.bytes for e in left))}): left by killed store conversions, "
              f"none converting now: `medtrain cache clear {STORES}` removes them")
    for link, target in s.links:
        print(f"  {_rel(link, s.root)}: a link to {target}, not followed")
    for e in unread:
        print(f"  {_rel(e.path, s.root)}: size unknown, at least {human(e.bytes)}: cannot read {e.unreadable}")
    return 0


def _clear(args) -> int:
    from medtrain._io.cache import NothingRemoved, clear, human, kinds_to_clear, leftover_of

    kinds = kinds_to_clear(args.kinds)  # an unknown kind: one line, before the folder is looked at
    try:
        done = clear(kinds, args.data_dir, dry_run=args.dry_run)
    except NothingRemoved as e:  # --json: the JSON still, what was kept and why, then the one line and exit 2
        if args.json:  # (it had been the stderr line alone)
            print(json.dumps({**_as_json(e.cleared, args.dry_run), "error": str(e)}, indent=2))
        raise
    if args.json:
        print(json.dumps(_as_json(done, args.dry_run), indent=2))
        return 0
    would = "would " if args.dry_run else ""
    if args.dry_run:
        for e in done.removed:
            print(f"would remove {_rel(e.path, done.root)} ({_size(e)})")
        for e in done.swept + done.abandoned:
            print(f"would remove {leftover_of(e.path)} {_rel(e.path, done.root)} ({_size(e)})")
    for e, why in done.kept:
        print(f"{would}keep {_rel(e.path, done.root)} ({_size(e)}): in use, {why}")
    for e, why in done.failed:  # a dry run foresees them (a read-only store), so its figure is the clear's
        what = f"{leftover_of(e.path)} " if e.kind == "partial" else ""
        print(f"cannot remove {what}{_rel(e.path, done.root)} ({_size(e)}), would keep it: {why}" if args.dry_run
              else f"could not remove {what}{_rel(e.path, done.root)} ({_size(e)}), kept: {why}")
    parts = []
    for k in kinds:
        kept, failed = sum(e.kind == k for e, _ in done.kept), sum(e.kind == k for e, _ in done.failed)
        cannot = "cannot" if args.dry_run else "could not"
        said = [f"{kept} kept in use"] * bool(kept) + [f"{failed} {cannot} be removed"] * bool(failed)
        parts.append(f"{k}: {sum(e.kind == k for e in done.removed)}" + (f" ({', '.join(said)})" if said else ""))
    if done.leftovers:
        parts.append(f"an interrupted clear's leftovers ({human(done.leftovers)})")
    if done.abandoned:
        parts.append(f"killed conversions' leftovers ({human(sum(e.bytes for e in done.abandoned))})")
    print(f"{would}remove {', '.join(parts)}; {would}free {human(done.freed)} in {done.root}" if args.dry_run else
          f"removed {', '.join(parts)}; freed {human(done.freed)} in {done.root}")
    return 0


def _as_json(done, dry_run: bool) -> dict:
    """``clear --json``: what was removed, kept in use, not removed (each with why) and swept."""
    return {
        "folder": str(done.root), "kinds": done.kinds, "dry_run": dry_run, "freed_bytes": done.freed,
        "removed": [{"path": str(e.path), "kind": e.kind, "bytes": e.bytes} for e in done.removed],
        "kept": [{"path": str(e.path), "kind": e.kind, "bytes": e.bytes, "why": why} for e, why in done.kept],
        "not_removed": [{"path": str(e.path), "kind": e.kind, "bytes": e.bytes, "why": why}
                        for e, why in done.failed],
        "leftovers": [{"path": str(e.path), "bytes": e.bytes} for e in done.swept],
        "leftovers_bytes": done.leftovers,
        "abandoned": [{"path": str(e.path), "bytes": e.bytes} for e in done.abandoned]}
