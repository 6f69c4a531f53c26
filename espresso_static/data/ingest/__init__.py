"""Checked bulk ingest: many rows into one table, with the model's checks, near the
speed of the database driver.

``ingest(DataFile, rows, key=("file_name",))`` reads any iterable of dicts batch by
batch (never all rows in memory), runs ``pre_save`` and ``check_consistency`` on a
real model instance for every row (the same methods ``save()`` runs, honouring
``run_pre_save``/``run_checks``), then inserts new rows, updates changed rows and
leaves identical rows untouched (their ``last_modified`` stays), keyed on ``key``.

Why it is fast: Django's per-object machinery (``Model.__init__``, signals,
``save()``) costs far more than the checks themselves. Here an instance is a bare
object whose ``__dict__`` is filled directly, as ``Model.from_db`` does; values are
converted with the fields' ``get_db_prep_save`` only for columns whose Python types
need it (checked column-wise per batch); existing rows are read with one query per
batch, and writes go through the driver's ``executemany``: plain ``INSERT`` for new
rows and ``UPDATE`` by id for changed ones (on PostgreSQL the ``INSERT`` is an
``ON CONFLICT (key) DO UPDATE`` upsert, so concurrent ingests of the same keys
merge instead of failing).

Semantics, in short:

* A row gives column values by field name (``ensemble``: a primary key or an
  instance) or column attribute (``ensemble_id``). Columns a row leaves out keep
  their stored values on existing rows and take their defaults on new ones.
* Key columns must be given in every row, each key once; ``key`` must be a unique
  constraint.
* Values are checked before the model's checks run, against what the database
  accepts: the field's type (text converted with ``to_python``), NULL, ``max_length``
  (SQLite would store a longer text), NUL characters (PostgreSQL's text has none), the
  integer range and the row a foreign key points to; and, as a form would, that a
  column with ``choices`` holds one of them (or nothing). A time written without its
  zone is in the project's time zone (UTC), as ``save()`` takes it. A failing value
  raises :class:`RowError`, a failing check :class:`RowConsistencyError`; both name
  the row and the column.
* All or nothing: everything runs in one transaction; the first failing row raises
  and nothing is committed.
* ``last_modified`` is set to the time of writing on inserted and updated rows,
  ``user`` to the current database user on new rows (as ``save()`` does). Other
  ``auto_now_add`` and ``auto_now`` columns a row leaves out are set as ``save()``
  sets them: to the current time on new rows, ``auto_now`` ones also on changed rows;
  a time a row gives is kept (as ``loaddata`` keeps a fixture's).
* Like ``bulk_create``, no ``pre_save``/``post_save`` signals are sent (the checks
  run directly). Multi-table-inheritance children are refused (see
  :func:`ingest`). Values are compared as the database stores them, so a JSON or
  decimal column may count as updated although its value did not change.
"""

from espresso_static.data.ingest.errors import RowConsistencyError, RowError
from espresso_static.data.ingest.files import FILE_FORMATS, FileError, FileRows, read_file
from espresso_static.data.ingest.plan import DEFAULT_BATCH_SIZE
from espresso_static.data.ingest.write import IngestReport, find_model, ingest

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FILE_FORMATS",
    "FileError",
    "FileRows",
    "IngestReport",
    "RowConsistencyError",
    "RowError",
    "find_model",
    "ingest",
    "read_file",
]
