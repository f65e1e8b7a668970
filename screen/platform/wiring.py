"""What the platform itself contributes: health, readiness and metrics, and the outbox's
own jobs (the relay and the delivery of one event)."""

from __future__ import annotations

from screen.platform import outbox
from screen.platform.feature import Feature
from screen.platform.observability import healthz, metrics, readyz

FEATURE = Feature(name="platform", route_handlers=[healthz, readyz, metrics], jobs=outbox.JOBS)
