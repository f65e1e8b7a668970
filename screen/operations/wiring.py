"""What the operations feature contributes: the admin's outbox page."""

from screen.operations.outbox_pages import OutboxAdminController
from screen.platform.feature import Feature

FEATURE = Feature(name="operations", route_handlers=[OutboxAdminController])
