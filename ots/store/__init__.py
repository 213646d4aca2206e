"""The only package that queries the database: ``TortoiseStore`` and its two backends.

Rooms:

- ``facade``: ``TortoiseStore`` (what the service and the delivery loop call),
  ``open_store`` (picks the backend once), database errors as
  ``UnavailableError``.
- ``backend``: what a backend provides, and the code both share (row values
  in the models' column order, rows back as ``ots.domain`` values).
- ``sql``: every statement's text, once for both databases, named after the
  models' metadata.
- ``sqlite`` and ``sqlite_engine``: SQLite's backend, its connections of its
  own, the group commit, the writers' queue and the read-only connections.
- ``postgres``: PostgreSQL's backend, on Tortoise's pool.

Exactly-once reads: a secret leaves the table for a reader only by a
``DELETE`` whose row count (1 or 0) decides the winner. Events: every state
change whose secret has a webhook subscribed to it writes a row of the
``delivery`` outbox in the same transaction, so an event is never lost nor
invented by a crash; the write returns the ``Transition`` it committed.
"""

from __future__ import annotations

from ots.store.facade import TortoiseStore, open_store

__all__ = ["TortoiseStore", "open_store"]
