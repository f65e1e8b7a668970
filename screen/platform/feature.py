"""What a feature package contributes to the app and the workers, declared in one value.

Each feature's `wiring` module builds one `Feature`; `screen.registry` gathers them.
Nothing registers itself by being imported: what is not listed here does not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from litestar.types import ControllerRouterHandler

from screen.platform.jobs import Job
from screen.platform.outbox import Handler


@dataclass(frozen=True)
class Feature:
    name: str
    route_handlers: Sequence[ControllerRouterHandler] = ()
    jobs: Sequence[Job] = ()
    # Outbox event kind → the function that delivers it.
    outbox_handlers: Mapping[str, Handler] = field(default_factory=dict)
