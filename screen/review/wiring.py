"""What the review feature contributes: the reviewer's and lead's pages, the lease
release, the similar-answer check that runs after each submission, the agreement figures
computed off the page, and the notifications
(digest, nudge, lead's list, a screen's chat channel) with their settings pages."""

from screen.platform.feature import Feature
from screen.review import (
    agreement_snapshots,
    exposure_probe,
    jobs,
    model_rater,
    notification_delivery,
    notifications,
    similar_answers,
)
from screen.review.agreement_pages import AgreementController, LeakController
from screen.review.authorship_pages import LeadRecordController, ReviewRecordController
from screen.review.calibration_pages import CalibrationController, CalibrationWaiverController
from screen.review.lead_pages import AdjudicationController, LeadController
from screen.review.library_pages import PromptLibraryController
from screen.review.model_pages import ModelWaiverController
from screen.review.notification_pages import ChatHookAdminController, NotificationSettingsController
from screen.review.pages import ReviewController

FEATURE = Feature(
    name="review",
    route_handlers=[
        ReviewController,
        LeadController,
        AdjudicationController,
        ReviewRecordController,
        LeadRecordController,
        AgreementController,
        LeakController,
        PromptLibraryController,
        CalibrationController,
        CalibrationWaiverController,
        NotificationSettingsController,
        ChatHookAdminController,
        ModelWaiverController,
    ],
    jobs=jobs.JOBS,
    outbox_handlers={
        similar_answers.SIMILARITY_CHECK: similar_answers.run_check,
        model_rater.MODEL_RATE: model_rater.rate_attempt,
        exposure_probe.MODEL_PROBE: exposure_probe.run_probe,
        agreement_snapshots.AGREEMENT_COMPUTE: agreement_snapshots.run_compute,
        notifications.NOTIFY_EMAIL: notification_delivery.send_notification_email,
        notifications.NOTIFY_CHAT: notification_delivery.post_to_chat,
    },
)
