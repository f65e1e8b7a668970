"""What the recruiting feature contributes: the recruiter's pages, reminders, and the
invitation and reminder emails."""

from screen.platform.feature import Feature
from screen.recruiting import invitations, jobs
from screen.recruiting.pages import RecruiterController

FEATURE = Feature(
    name="recruiting",
    route_handlers=[RecruiterController],
    jobs=jobs.JOBS,
    outbox_handlers={
        invitations.INVITATION_EMAIL: invitations.send_invitation_email,
        invitations.REMINDER_EMAIL: invitations.send_invitation_email,
    },
)
