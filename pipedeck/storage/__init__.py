"""Storage, on SQLite or PostgreSQL: schema and migrations, the run store, the catalog, the data.

The only place with SQL; what differs between the engines is ``dialect.py``.
"""

from pipedeck.storage.db import Database

__all__ = ["Database"]
