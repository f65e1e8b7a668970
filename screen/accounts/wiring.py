"""What the accounts feature contributes: the sign-in pages (password and single sign-on)
and the admin's API key page."""

from screen.accounts.api_key_pages import ApiKeyAdminController
from screen.accounts.oidc_pages import SsoController
from screen.accounts.pages import SignInController
from screen.platform.feature import Feature

FEATURE = Feature(
    name="accounts", route_handlers=[SignInController, SsoController, ApiKeyAdminController]
)
