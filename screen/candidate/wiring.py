"""What the candidate feature contributes: the link's pages (the attempt and its follow-up
questions) and the deadline sweep."""

from screen.candidate import jobs
from screen.candidate.follow_up_pages import FollowUpController
from screen.candidate.pages import CandidateController
from screen.platform.feature import Feature

FEATURE = Feature(
    name="candidate", route_handlers=[CandidateController, FollowUpController], jobs=jobs.JOBS
)
