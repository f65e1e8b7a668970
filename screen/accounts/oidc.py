"""Single sign-on with OpenID Connect: the authorization code flow with PKCE, as a
confidential client (docs/single-sign-on.md).

`begin` stores what the callback must match (the state, by hash; the nonce; the PKCE
verifier) in `sso_logins` and sends the browser to the provider; the same state also goes
into a short-lived cookie, so a callback is accepted only in the browser that started it.
`finish` consumes that row (each state works once), exchanges the code, verifies the ID
token (signature against the provider's JWKS, issuer, audience, expiry and issue time
within the configured clock skew, nonce), finds the user by (issuer, subject), else by a
verified email when allowed, else makes the account when allowed, refuses disabled users
and opens a session exactly as a password sign-in does.

Authlib supplies the PKCE challenge and the checks on the discovery document; joserfc
(Authlib's JOSE implementation) verifies the token. HTTP goes through httpx, as the rest
of the app's outgoing calls do.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts import users
from screen.platform import audit
from screen.platform.errors import InputError, ScreenError
from screen.platform.models import Role, SsoIdentity, SsoLogin, User
from screen.platform.text import normalise_email, one_line
from screen.platform.tokens import hash_token, new_token
from screen.settings import Settings

CALLBACK_PATH = "/signin/oidc/callback"
STATE_COOKIE = "screen_sso_state"
# Long enough to type a password and answer a second factor at the provider.
LOGIN_TTL = timedelta(minutes=10)
DISCOVERY_TTL = timedelta(hours=1)
# A key the provider rotated in is fetched at once, but no more often than this.
JWKS_REFETCH = timedelta(seconds=30)
HTTP_TIMEOUT = 10.0
# Asymmetric algorithms only: an HS256 token "signed" with the client secret, or one with
# alg "none", is refused whatever the provider advertises.
ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]
MAX_PARAM = 4096


class SsoError(ScreenError):
    """A sign-in through the provider that did not work; nothing of ours is signed in.
    The consumed state and the audit record of a refusal are kept."""

    status_code = 400
    code = "sso_failed"
    keeps_changes = True


class SsoRefusedError(SsoError):
    """The provider vouched for the person, but Screen will not let them in."""

    status_code = 403
    code = "sso_refused"


class ProviderUnavailableError(ScreenError):
    status_code = 502
    code = "sso_provider_unavailable"
    keeps_changes = True


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    auth_method: str


def redirect_uri(settings: Settings) -> str:
    return settings.base_url + CALLBACK_PATH


class OidcClient:
    """One per app: caches the discovery document and the provider's keys. The provider
    is asked on the first sign-in, not at start-up, so Screen starts (and password
    sign-in works) while the provider is down."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
            raise ValueError("single sign-on is not configured")  # Settings.check says so first
        self.settings = settings
        self.issuer: str = settings.oidc_issuer
        self.client_id: str = settings.oidc_client_id
        self.client_secret: str = settings.oidc_client_secret
        self._transport = transport
        self._metadata: ProviderMetadata | None = None
        self._metadata_until: datetime | None = None
        self._keys: KeySet | None = None
        self._keys_at: datetime | None = None
        self._lock = asyncio.Lock()

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=HTTP_TIMEOUT, transport=self._transport, follow_redirects=False
        )

    async def _get_json(self, url: str, what: str, **headers: str) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json", **headers})
        except httpx.HTTPError:
            raise ProviderUnavailableError(
                f"Could not reach the sign-in provider ({what}). Please try again in a moment, "
                "or sign in with your password if that is enabled."
            ) from None
        if response.status_code != 200:
            raise ProviderUnavailableError(
                f"The sign-in provider answered {response.status_code} for its {what}. "
                "Please try again in a moment."
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderUnavailableError(f"The sign-in provider's {what} is not a JSON object.")
        return body

    async def metadata(self, now: datetime) -> ProviderMetadata:
        async with self._lock:
            if self._metadata and self._metadata_until and now < self._metadata_until:
                return self._metadata
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url, "discovery document")
            checked = OpenIDProviderMetadata(document)
            try:
                checked.validate_issuer()
                checked.validate_authorization_endpoint()
                checked.validate_token_endpoint()
                checked.validate_jwks_uri()
                checked.validate_response_types_supported()
                checked.validate_code_challenge_methods_supported()
            except ValueError as error:
                raise ProviderUnavailableError(
                    f"The sign-in provider's discovery document is not usable: {error}"
                ) from None
            # OpenID Connect Discovery 4.3: the document must name the issuer it was
            # fetched for, or its tokens would be checked against someone else's name.
            if document["issuer"] != self.issuer:
                raise ProviderUnavailableError(
                    f"The provider at SCREEN_OIDC_ISSUER calls itself {document['issuer']!r}; "
                    "set SCREEN_OIDC_ISSUER to exactly that."
                )
            methods = document.get("code_challenge_methods_supported")
            if methods is not None and "S256" not in methods:
                raise ProviderUnavailableError(
                    "The sign-in provider does not support PKCE with S256, which Screen requires."
                )
            auth_methods = document.get("token_endpoint_auth_methods_supported") or [
                "client_secret_basic"
            ]
            self._metadata = ProviderMetadata(
                issuer=document["issuer"],
                authorization_endpoint=document["authorization_endpoint"],
                token_endpoint=document["token_endpoint"],
                jwks_uri=document["jwks_uri"],
                userinfo_endpoint=document.get("userinfo_endpoint"),
                end_session_endpoint=document.get("end_session_endpoint"),
                auth_method=(
                    "client_secret_basic"
                    if "client_secret_basic" in auth_methods
                    else "client_secret_post"
                ),
            )
            self._metadata_until = now + DISCOVERY_TTL
            return self._metadata

    async def key_set(self, now: datetime, *, refresh: bool = False) -> KeySet:
        async with self._lock:
            fresh_enough = self._keys_at is not None and now - self._keys_at < JWKS_REFETCH
            if self._keys is not None and (not refresh or fresh_enough):
                return self._keys
            if self._metadata is None:
                raise ProviderUnavailableError("The sign-in provider's keys are not known yet.")
            document = await self._get_json(self._metadata.jwks_uri, "signing keys")
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError):
                raise ProviderUnavailableError(
                    "The sign-in provider's signing keys (JWKS) could not be read."
                ) from None
            self._keys_at = now
            return self._keys

    async def exchange(self, meta: ProviderMetadata, code: str, verifier: str) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri(self.settings),
            "code_verifier": verifier,
        }
        auth: httpx.Auth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if meta.auth_method == "client_secret_basic":
            # RFC 6749 2.3.1: both parts form-encoded before the Basic header.
            auth = httpx.BasicAuth(_form_encode(self.client_id), _form_encode(self.client_secret))
        else:
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        try:
            async with self._http() as http:
                response = await http.post(
                    meta.token_endpoint,
                    data=form,
                    auth=auth,
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError:
            raise ProviderUnavailableError(
                "Could not reach the sign-in provider to finish signing in. Please try again."
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            said = (
                body.get("error_description") or body.get("error")
                if isinstance(body, dict)
                else None
            )
            raise SsoError(
                "The sign-in provider did not accept this sign-in"
                + (f" ({str(said)[:200]})" if said else f" (HTTP {response.status_code})")
                + ". Start again from the sign-in page."
            )
        if not isinstance(body.get("id_token"), str):
            raise SsoError("The sign-in provider sent no ID token; is the scope openid requested?")
        return body

    async def verify_id_token(
        self, meta: ProviderMetadata, id_token: str, *, nonce: str, now: datetime
    ) -> dict[str, Any]:
        token = await self._verified_signature(id_token, now)
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=self.settings.oidc_clock_skew_seconds,
            iss={"essential": True, "value": meta.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise SsoError(
                "The sign-in provider's ID token has expired (or the provider's clock and "
                "Screen's differ by more than the allowed skew). Start again from the sign-in "
                "page; if it keeps happening, ask an admin to check the clocks."
            ) from None
        except (InvalidClaimError, MissingClaimError) as error:
            claim = getattr(error, "claim", "")
            raise SsoError(
                _CLAIM_PROBLEMS.get(claim, f"The ID token's {claim!r} claim is wrong.")
            ) from None
        except JoseError:
            raise SsoError("The sign-in provider's ID token is not valid.") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        # OpenID Connect Core 3.1.3.7: with several audiences, the token must say it was
        # issued to us (azp); if it names a party at all, that must be us.
        if (len(audiences) > 1 and azp is None) or (azp is not None and azp != self.client_id):
            raise SsoError(_CLAIM_PROBLEMS["aud"])
        if not isinstance(claims["sub"], str) or not 1 <= len(claims["sub"]) <= 255:
            raise SsoError("The ID token's subject is not usable.")
        return claims

    async def _verified_signature(self, id_token: str, now: datetime) -> jwt.Token:
        for refresh in (False, True):
            keys = await self.key_set(now, refresh=refresh)
            try:
                return jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except (BadSignatureError, ValueError, KeyError) as error:
                # An unknown kid: the provider may have rotated its keys; fetch them once.
                last: Exception = error
                continue
            except (InvalidTokenError, JoseError) as error:
                last = error
                break
        raise SsoError(
            "The sign-in provider's ID token did not verify against its published keys."
        ) from last

    async def userinfo(
        self, meta: ProviderMetadata, access_token: str, subject: str
    ) -> dict[str, Any]:
        """Claims the provider keeps out of the ID token when it also issues an access
        token (OpenID Connect Core 5.4), such as email and groups. Never trusted for
        another subject."""
        if not meta.userinfo_endpoint:
            return {}
        body = await self._get_json(
            meta.userinfo_endpoint, "user info", Authorization=f"Bearer {access_token}"
        )
        return body if body.get("sub") == subject else {}


_CLAIM_PROBLEMS = {
    "aud": "The ID token was issued for another application (its audience is not this "
    "Screen's client id). Nothing was signed in.",
    "iss": "The ID token was issued by another provider than the one configured.",
    "nonce": "The ID token does not belong to this sign-in (nonce mismatch). Start again "
    "from the sign-in page.",
    "iat": "The ID token's issue time is in the future (the provider's clock and Screen's "
    "differ by more than the allowed skew).",
    "exp": "The ID token has no valid expiry.",
    "sub": "The ID token names no subject.",
}


def _form_encode(value: str) -> str:
    return urlencode({"": value})[1:]


def client_for(state: Any, settings: Settings) -> OidcClient:
    """The app's one client, made on first use (the composition root stays unaware)."""
    client: OidcClient | None = getattr(state, "sso_client", None)
    if client is None:
        client = OidcClient(settings)
        state.sso_client = client
    return client


async def begin(
    db: AsyncSession, client: OidcClient, *, now: datetime, next_path: str
) -> tuple[str, str]:
    """Where to send the browser, and the state to put in its cookie."""
    meta = await client.metadata(now)
    state = new_token()
    nonce = new_token()
    verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43 to 128)
    await db.execute(delete(SsoLogin).where(SsoLogin.expires_at < now))
    db.add(
        SsoLogin(
            state_hash=hash_token(state),
            nonce=nonce,
            code_verifier=verifier,
            next_path=next_path[:500],
            created_at=now,
            expires_at=now + LOGIN_TTL,
        )
    )
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri(client.settings),
        "scope": client.settings.oidc_scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    endpoint = meta.authorization_endpoint
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params), state


@dataclass(frozen=True)
class Finished:
    signed_in: users.SignedIn
    next_path: str


async def finish(
    db: AsyncSession,
    client: OidcClient,
    *,
    params: dict[str, str],
    cookie_state: str | None,
    now: datetime,
    previous_token: str | None,
) -> Finished:
    state = params.get("state") or ""
    if any(len(value) > MAX_PARAM or "\x00" in value for value in params.values()):
        raise SsoError("This sign-in response is malformed. Start again from the sign-in page.")
    if (
        not state
        or not cookie_state
        or not hmac.compare_digest(state.encode(), cookie_state.encode())
    ):
        raise SsoError(
            "This sign-in does not match the one started in this browser (the state does not "
            "match). Nothing was signed in; start again from the sign-in page."
        )
    login = await db.scalar(select(SsoLogin).where(SsoLogin.state_hash == hash_token(state)))
    if login is None:
        raise SsoError(
            "This sign-in was already used or is unknown. Start again from the sign-in page."
        )
    await db.delete(login)
    await db.flush()
    if login.expires_at <= now:
        raise SsoError("This sign-in took too long and has expired. Start again.")
    if params.get("error"):
        said = params.get("error_description") or params["error"]
        raise SsoError(f"The sign-in provider did not sign you in: {said[:200]}")
    code = params.get("code")
    if not code:
        raise SsoError("The sign-in provider sent no authorization code. Start again.")
    meta = await client.metadata(now)
    # RFC 9207: a provider that names itself in the response must be the one we asked (a
    # response from another provider, mixed up by the browser, is refused before any use).
    if "iss" in params and params["iss"] != meta.issuer:
        raise SsoError("This sign-in response came from another provider. Start again.")
    tokens = await client.exchange(meta, code, login.code_verifier)
    claims = await client.verify_id_token(meta, tokens["id_token"], nonce=login.nonce, now=now)
    if isinstance(tokens.get("access_token"), str):
        claims = {**await client.userinfo(meta, tokens["access_token"], claims["sub"]), **claims}
    user = await _user_for(db, client.settings, meta.issuer, claims, now)
    signed_in = await users.open_session(db, user, now=now, previous_token=previous_token)
    audit.record(
        db,
        actor=audit.actor_of(user),
        action="user.signed_in_sso",
        subject_type="user",
        subject_id=user.id,
        now=now,
        after={"issuer": meta.issuer, "subject": claims["sub"]},
    )
    return Finished(signed_in, login.next_path)


async def _user_for(
    db: AsyncSession, settings: Settings, issuer: str, claims: dict[str, Any], now: datetime
) -> User:
    subject: str = claims["sub"]
    identity = await db.scalar(
        select(SsoIdentity).where(SsoIdentity.issuer == issuer, SsoIdentity.subject == subject)
    )
    raw_email = claims.get("email")
    email = normalise_email(raw_email).lower() if isinstance(raw_email, str) else ""
    user: User | None = None
    if identity is not None:
        user = await db.get(User, identity.user_id)
        identity.last_sign_in_at = now
    if user is None and email:
        existing = await db.scalar(select(User).where(User.email == email))
        if existing is not None:
            if not (settings.oidc_link_by_email and claims.get("email_verified") is True):
                why = (
                    "the provider did not confirm the email is verified"
                    if settings.oidc_link_by_email
                    else "accounts are not linked by email here"
                )
                raise SsoRefusedError(
                    f"A Screen account for {email} exists but is not linked to this sign-in "
                    f"({why}). Ask an admin."
                )
            user = existing
            _link(db, user, issuer, subject, now)
            audit.record(
                db,
                actor=audit.actor_of(user),
                action="user.sso_linked",
                subject_type="user",
                subject_id=user.id,
                now=now,
                after={"issuer": issuer, "subject": subject},
            )
    if user is None:
        user = await _provision(db, settings, issuer, claims, email, now)
    if user.disabled_at is not None:
        audit.record(
            db,
            actor=audit.actor_of(user),
            action="user.sso_refused_disabled",
            subject_type="user",
            subject_id=user.id,
            now=now,
        )
        raise SsoRefusedError(
            "This Screen account is disabled, so signing in is refused. Ask an admin if you "
            "need access again."
        )
    return user


def _link(db: AsyncSession, user: User, issuer: str, subject: str, now: datetime) -> None:
    db.add(
        SsoIdentity(
            user_id=user.id,
            issuer=issuer,
            subject=subject,
            created_at=now,
            last_sign_in_at=now,
        )
    )


async def _provision(
    db: AsyncSession,
    settings: Settings,
    issuer: str,
    claims: dict[str, Any],
    email: str,
    now: datetime,
) -> User:
    who = email or "this account"
    if not settings.oidc_create_accounts:
        raise SsoRefusedError(
            f"There is no Screen account for {who}. Ask an admin to create one; then sign in again."
        )
    if not email:
        raise SsoRefusedError(
            "The sign-in provider did not share an email address, which a new Screen account "
            "needs (is the email scope requested?)."
        )
    roles = roles_from_claims(claims, settings)
    if not roles:
        raise SsoRefusedError(
            f"Your account at the provider carries no role for Screen, so no account was made "
            f"for {email}. Ask an admin to add you to a group that maps to a Screen role."
        )
    # Cleaned before the fallback is chosen: a name of only invisible or control characters
    # passed a strip() and came out empty from create_user's cleaning, and the person could
    # not sign in at all ("Name must be 1 to 200 characters", a field they cannot edit).
    raw_name = claims.get("name")
    name = one_line(raw_name)[:200].strip() if isinstance(raw_name, str) else ""
    if not name:
        name = email.split("@")[0][:200]
    user = await _create_sso_user(db, email=email, name=name, roles=roles, now=now)
    _link(db, user, issuer, claims["sub"], now)
    audit.record(
        db,
        actor="sso",
        action="user.sso_provisioned",
        subject_type="user",
        subject_id=user.id,
        now=now,
        after={"email": email, "roles": [r.value for r in roles], "issuer": issuer},
    )
    return user


def _claim_values(claims: dict[str, Any], path: str) -> list[str]:
    """A claim's values: a string, or a list of strings; `realm_access.roles` reaches into
    a nested object (Keycloak's realm roles)."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def roles_from_claims(claims: dict[str, Any], settings: Settings) -> list[Role]:
    """Every role the claim maps to, in the map's order; else the default role; else none."""
    found: list[Role] = []
    if settings.oidc_roles_claim:
        values = set(_claim_values(claims, settings.oidc_roles_claim))
        for value, role in settings.oidc_role_map:
            if value in values and Role(role) not in found:
                found.append(Role(role))
    if not found and settings.oidc_default_role:
        found.append(Role(settings.oidc_default_role))
    return found


async def _create_sso_user(
    db: AsyncSession, *, email: str, name: str, roles: Sequence[Role], now: datetime
) -> User:
    # Every role the claim maps to; users.parse_roles refuses a set that would both score
    # and see names, with its reason, rather than choosing one of them for the person.
    # A password nobody knows: the account signs in through the provider (an admin can
    # set a password later if password sign-in is on).
    try:
        return await users.create_user(
            db,
            email=email,
            name=name,
            roles=[role.value for role in roles],
            password=new_token(),
            now=now,
            actor="sso",
        )
    except InputError as error:
        if error.field != "roles":
            raise
        # Refused as a sign-in (403, the sign-in's state stays used), not as a form error.
        raise SsoRefusedError(
            f"Your groups at the provider give {email} the roles "
            f"{', '.join(users.role_list(roles))}, which one account cannot hold: "
            f"{error.message}"
        ) from None
