"""What the pipeline feature contributes: exports, the webhook admin pages, the ATS partner
API, and the deliveries of webhooks and of the ATS completion callback."""

from screen.pipeline import ats, ats_api, webhooks
from screen.pipeline.export_pages import ExportController
from screen.pipeline.webhook_pages import WebhookAdminController
from screen.platform.feature import Feature
from screen.platform.signals import ATS_COMPLETED, WEBHOOK_DELIVER

FEATURE = Feature(
    name="pipeline",
    route_handlers=[ExportController, WebhookAdminController, ats_api.AtsController],
    outbox_handlers={
        WEBHOOK_DELIVER: webhooks.deliver_webhook,
        ATS_COMPLETED: ats.notify_ats,
    },
)
