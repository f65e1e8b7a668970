"""Every outbox handler, registered by importing the module that defines it.

Handlers register themselves with `outbox.handles` when their module is imported. The web
app imports them all through its controllers; `screen worker` imports this module, so it
knows every kind of event the app writes too. A worker that imported only what its jobs import
knew the emails but not webhooks or the ATS callback: those rows waited 27 hours and died.
A module that adds a handler is added here.
"""

from __future__ import annotations

from screen import ats_api, invitations, similar_answers, webhooks  # noqa: F401
