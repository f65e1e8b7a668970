"""A real OpenID provider for the tests (panva's certified `oidc-provider` from npm), run by
node on a loopback port: tests/support/oidc_provider.mjs is its configuration.

CI installs it next to axe-core (`npm install --no-save --prefix .ci/node oidc-provider@9`,
in .ci/run); SCREEN_OIDC_PROVIDER_MODULE points elsewhere. Without node or the package the
tests that need it skip with the reason, and fail under SCREEN_E2E_REQUIRED=1 (CI).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import LoggedProcess
from tests.support.smtp import free_port

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("oidc_provider.mjs")
MODULE = Path(
    os.environ.get("SCREEN_OIDC_PROVIDER_MODULE")
    or REPO / ".ci" / "node" / "node_modules" / "oidc-provider"
)
REQUIRED = os.environ.get("SCREEN_E2E_REQUIRED") == "1"
CLIENT_ID = "screen"
CLIENT_SECRET = "screen-test-client-secret-0123456789"
OTHER_CLIENT_ID = "another-app"
SCOPES = "openid email profile groups"

# The provider's people. `token` makes the provider's token endpoint hand out a token that
# must be refused (see oidc_provider.mjs).
ACCOUNTS: dict[str, dict[str, Any]] = {
    "lena": {
        "email": "lena.lead@example.test",
        "email_verified": True,
        "name": "Lena Lead",
        "groups": ["staff", "screen-leads"],
    },
    "rico": {
        "email": "rico.recruiter@example.test",
        "email_verified": True,
        "name": "Rico Recruiter",
        "groups": ["screen-recruiters"],
    },
    "nora": {
        "email": "nora.nogroup@example.test",
        "email_verified": True,
        "name": "Nora No-Group",
        "groups": ["marketing"],
    },
    "rita": {
        "email": "rita.reviewer@example.test",
        "email_verified": True,
        "name": "Rita Reviewer",
        "groups": [],
    },
    "max": {
        "email": "max.mixed@example.test",
        "email_verified": True,
        "name": "Max Mixed",
        "groups": ["screen-leads", "screen-recruiters"],
    },
    "dora": {
        "email": "dora.disabled@example.test",
        "email_verified": True,
        "name": "Dora Disabled",
        "groups": ["screen-leads"],
    },
    # Names a provider lets its users type: what Screen stores is cleaned like any name.
    "zed": {
        "email": "zed.zero@example.test",
        "email_verified": True,
        "name": "Zed\n\tZero\u202e\x07 ",
        "groups": ["screen-leads"],
    },
    "ivy": {
        "email": "ivy.invisible@example.test",
        "email_verified": True,
        "name": "\u200b\u2066\x00",
        "groups": ["screen-leads"],
    },
    "walt": {
        "email": "walt.wrongaud@example.test",
        "email_verified": True,
        "name": "Walt",
        "groups": ["screen-leads"],
        "token": "wrong-audience",
    },
    "eve": {
        "email": "eve.expired@example.test",
        "email_verified": True,
        "name": "Eve",
        "groups": ["screen-leads"],
        "token": "expired",
    },
}


def missing_provider() -> str | None:
    if shutil.which("node") is None:
        return "no node on PATH (Debian: apt-get install nodejs npm)"
    if not (MODULE / "lib" / "index.js").is_file():
        return (
            f"no oidc-provider at {MODULE} (npm install --no-save --prefix .ci/node "
            "oidc-provider@9, or set SCREEN_OIDC_PROVIDER_MODULE)"
        )
    return None


@dataclass
class OidcProvider:
    """`node oidc_provider.mjs` on a free loopback port, for the given redirect URIs."""

    redirect_uris: list[str]
    log_path: Path
    port: int = field(default_factory=free_port)
    child: LoggedProcess = field(init=False)

    def __post_init__(self) -> None:
        self.child = LoggedProcess("the OpenID provider", self.log_path, stop_within=10)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **overrides: str) -> dict[str, str]:
        """The settings a Screen server needs to use this provider."""
        return {
            "SCREEN_OIDC_ISSUER": self.issuer,
            "SCREEN_OIDC_CLIENT_ID": CLIENT_ID,
            "SCREEN_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "SCREEN_OIDC_SCOPES": SCOPES,
            "SCREEN_OIDC_ROLES_CLAIM": "groups",
            "SCREEN_OIDC_ROLE_MAP": "screen-leads=lead,screen-recruiters=recruiter",
            "SCREEN_OIDC_CREATE_ACCOUNTS": "1",
            "SCREEN_OIDC_DISPLAY_NAME": "Test Provider",
            **overrides,
        }

    def start(self) -> OidcProvider:
        config = {
            "port": self.port,
            "module": str(MODULE),
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": self.redirect_uris,
                },
                {
                    "client_id": OTHER_CLIENT_ID,
                    "client_secret": "another-app-secret-0123456789",
                    "redirect_uris": ["http://127.0.0.1:9/callback"],
                },
            ],
            "accounts": ACCOUNTS,
        }
        self.child.start(
            ["node", str(LAUNCHER), json.dumps(config)],
            ready_url=self.issuer + "/.well-known/openid-configuration",
            within=30,
        )
        return self

    def stop(self) -> None:
        self.child.stop()
