"""What the report feature contributes: the report pages, the comparison table, shares."""

from screen.platform.feature import Feature
from screen.report.comparison_pages import ComparisonController, HiringController
from screen.report.pages import ReportController, SharedReportController

FEATURE = Feature(
    name="report",
    route_handlers=[
        ReportController,
        ComparisonController,
        SharedReportController,
        HiringController,
    ],
)
