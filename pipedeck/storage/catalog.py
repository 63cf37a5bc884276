"""Brands and their competitors.

Names are unique regardless of case (SQLite: ``COLLATE NOCASE``; PostgreSQL: a unique index on
``lower(name)``), and looked up and sorted by ``lower(name)``, which both engines read alike.
"""

from __future__ import annotations

import re
import time

from pipedeck.concepts.text import control_characters
from pipedeck.errors import NotFound, StorageConflict, UserError
from pipedeck.storage.db import Database
from pipedeck.urls import validate_ad_library_url

_DIGITS = re.compile(r"^\d{1,30}$")
_ID = re.compile(r"^[0-9]{1,19}$")
MAX_ID = 2**63 - 1  # SQLite's INTEGER, PostgreSQL's BIGINT; a larger number names no row (and would overflow)


def _as_id(ref: str) -> int | None:
    """A reference typed as digits, as a row id; None when it is not one (or past SQLite's range)."""
    text = ref.strip()
    return int(text) if _ID.match(text) and int(text) <= MAX_ID else None


def _clean_name(name: str, what: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise UserError(f"{what} name must not be empty")
    if len(name) > 100:
        raise UserError(f"{what} name is longer than 100 characters")
    found = control_characters(name)
    if found:  # an escape sequence in a name would reach every terminal that lists it
        raise UserError(f"{what} name must not contain control characters (found {' '.join(dict.fromkeys(found))})")
    return name


def normalise_ad_account_id(value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if value.startswith("act_"):
        value = value[4:]
    if not _DIGITS.match(value):
        raise UserError(f"Meta ad account id must be digits (optionally prefixed act_), got {value!r}")
    return value


def normalise_page_id(value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if not _DIGITS.match(value):
        raise UserError(f"Ad Library page id must be digits, got {value!r}")
    return value


class Catalog:
    def __init__(self, database: Database, clock=time.time) -> None:
        self.database = database
        self.clock = clock

    # -- brands --------------------------------------------------------------
    def add_brand(self, name: str, meta_ad_account_id: str | None = None,
                  ad_library_page_id: str | None = None) -> dict:
        name = _clean_name(name, "brand")
        account = normalise_ad_account_id(meta_ad_account_id)
        page = normalise_page_id(ad_library_page_id)
        now = self.clock()
        try:
            with self.database.write() as db:
                brand_id = db.conn.execute(
                    "INSERT INTO brands (name, meta_ad_account_id, ad_library_page_id, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) RETURNING id", (name, account, page, now, now)).fetchall()[0][0]
        except StorageConflict:
            raise UserError(f"brand {name!r} already exists") from None
        return self.brand(brand_id)

    def update_brand(self, brand_id: int, *, name: str | None = None,
                     meta_ad_account_id: str | None = ..., ad_library_page_id: str | None = ...) -> dict:
        changes: dict = {}
        if name is not None:
            changes["name"] = _clean_name(name, "brand")
        if meta_ad_account_id is not ...:
            changes["meta_ad_account_id"] = normalise_ad_account_id(meta_ad_account_id)
        if ad_library_page_id is not ...:
            changes["ad_library_page_id"] = normalise_page_id(ad_library_page_id)
        self.brand(brand_id)
        if changes:
            changes["updated_at"] = self.clock()
            sets = ", ".join(f"{k} = ?" for k in changes)
            try:
                with self.database.write() as db:
                    db.conn.execute(f"UPDATE brands SET {sets} WHERE id = ?", (*changes.values(), brand_id))
            except StorageConflict:
                raise UserError(f"brand {changes['name']!r} already exists") from None
        return self.brand(brand_id)

    def brand(self, ref: int | str) -> dict:
        """A brand by id or by (case-insensitive) name."""
        as_id = ref if isinstance(ref, int) else _as_id(ref) if isinstance(ref, str) else None
        if as_id is not None and not (isinstance(ref, str) and self._brand_named(ref)):
            row = (self.database.query_one("SELECT * FROM brands WHERE id = ?", (as_id,))
                   if 0 < as_id <= MAX_ID else None)
        else:
            row = self._brand_named(str(ref))
        if row is None:
            known = [b["name"] for b in self.brands()][:10]
            hint = f" (known: {', '.join(known)})" if known else " (no brands yet: add one with `pipedeck brands add NAME`)"
            raise NotFound(f"unknown brand {str(ref)!r}{hint}")
        return row

    def _brand_named(self, name: str) -> dict | None:
        return self.database.query_one("SELECT * FROM brands WHERE lower(name) = lower(?)", (" ".join(name.split()),))

    def brands(self) -> list[dict]:
        return self.database.query("SELECT * FROM brands ORDER BY lower(name), id")

    # -- competitors ---------------------------------------------------------
    def add_competitor(self, brand_id: int, name: str, ad_library_url: str, allowed_origin: str) -> dict:
        name = _clean_name(name, "competitor")
        try:
            url = validate_ad_library_url(ad_library_url, allowed_origin)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        self.brand(brand_id)
        now = self.clock()
        try:
            with self.database.write() as db:
                competitor_id = db.conn.execute(
                    "INSERT INTO competitors (brand_id, name, ad_library_url, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) RETURNING id", (brand_id, name, url, now, now)).fetchall()[0][0]
        except StorageConflict:
            raise UserError(f"competitor {name!r} already exists for this brand") from None
        return self.competitor(competitor_id)

    def update_competitor(self, competitor_id: int, allowed_origin: str, *, name: str | None = None,
                          ad_library_url: str | None = None) -> dict:
        current = self.competitor(competitor_id)
        changes: dict = {}
        if name is not None:
            changes["name"] = _clean_name(name, "competitor")
        if ad_library_url is not None:
            try:
                changes["ad_library_url"] = validate_ad_library_url(ad_library_url, allowed_origin)
            except ValueError as exc:
                raise UserError(str(exc)) from None
        if changes:
            changes["updated_at"] = self.clock()
            sets = ", ".join(f"{k} = ?" for k in changes)
            try:
                with self.database.write() as db:
                    db.conn.execute(f"UPDATE competitors SET {sets} WHERE id = ?", (*changes.values(), competitor_id))
            except StorageConflict:
                raise UserError(f"competitor {changes['name']!r} already exists for brand {current['brand_name']!r}") from None
        return self.competitor(competitor_id)

    def competitor(self, ref: int | str, brand_id: int | None = None) -> dict:
        """A competitor by id, or by name within a brand (or across brands when unambiguous)."""
        base = ("SELECT c.*, b.name AS brand_name FROM competitors c JOIN brands b ON b.id = c.brand_id")
        if isinstance(ref, int) and not 0 < ref <= MAX_ID:
            rows = []
        elif isinstance(ref, int):
            if brand_id is None:
                rows = self.database.query(base + " WHERE c.id = ?", (ref,))
            else:
                rows = self.database.query(base + " WHERE c.id = ? AND c.brand_id = ?", (ref, brand_id))
        else:
            name = " ".join(str(ref).split())
            if brand_id is None:
                rows = self.database.query(base + " WHERE lower(c.name) = lower(?)", (name,))
            else:
                rows = self.database.query(base + " WHERE lower(c.name) = lower(?) AND c.brand_id = ?", (name, brand_id))
            as_id = _as_id(name)
            if not rows and as_id is not None:
                rows = self.database.query(base + " WHERE c.id = ?" + (" AND c.brand_id = ?" if brand_id else ""),
                                           (as_id, brand_id) if brand_id else (as_id,))
        if len(rows) > 1:
            brands = ", ".join(r["brand_name"] for r in rows)
            raise UserError(f"competitor {str(ref)!r} exists for several brands ({brands}); pass --brand")
        if not rows:
            scope = ""
            if brand_id is not None:
                scope = f" for brand {self.brand(brand_id)['name']!r}"
            raise NotFound(f"unknown competitor {str(ref)!r}{scope}")
        return rows[0]

    def competitors(self, brand_id: int | None = None) -> list[dict]:
        sql = "SELECT c.*, b.name AS brand_name FROM competitors c JOIN brands b ON b.id = c.brand_id"
        if brand_id is not None:
            return self.database.query(sql + " WHERE c.brand_id = ? ORDER BY lower(c.name), c.id", (brand_id,))
        return self.database.query(sql + " ORDER BY lower(b.name), lower(c.name), c.id")
