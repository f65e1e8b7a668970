"""What the accounts feature contributes: the sign-in pages (password and single sign-on),
the admin's API key page and organisation page, and the organisation's public logo and
colours."""

from screen.accounts.api_key_pages import ApiKeyAdminController
from screen.accounts.oidc_pages import SsoController
from screen.accounts.organisation_pages import (
    OrganisationAdminController,
    OrganisationPublicController,
)
from screen.accounts.pages import SignInController
from screen.platform.feature import Feature

FEATURE = Feature(
    name="accounts",
    route_handlers=[
        SignInController,
        SsoController,
        ApiKeyAdminController,
        OrganisationAdminController,
        OrganisationPublicController,
    ],
)
