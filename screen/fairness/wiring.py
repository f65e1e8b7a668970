"""What the fairness feature contributes: the candidate's optional questions after
submitting, and the adverse-impact page for leads and admins with the job that computes
its figures off the page."""

from screen.fairness import jobs, snapshots
from screen.fairness.about_you_pages import AboutYouController
from screen.fairness.pages import FairnessController
from screen.platform.feature import Feature

FEATURE = Feature(
    name="fairness",
    route_handlers=[AboutYouController, FairnessController],
    jobs=jobs.JOBS,
    outbox_handlers={snapshots.FAIRNESS_COMPUTE: snapshots.run_compute},
)
