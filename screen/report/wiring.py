"""What the report feature contributes: the report pages, the comparison table, shares."""

from screen.platform.feature import Feature

FEATURE = Feature(name="report", route_handlers=[])
