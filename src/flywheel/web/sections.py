"""How the console is put together: sections (pages + navigation) and what they add to the overview.

A domain's pages plug in as one `Section`: its router, its navigation entry, the
permission needed to see it, and optionally tiles (headline numbers) and panels (boxes)
on the overview. `flywheel.web.console.SECTIONS` lists them in navigation order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from flywheel.auth.roles import Permission
from flywheel.web.errors import ConsoleRoute
from flywheel.web.security import Viewer

# The overview puts the app's settings on its session under this key, for tiles and panels that
# need them (service levels read SLIs from Prometheus).
SETTINGS_KEY = "flywheel.settings"


def console_router() -> APIRouter:
    """A router for console pages: its errors become pages, not JSON."""
    return APIRouter(route_class=ConsoleRoute)


@dataclass(frozen=True)
class Tile:
    """A headline number on the overview, linking to where it comes from."""

    label: str
    value: int | str
    href: str
    tone: str = "neutral"  # neutral | good | warn | bad


@dataclass(frozen=True)
class Panel:
    """A box on the overview: a template fragment and the function that loads its data."""

    title: str
    template: str
    load: Callable[[Session, Viewer], Mapping[str, Any]]
    permission: Permission | None = None
    wide: bool = False
    order: int = 50  # place on the overview: lower comes first


@dataclass(frozen=True)
class Section:
    """One area of the console."""

    label: str
    path: str
    router: APIRouter
    permission: Permission | None = None
    tiles: Callable[[Session, Viewer], list[Tile]] | None = None
    panels: tuple[Panel, ...] = field(default_factory=tuple)
    in_navigation: bool = True


@dataclass(frozen=True)
class NavItem:
    """A navigation link."""

    label: str
    path: str


class Console:
    """The sections of this console, and what a viewer may see of them."""

    def __init__(self, sections: list[Section]) -> None:
        self.sections = sections

    def visible(self, viewer: Viewer) -> list[Section]:
        """The sections the viewer's role lets them open."""
        return [s for s in self.sections if s.permission is None or viewer.can(s.permission)]

    def navigation(self, viewer: Viewer) -> list[NavItem]:
        """The navigation links for the viewer."""
        return [NavItem(s.label, s.path) for s in self.visible(viewer) if s.in_navigation]

    def tiles(self, session: Session, viewer: Viewer) -> list[Tile]:
        """Every visible section's headline numbers."""
        return [t for s in self.visible(viewer) if s.tiles for t in s.tiles(session, viewer)]

    def panels(self, session: Session, viewer: Viewer) -> list[tuple[Panel, Mapping[str, Any]]]:
        """Every visible panel with its data."""
        found = []
        for section in self.visible(viewer):
            for panel in section.panels:
                if panel.permission is None or viewer.can(panel.permission):
                    found.append((panel, panel.load(session, viewer)))
        return sorted(found, key=lambda item: item[0].order)
