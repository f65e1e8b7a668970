"""What the operations feature contributes: the admin's outbox page, and a candidate's
data on request (erasure, access) with the retention policy that erases it in time."""

from screen.operations import retention
from screen.operations.outbox_pages import OutboxAdminController
from screen.operations.privacy_pages import CandidateDataController, PrivacyAdminController
from screen.platform.feature import Feature

FEATURE = Feature(
    name="operations",
    route_handlers=[OutboxAdminController, CandidateDataController, PrivacyAdminController],
    jobs=retention.JOBS,
)
