"""What the candidate feature contributes: the link's pages and the deadline sweep."""

from screen.candidate import jobs
from screen.candidate.pages import CandidateController
from screen.platform.feature import Feature

FEATURE = Feature(name="candidate", route_handlers=[CandidateController], jobs=jobs.JOBS)
