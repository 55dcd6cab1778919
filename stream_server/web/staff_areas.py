"""Area populations, which every per-1,000-residents figure divides by: staff keep them
current on ``/staff/areas`` (or scripts on ``/api/areas``), without a deploy."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from stream_server.catalog import service as catalog
from stream_server.errors import BadRequest, NotFound
from stream_server.staff import audit, scope
from stream_server.staff.service import StaffIdentity
from stream_server.web.auth import require_staff, require_staff_page
from stream_server.web.bodies import read_form
from stream_server.web.json_body import read_json_object
from stream_server.web.keys import DATABASE
from stream_server.web.rendering import language, render, translator
from stream_server.web.staff_pages import staff_page_context

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()


def _area_json(area: Any, lang: str = "fi") -> dict[str, Any]:
    return {
        "slug": area.slug,
        "name": area.name_en if lang == "en" else area.name_fi,
        "population": area.population,
    }


@routes.get("/api/areas")
async def list_areas(request: web.Request) -> web.Response:
    await require_staff(request)
    async with request.app[DATABASE].session() as db:
        areas = await catalog.list_areas(db)
    return web.json_response({"areas": [_area_json(a, language(request)) for a in areas]})


@routes.put("/api/areas/{slug}")
async def set_population(request: web.Request) -> web.Response:
    """``{"population": N}``; reports use the new figure at once."""
    identity = await require_staff(request)
    scope.require_everywhere(identity, "the area populations")
    body = await read_json_object(request)
    slug = request.match_info["slug"]
    try:
        async with request.app[DATABASE].session() as db:
            before = (await _populations(db)).get(slug)
            area = await catalog.set_area_population(db, slug, body.get("population"))
            result = _area_json(area, language(request))
            if before != area.population:
                await audit.record(
                    db,
                    identity,
                    "population",
                    "area",
                    slug,
                    {"population": before},
                    {"population": area.population},
                )
    except catalog.UnknownArea as exc:
        raise NotFound(str(exc), code="unknown_area") from None
    except catalog.CatalogError as exc:
        raise BadRequest(str(exc), code="invalid_population") from None
    logger.info("staff %s set the population of %s to %d", identity.name, slug, body["population"])
    return web.json_response(result)


async def _populations(db: Any) -> dict[str, int]:
    return {area.slug: area.population for area in await catalog.list_areas(db)}


async def _page(
    request: web.Request,
    identity: StaffIdentity,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    saved: bool = False,
    status: int = 200,
) -> web.Response:
    lang = language(request)
    async with request.app[DATABASE].session() as db:
        areas = await catalog.list_areas(db)
    rows = [
        {
            **_area_json(area, lang),
            "value": (typed or {}).get(area.slug, str(area.population)),
            "error": (errors or {}).get(area.slug),
        }
        for area in areas
    ]
    return render(
        request,
        "staff_areas.html",
        {
            **staff_page_context(request, identity, "/staff/areas", "areas.title"),
            "areas": rows,
            "saved": saved,
            "max_population": catalog.MAX_POPULATION,
            "may_edit": scope.everywhere(identity),
        },
        status=status,
    )


@routes.get("/staff/areas", name="staff_areas")
async def areas_page(request: web.Request) -> web.Response:
    identity = await require_staff_page(request)
    return await _page(request, identity, saved=request.query.get("saved") == "1")


@routes.post("/staff/areas")
async def save_areas(request: web.Request) -> web.StreamResponse:
    """All areas in one form; nothing is saved unless every field is valid."""
    identity = await require_staff(request)
    scope.require_everywhere(identity, "the area populations")
    form = await read_form(request)
    lang = language(request)
    typed = {
        str(key).removeprefix("population-"): str(value).strip()[:20]
        for key, value in form.items()
        if str(key).startswith("population-")
    }
    errors: dict[str, str] = {}
    async with request.app[DATABASE].session() as db:
        before = await _populations(db)
        known = set(before)
        for slug, text in typed.items():
            if slug not in known:
                continue  # an area removed meanwhile: nothing to save
            cleaned = text.replace(" ", "").replace("\u00a0", "")
            try:
                await catalog.set_area_population(
                    # ASCII digits only: "²" and "٣" are digits to str.isdigit, not to int().
                    db,
                    slug,
                    int(cleaned) if cleaned.isascii() and cleaned.isdigit() else text,
                )
            except catalog.CatalogError:
                errors[slug] = translator(request)(
                    "areas.invalid", max=f"{catalog.MAX_POPULATION:,}".replace(",", " ")
                )
        if errors:
            await db.rollback()
        else:
            after = await _populations(db)
            changed = [slug for slug in after if after[slug] != before[slug]]
            for slug in changed:
                await audit.record(
                    db,
                    identity,
                    "population",
                    "area",
                    slug,
                    {"population": before[slug]},
                    {"population": after[slug]},
                )
    if errors:
        logger.info("staff %s: area populations refused (%s)", identity.name, ", ".join(errors))
        return await _page(request, identity, errors=errors, typed=typed, status=400)
    logger.info("staff %s saved the area populations", identity.name)
    suffix = "&lang=en" if lang == "en" else ""
    raise web.HTTPSeeOther(f"/staff/areas?saved=1{suffix}")
