"""Each contact's data key for its journeys' Temporal payloads: created on first use, stored
wrapped by the master key, cached per process, destroyed by erasure."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Collection

from cachetools import TTLCache
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sojourn.data.db import statement_by_statement
from sojourn.data.models import ContactKey
from sojourn.settings import Settings

NONCE_BYTES = 12  # AES-GCM's standard nonce, random per encryption
_PER_STATEMENT = 5_000  # contacts per statement: three parameters each, under Postgres's 32,767
_KEYS = select(ContactKey.external_id, ContactKey.key_id, ContactKey.wrapped_key)


class ContactKeys:
    """Data keys by contact (to encrypt) and by key id (to decrypt). A cached key outlives its
    row by at most `ttl` seconds in other processes; `forget` drops it here at once."""

    def __init__(self, engine: AsyncEngine, master_key: bytes, *, cache_size: int, ttl: float) -> None:
        self._engine = engine
        self._master = AESGCM(master_key)
        self._by_contact: TTLCache[str, tuple[str, AESGCM]] = TTLCache(cache_size, ttl)
        self._by_id: TTLCache[str, AESGCM] = TTLCache(cache_size, ttl)

    @classmethod
    def from_settings(cls, engine: AsyncEngine, settings: Settings) -> ContactKeys:
        return cls(engine, base64.b64decode(settings.payload_master_key),
                   cache_size=settings.payload_key_cache_size, ttl=settings.payload_key_cache_seconds)

    async def for_contact(self, external_id: str) -> tuple[str, AESGCM]:
        """The contact's key id and cipher, its key created if it has none."""
        if (cached := self._by_contact.get(external_id)) is None:
            await self.ensure([external_id])
            cached = self._by_contact[external_id]
        return cached

    async def ensure(self, external_ids: Collection[str]) -> None:
        """Cache these contacts' keys, creating those they lack: three statements per 5,000 contacts
        at most, one when all have keys (enrolling or signalling a thousand would otherwise read or
        create each key in a transaction of its own)."""
        external_ids = list(external_ids)
        for start in range(0, len(external_ids), _PER_STATEMENT):
            await self._ensure(external_ids[start:start + _PER_STATEMENT])

    async def _ensure(self, external_ids: list[str]) -> None:
        await self._read(external_ids)
        missing = {external_id for external_id in external_ids if external_id not in self._by_contact}
        if not missing:
            return
        new_keys = []
        for external_id in missing:
            key_id = str(uuid.uuid4())
            new_keys.append({"key_id": key_id, "external_id": external_id,
                             "wrapped_key": self._wrap(key_id, AESGCM.generate_key(bit_length=256))})
        async with statement_by_statement(self._engine) as conn:
            # Concurrent first uses race here; the unique external id keeps the first key.
            await conn.execute(insert(ContactKey).values(new_keys)
                               .on_conflict_do_nothing(index_elements=["external_id"]))
        await self._read(missing)

    async def _read(self, external_ids: Collection[str]) -> None:
        """Cache the keys these contacts have that are not cached yet, read in one statement."""
        missing = [external_id for external_id in set(external_ids) if external_id not in self._by_contact]
        if not missing:
            return
        async with statement_by_statement(self._engine) as conn:
            rows = (await conn.execute(_KEYS.where(ContactKey.external_id.in_(missing)))).all()
        for row in rows:
            self._remember(row)

    async def by_id(self, key_id: str) -> AESGCM | None:
        """The cipher of key `key_id`, or None when it was destroyed (or never existed). Its
        contact's key is cached too: a worker that decodes a run's input seals its results next."""
        if (cached := self._by_id.get(key_id)) is not None:
            return cached
        async with statement_by_statement(self._engine) as conn:
            row = (await conn.execute(_KEYS.where(ContactKey.key_id == key_id))).one_or_none()
        return None if row is None else self._remember(row)[1]

    def _remember(self, row: Row) -> tuple[str, AESGCM]:
        cipher = AESGCM(self._unwrap(row.key_id, row.wrapped_key))
        self._by_id[row.key_id] = cipher
        self._by_contact[row.external_id] = (row.key_id, cipher)
        return row.key_id, cipher

    def forget(self, external_id: str) -> None:
        """Drop the contact's key from this process's cache (after `destroy` committed)."""
        if (cached := self._by_contact.pop(external_id, None)) is not None:
            self._by_id.pop(cached[0], None)

    def _wrap(self, key_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._master.encrypt(nonce, data_key, key_id.encode())

    def _unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        return self._master.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], key_id.encode())


async def destroy(session: AsyncSession, external_id: str) -> None:
    """Delete the contact's data key in the caller's transaction: once committed, the payloads
    encrypted with it can be read by no one."""
    await session.execute(delete(ContactKey).where(ContactKey.external_id == external_id))
