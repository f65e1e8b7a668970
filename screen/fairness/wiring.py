"""What the fairness feature contributes: the candidate's optional questions after
submitting, and the adverse-impact page for leads and admins."""

from screen.fairness.about_you_pages import AboutYouController
from screen.fairness.pages import FairnessController
from screen.platform.feature import Feature

FEATURE = Feature(name="fairness", route_handlers=[AboutYouController, FairnessController])
