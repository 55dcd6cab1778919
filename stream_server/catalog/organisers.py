"""Organisers: who produces an activity (a city service, an association, a partner
organisation or residents themselves), each with a library contact person.

The reports' "organisers" figure counts the distinct organisers of the sessions counted,
so these records are what it names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stream_server.db.models import Organiser, OrganiserKind
from stream_server.errors import InvalidField, NotFound
from stream_server.staff import audit, scope
from stream_server.staff.service import StaffIdentity

KINDS = tuple(kind.value for kind in OrganiserKind)
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EDITABLE = ("name", "kind", "contact_person", "contact_email")


def slugify(name: str) -> str:
    """``Eläkeläisyhdistys Kuopio ry`` → ``elakelaisyhdistys-kuopio-ry``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")


def organiser_json(organiser: Organiser) -> dict[str, Any]:
    return {
        "slug": organiser.slug,
        "name": organiser.name,
        "kind": organiser.kind.value,
        "contact_person": organiser.contact_person,
        "contact_email": organiser.contact_email,
    }


async def list_organisers(db: AsyncSession) -> list[Organiser]:
    return list((await db.scalars(select(Organiser).order_by(Organiser.name))).all())


async def get_organiser(db: AsyncSession, slug: str) -> Organiser:
    organiser = await db.scalar(select(Organiser).where(Organiser.slug == slug))
    if organiser is None:
        raise NotFound(f"no organiser {slug[:60]!r}", code="unknown_organiser")
    return organiser


def _checked(values: Mapping[str, Any]) -> dict[str, Any]:
    """The given editable fields, checked (:class:`InvalidField` names the wrong one)."""
    checked: dict[str, Any] = {}
    for field in values:
        if field not in (*EDITABLE, "slug"):
            raise InvalidField(field, f"unknown field {field[:40]!r}")
    if "name" in values:
        name = values["name"]
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 160:
            raise InvalidField("name", "the name is 1-160 characters")
        checked["name"] = name.strip()
    if "kind" in values:
        if values["kind"] not in KINDS:
            raise InvalidField("kind", "kind must be one of " + ", ".join(KINDS))
        checked["kind"] = OrganiserKind(values["kind"])
    if "contact_person" in values:
        person = values["contact_person"]
        if not isinstance(person, str) or len(person.strip()) > 160:
            raise InvalidField("contact_person", "the contact person is at most 160 characters")
        checked["contact_person"] = person.strip()
    if "contact_email" in values:
        email = values["contact_email"]
        if not isinstance(email, str) or (email.strip() and not EMAIL_PATTERN.match(email.strip())):
            raise InvalidField("contact_email", "the contact e-mail is not an e-mail address")
        if len(email.strip()) > 254:
            raise InvalidField("contact_email", "the contact e-mail is too long")
        checked["contact_email"] = email.strip()
    return checked


async def add_organiser(
    db: AsyncSession, actor: StaffIdentity | None, values: Mapping[str, Any]
) -> Organiser:
    """A new organiser; the slug is made from the name unless given."""
    scope.require_manage_organisers(actor)
    checked = _checked(values)
    if "name" not in checked:
        raise InvalidField("name", "the name is required")
    if "kind" not in checked:
        raise InvalidField("kind", "kind must be one of " + ", ".join(KINDS))
    slug = values.get("slug") or slugify(checked["name"])
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug) or len(slug) > 60:
        raise InvalidField("slug", "a slug is lower-case letters, digits and dashes")
    if await db.scalar(select(Organiser.id).where(Organiser.slug == slug)) is not None:
        raise InvalidField("slug", f"an organiser {slug!r} already exists")
    organiser = Organiser(
        slug=slug,
        name=checked["name"],
        kind=checked["kind"],
        contact_person=checked.get("contact_person", ""),
        contact_email=checked.get("contact_email", ""),
    )
    db.add(organiser)
    await db.flush()
    await audit.record(db, actor, "add", "organiser", slug, None, organiser_json(organiser))
    return organiser


async def edit_organiser(
    db: AsyncSession, actor: StaffIdentity | None, slug: str, values: Mapping[str, Any]
) -> Organiser:
    scope.require_manage_organisers(actor)
    organiser = await get_organiser(db, slug)
    if "slug" in values and values["slug"] != slug:
        raise InvalidField("slug", "an organiser's slug cannot be changed")
    checked = _checked(values)
    before = organiser_json(organiser)
    for field, value in checked.items():
        setattr(organiser, field, value)
    await db.flush()
    after = organiser_json(organiser)
    if after != before:
        await audit.record(db, actor, "edit", "organiser", slug, before, after)
    return organiser
