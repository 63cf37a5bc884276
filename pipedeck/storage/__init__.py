"""SQLite storage: schema, migrations, the run store and the catalog."""

from pipedeck.storage.db import Database

__all__ = ["Database"]
