"""The one registry: every feature's routes, jobs and outbox handlers, gathered here once.

The app factory, the arq worker, the tests and the bench all read `REGISTRY`; nothing
registers itself by being imported. A new route, job or outbox handler is added to its
feature's `wiring` module, and from there reaches every runner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from litestar.types import ControllerRouterHandler

from screen.accounts import wiring as accounts
from screen.candidate import wiring as candidate
from screen.fairness import wiring as fairness
from screen.operations import wiring as operations
from screen.pipeline import wiring as pipeline
from screen.platform import wiring as platform
from screen.platform.feature import Feature
from screen.platform.jobs import Job
from screen.platform.outbox import Handler
from screen.recruiting import wiring as recruiting
from screen.report import wiring as report
from screen.review import wiring as review

# The platform comes last: within an in-process tick the features' sweeps queue
# their side effects first, then the outbox relay sends them.
FEATURES: tuple[Feature, ...] = (
    accounts.FEATURE,
    candidate.FEATURE,
    review.FEATURE,
    recruiting.FEATURE,
    report.FEATURE,
    pipeline.FEATURE,
    operations.FEATURE,
    fairness.FEATURE,
    platform.FEATURE,
)


@dataclass(frozen=True)
class Registry:
    route_handlers: Sequence[ControllerRouterHandler]
    jobs: Sequence[Job]
    outbox_handlers: Mapping[str, Handler]

    def job(self, name: str) -> Job:
        return next(job for job in self.jobs if job.name == name)


def build(features: Sequence[Feature]) -> Registry:
    """Gather the features' contributions; two of anything with one name is refused, so a
    copy-pasted job or handler cannot silently replace another."""
    jobs: dict[str, Job] = {}
    handlers: dict[str, Handler] = {}
    for feature in features:
        for job in feature.jobs:
            if job.name in jobs:
                raise ValueError(f"job {job.name!r} is declared twice ({feature.name})")
            jobs[job.name] = job
        for kind, handler in feature.outbox_handlers.items():
            if kind in handlers:
                raise ValueError(f"outbox kind {kind!r} has two handlers ({feature.name})")
            handlers[kind] = handler
    return Registry(
        route_handlers=[handler for f in features for handler in f.route_handlers],
        jobs=tuple(jobs.values()),
        outbox_handlers=handlers,
    )


REGISTRY = build(FEATURES)
