"""Staff accounts, browser logins and API tokens (the domain; no aiohttp).

Passwords are kept as argon2id hashes; login cookies and API tokens are random secrets of
which only SHA-256 digests are stored, so a copy of the database lets nobody in.

A hash takes a tenth of a second or more of CPU. The server checks passwords through
:class:`PasswordHashing` backed by a small thread pool (argon2-cffi releases the GIL while it
hashes), so a flood of logins waits in the pool's queue instead of stopping the event loop
and the media on it; the command line hashes inline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import logging
import os
import secrets
import threading
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.basics import hash_secret, utcnow
from stream_server.db.engine import Database
from stream_server.db.models import (
    Organiser,
    StaffApiToken,
    StaffLogin,
    StaffRole,
    StaffUser,
    Venue,
)

#: Staff API tokens carry a prefix so that a bearer token's kind is known without a lookup.
API_TOKEN_PREFIX = "ks_"
#: A browser login lasts a working day and a half, then staff log in again.
LOGIN_LIFETIME = dt.timedelta(hours=12)
MIN_PASSWORD_LENGTH = 10
#: The hashing threads run this much nicer than the event loop (Linux nice is per thread), so
#: that when the cores are busy the scheduler serves media first and the logins wait.
HASH_THREAD_NICENESS = 10

logger = logging.getLogger(__name__)

_hasher = PasswordHasher()

T = TypeVar("T")


class StaffError(ValueError):
    pass


def _lower_thread_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed
        logger.debug("password hashing threads keep their priority: %s", exc)


def hashing_pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """The bounded pool the server hashes passwords in; the caller shuts it down."""
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=workers,
        thread_name_prefix="password-hash",
        initializer=_lower_thread_priority,
    )


def _hash(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> tuple[bool, bool]:
    """Whether the password matches, and whether its hash should be renewed."""
    try:
        _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, _hasher.check_needs_rehash(password_hash)


class PasswordHashing:
    """Where argon2 runs: in ``pool`` (the server's), or inline when there is none (CLI)."""

    def __init__(self, pool: concurrent.futures.Executor | None = None) -> None:
        self._pool = pool

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        if self._pool is None:
            return work(*args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def hash(self, password: str) -> str:
        return await self._run(_hash, password)

    async def verify(self, password_hash: str, password: str) -> tuple[bool, bool]:
        """Whether the password matches, and whether its hash should be renewed."""
        return await self._run(_verify, password_hash, password)


@dataclasses.dataclass(frozen=True)
class StaffIdentity:
    """Who is acting: a staff member, through a browser login or an API token.

    ``role`` with ``venue_id`` (a librarian's) or ``organiser_id`` (a coordinator's) is what
    :mod:`stream_server.staff.scope` decides with.
    """

    staff_id: int
    name: str
    csrf_token: str | None  # None for API tokens (no cookie, so no CSRF to defend against)
    role: StaffRole = StaffRole.ADMIN
    venue_id: int | None = None
    organiser_id: int | None = None


def identity_of(user: StaffUser, csrf_token: str | None) -> StaffIdentity:
    return StaffIdentity(
        user.id, user.name, csrf_token, StaffRole(user.role), user.venue_id, user.organiser_id
    )


@dataclasses.dataclass(frozen=True)
class NewLogin:
    secret: str
    csrf_token: str
    expires_at: dt.datetime


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 80 or any(c.isspace() for c in name):
        raise StaffError("a staff name is 1-80 characters without spaces")
    return name


async def add_staff(
    db: AsyncSession,
    name: str,
    password: str,
    role: StaffRole | str = StaffRole.ADMIN,
    venue: str | None = None,
    organiser: str | None = None,
) -> StaffUser:
    """Create an account; refuses duplicates and short passwords.

    A ``librarian`` names its venue and a ``coordinator`` its organiser (by slug); the other
    roles name neither.
    """
    name = _valid_name(name)
    try:
        role = StaffRole(role)
    except ValueError:
        roles = ", ".join(r.value for r in StaffRole)
        raise StaffError(f"the role must be one of {roles}, not {role!r}") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if await db.scalar(select(StaffUser.id).where(StaffUser.name == name)) is not None:
        raise StaffError(f"staff member {name!r} already exists")
    venue_id = organiser_id = None
    if role == StaffRole.LIBRARIAN:
        if not venue or organiser:
            raise StaffError("a librarian needs --venue (and no --organiser)")
        venue_id = await db.scalar(select(Venue.id).where(Venue.slug == venue))
        if venue_id is None:
            raise StaffError(f"unknown venue {venue!r}")
    elif role == StaffRole.COORDINATOR:
        if not organiser or venue:
            raise StaffError("a coordinator needs --organiser (and no --venue)")
        organiser_id = await db.scalar(select(Organiser.id).where(Organiser.slug == organiser))
        if organiser_id is None:
            raise StaffError(f"unknown organiser {organiser!r}")
    elif venue or organiser:
        raise StaffError(
            f"the role {role.value} covers every venue: give no --venue or --organiser"
        )
    user = StaffUser(
        name=name,
        password_hash=_hasher.hash(password),
        created_at=utcnow(),
        role=role,
        venue_id=venue_id,
        organiser_id=organiser_id,
    )
    db.add(user)
    await db.flush()
    return user


async def set_password(db: AsyncSession, name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    user = await _get_staff(db, name)
    user.password_hash = _hasher.hash(password)
    # A new password ends every browser login of the account.
    await db.execute(delete(StaffLogin).where(StaffLogin.staff_id == user.id))


async def _get_staff(db: AsyncSession, name: str) -> StaffUser:
    user = await db.scalar(select(StaffUser).where(StaffUser.name == name.strip()))
    if user is None:
        raise StaffError(f"no staff member {name!r}")
    return user


async def list_staff(db: AsyncSession) -> list[StaffUser]:
    return list((await db.scalars(select(StaffUser).order_by(StaffUser.name))).all())


async def check_password(db: AsyncSession, name: str, password: str) -> StaffUser | None:
    """The account if the password is right; None otherwise (same answer for unknown names).

    Hashes inline, for the command line; the server logs in with :func:`log_in`.
    """
    user = await db.scalar(select(StaffUser).where(StaffUser.name == name.strip()))
    if user is None or user.disabled_at is not None:
        # Spend the same time as a real check so that names cannot be probed by timing.
        _hasher.hash(password)
        return None
    matches, renew = _verify(user.password_hash, password)
    if not matches:
        return None
    if renew:
        user.password_hash = _hasher.hash(password)
    return user


async def log_in(
    database: Database, name: str, password: str, hashing: PasswordHashing
) -> NewLogin | None:
    """Check a password and start a browser login; None if the name or password is wrong.

    No database session is held while the hash is computed: during a flood the attempts
    wait for the hashing pool, not for database connections that attendance needs too.
    """
    async with database.session() as db:
        found = (
            await db.execute(
                select(StaffUser.id, StaffUser.password_hash).where(
                    StaffUser.name == name.strip(), StaffUser.disabled_at.is_(None)
                )
            )
        ).first()
    if found is None:
        # Spend the same time as a real check so that names cannot be probed by timing.
        await hashing.hash(password)
        return None
    staff_id, checked_hash = found
    matches, renew = await hashing.verify(checked_hash, password)
    if not matches:
        return None
    new_hash = await hashing.hash(password) if renew else None
    async with database.session() as db:
        user = await db.get(StaffUser, staff_id)
        # The password may have changed or the account been disabled while we hashed.
        if user is None or user.disabled_at is not None or user.password_hash != checked_hash:
            return None
        if new_hash is not None:
            user.password_hash = new_hash
        return await start_login(db, user)


async def start_login(
    db: AsyncSession, user: StaffUser, now: dt.datetime | None = None
) -> NewLogin:
    now = now or utcnow()
    secret = secrets.token_urlsafe(32)
    login = NewLogin(secret, secrets.token_urlsafe(32), now + LOGIN_LIFETIME)
    db.add(
        StaffLogin(
            staff_id=user.id,
            secret_hash=hash_secret(secret),
            csrf_token=login.csrf_token,
            created_at=now,
            expires_at=login.expires_at,
        )
    )
    # Expired logins of anyone are dropped here, so the table never grows without bound.
    await db.execute(delete(StaffLogin).where(StaffLogin.expires_at < now))
    await db.flush()
    return login


async def identify_login(
    db: AsyncSession, secret: str, now: dt.datetime | None = None
) -> StaffIdentity | None:
    now = now or utcnow()
    row = (
        await db.execute(
            select(StaffLogin, StaffUser)
            .join(StaffUser, StaffUser.id == StaffLogin.staff_id)
            .where(StaffLogin.secret_hash == hash_secret(secret))
        )
    ).first()
    if row is None:
        return None
    login, user = row
    if login.expires_at <= now or user.disabled_at is not None:
        return None
    return identity_of(user, login.csrf_token)


async def end_login(db: AsyncSession, secret: str) -> None:
    await db.execute(delete(StaffLogin).where(StaffLogin.secret_hash == hash_secret(secret)))


async def issue_api_token(db: AsyncSession, name: str) -> tuple[StaffApiToken, str]:
    """A new bearer token for scripts; the token itself is returned once and never stored."""
    user = await _get_staff(db, name)
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = StaffApiToken(staff_id=user.id, token_hash=hash_secret(token), created_at=utcnow())
    db.add(row)
    await db.flush()
    return row, token


async def revoke_api_token(db: AsyncSession, token_id: int) -> bool:
    result = await db.execute(
        update(StaffApiToken)
        .where(StaffApiToken.id == token_id, StaffApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_api_tokens(db: AsyncSession) -> list[tuple[StaffApiToken, str]]:
    rows = await db.execute(
        select(StaffApiToken, StaffUser.name)
        .join(StaffUser, StaffUser.id == StaffApiToken.staff_id)
        .order_by(StaffApiToken.id)
    )
    return [(token, name) for token, name in rows.all()]


async def identify_api_token(db: AsyncSession, token: str) -> StaffIdentity | None:
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    row = (
        await db.execute(
            select(StaffApiToken, StaffUser)
            .join(StaffUser, StaffUser.id == StaffApiToken.staff_id)
            .where(StaffApiToken.token_hash == hash_secret(token))
        )
    ).first()
    if row is None:
        return None
    api_token, user = row
    if api_token.revoked_at is not None or user.disabled_at is not None:
        return None
    api_token.last_used_at = utcnow()
    return identity_of(user, None)
