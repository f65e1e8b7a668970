"""The one registry: every runner gets every job and every outbox handler from it."""

from __future__ import annotations

import pytest

from screen.accounts.staff_links import STAFF_LINK_EMAIL
from screen.fairness.snapshots import FAIRNESS_COMPUTE
from screen.platform import outbox
from screen.platform.feature import Feature
from screen.platform.jobs import InProcessRunner, Job
from screen.platform.signals import ATS_COMPLETED, WEBHOOK_DELIVER
from screen.recruiting.invitations import INVITATION_EMAIL, REMINDER_EMAIL
from screen.registry import FEATURES, REGISTRY, build
from screen.review.agreement_snapshots import AGREEMENT_COMPUTE
from screen.review.exposure_probe import MODEL_PROBE
from screen.review.model_rater import MODEL_RATE
from screen.review.notifications import NOTIFY_CHAT, NOTIFY_EMAIL
from screen.review.similar_answers import SIMILARITY_CHECK
from screen.worker import WorkerSettings


def test_every_kind_of_outbox_event_the_app_writes_has_a_handler() -> None:
    written = {
        INVITATION_EMAIL,
        REMINDER_EMAIL,
        SIMILARITY_CHECK,
        WEBHOOK_DELIVER,
        ATS_COMPLETED,
        NOTIFY_EMAIL,
        NOTIFY_CHAT,
        STAFF_LINK_EMAIL,
        AGREEMENT_COMPUTE,
        FAIRNESS_COMPUTE,
        MODEL_RATE,
        MODEL_PROBE,
    }
    assert set(REGISTRY.outbox_handlers) == written


def test_the_arq_worker_runs_exactly_the_registry_s_jobs_and_crons() -> None:
    names = {job.name for job in REGISTRY.jobs}
    periodic = {job.name for job in REGISTRY.jobs if job.cron_seconds is not None}

    assert {f.name for f in WorkerSettings.functions} == names
    assert {c.name for c in WorkerSettings.cron_jobs} == {f"cron:{name}" for name in periodic}
    assert periodic == {
        "sweep_deadlines",
        "send_reminders",
        "release_review_leases",
        "send_notifications",
        "apply_retention",
        "refresh_agreement",
        "refresh_fairness",
        "relay_outbox",
    }
    # What arq must not retry on its own is said in code: a job's tries and timeout.
    deliver = next(f for f in WorkerSettings.functions if f.name == "deliver_outbox_event")
    assert (deliver.max_tries, deliver.timeout_s) == (5, 60)


def test_in_one_in_process_tick_the_relay_runs_last() -> None:
    runner = InProcessRunner(REGISTRY.jobs, interval_seconds=3600)
    assert runner.periodic[-1].name == "relay_outbox"
    assert len(runner.periodic) == 8


async def _noop(ctx: object) -> None:
    return None


def test_a_job_or_outbox_kind_declared_twice_is_refused() -> None:
    twice = Feature(name="copy", jobs=[Job(_noop)])
    with pytest.raises(ValueError, match="job '_noop' is declared twice"):
        build([twice, twice])
    handler = Feature(name="mail again", outbox_handlers={INVITATION_EMAIL: outbox.deliver})
    with pytest.raises(ValueError, match=r"outbox kind 'invitation\.email' has two handlers"):
        build([*FEATURES, handler])


def test_every_feature_s_routes_are_mounted_once() -> None:
    handlers = [handler for feature in FEATURES for handler in feature.route_handlers]
    assert list(REGISTRY.route_handlers) == handlers
    assert len(set(map(id, handlers))) == len(handlers)
