"""The one line a study database that cannot be used is refused with (``--storage`` of ``tune`` and ``augment
search``): its URL without a password, the driver's own words, and for a driver that is not installed, which one
SQLAlchemy tried and the URL form that picks another."""
from __future__ import annotations

import re

from medtrain.errors import MedtrainError

#: pip's name of a database driver module SQLAlchemy imports, where it is not the module's own.
DRIVER_PACKAGES = {"psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient"}

#: ``//USER:PASSWORD@`` of a URL: the password runs to the authority's last ``@`` (no ``/`` in it)
_CREDENTIALS = re.compile(r"(//[^/@:]*:)[^/]*@")


def shown_url(url: str) -> str:
    """``url`` as it may be printed or shared: its password as ``***``, as SQLAlchemy renders it, and masked too
    where SQLAlchemy cannot parse the URL (``postgresql://user:secret@host:notaport/db`` had been shown as given)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (not a URL SQLAlchemy parses)
        return _CREDENTIALS.sub(r"\1***@", str(url))


def unusable(url: str, doing: str, e: Exception) -> MedtrainError:
    """``--storage URL: cannot DOING the study database (why)``. Optuna's words for a missing driver ("Failed to
    import DB access module for the specified storage URL. Please install appropriate one.") had named neither
    the driver nor a way on; a URL's password had been printed with it."""
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001  (not a URL SQLAlchemy parses: no driver to name)
        u = None
    shown = shown_url(url)
    cause, seen = e, set()
    while cause is not None and not (isinstance(cause, ImportError) and cause.name) and id(cause) not in seen:
        seen.add(id(cause))  # Optuna re-raises the driver's ImportError as one of its own, naming no module
        cause = cause.__cause__ or cause.__context__
    if cause is not None and isinstance(cause, ImportError) and cause.name and u is not None:
        module, backend = cause.name.split(".")[0], u.get_backend_name()
        other = ("psycopg" if module == "psycopg2" else "psycopg2") if backend == "postgresql" else "DRIVER"
        why = (f"SQLAlchemy's {backend} driver {module} is not installed: pip install "
               f"{DRIVER_PACKAGES.get(module, module)}, or name an installed one in the URL, e.g. "
               f"{backend}+{other}://USER:PASSWORD@HOST/DB")
    else:
        e = getattr(e, "orig", None) or e  # the driver's words, not SQLAlchemy's "(sqlite3.DatabaseError) ..."
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
    return MedtrainError(f"--storage {shown}: cannot {doing} the study database ({why})")
