"""What the accounts feature contributes: the sign-in pages (password and single sign-on),
the admin's staff account, API key and organisation pages, the organisation's public logo
and colours, and the email that carries staff invitation and reset links."""

from screen.accounts import staff_links
from screen.accounts.api_key_pages import ApiKeyAdminController
from screen.accounts.oidc_pages import SsoController
from screen.accounts.organisation_pages import (
    OrganisationAdminController,
    OrganisationPublicController,
)
from screen.accounts.pages import SignInController
from screen.accounts.staff_pages import ReauthController, StaffAdminController, StaffLinkController
from screen.platform.feature import Feature

FEATURE = Feature(
    name="accounts",
    route_handlers=[
        SignInController,
        SsoController,
        StaffLinkController,
        StaffAdminController,
        ReauthController,
        ApiKeyAdminController,
        OrganisationAdminController,
        OrganisationPublicController,
    ],
    outbox_handlers={staff_links.STAFF_LINK_EMAIL: staff_links.send_link_email},
)
