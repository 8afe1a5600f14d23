"""Single sign-on for staff over OpenID Connect, against a small identity provider served on 127.0.0.1 in
the test: discovery, authorize, token (with PKCE), userinfo and JWKS, ID tokens signed with an RSA key made
here. The Django test client plays the browser; the platform talks to the provider over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import SESSION_KEY, get_user_model
from django.test import Client

from tests.test_config import _settings
from trial.models import TrialMembership

pytestmark = pytest.mark.django_db

CLIENT_ID = "trial-platform"


class FakeProvider:
    """An OpenID Connect provider that vouches for whichever identity the test sets in ``claims``."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.secret = secrets.token_urlsafe(24)
        self.claims: dict[str, Any] = {}
        self.audience = CLIENT_ID
        self.grants: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    return self._send(200, provider.discovery())
                if url.path == "/authorize":
                    return self._send(302, headers={"Location": provider.authorize(query)})
                if url.path == "/jwks":
                    return self._send(200, provider.jwks())
                if url.path == "/userinfo":
                    claims = provider.tokens.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
                    return self._send(200, claims) if claims else self._send(401, {"error": "invalid_token"})
                return self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                if urlsplit(self.path).path != "/token":
                    return self._send(404, {"error": "not_found"})
                status, answer = provider.token(form)
                return self._send(status, answer)

        return Handler

    def discovery(self) -> dict[str, str]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
        }

    def jwks(self) -> dict[str, Any]:
        key = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**key, "kid": "test-key", "alg": "RS256", "use": "sig"}]}

    def authorize(self, query: dict[str, str]) -> str:
        assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"  # PKCE
        code = secrets.token_urlsafe(16)
        self.grants[code] = {**query, "claims": dict(self.claims)}
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.secret:
            return 400, {"error": "invalid_grant"}
        verifier = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(verifier).rstrip(b"=").decode() != grant["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims = grant["claims"]
        id_token = jwt.encode(
            {"iss": self.url, "sub": claims["sub"], "aud": self.audience, "iat": now, "exp": now + 300}
            | {"nonce": grant["nonce"]},
            self.key,
            algorithm="RS256",
            headers={"kid": "test-key"},
        )
        access_token = secrets.token_urlsafe(24)
        self.tokens[access_token] = claims
        return 200, {"access_token": access_token, "token_type": "Bearer", "id_token": id_token, "expires_in": 300}


@pytest.fixture
def provider(settings: Any) -> Iterator[FakeProvider]:
    fake = FakeProvider()
    fake.thread.start()
    try:
        # As an operator would: the endpoints from the provider's discovery document.
        found = requests.get(f"{fake.url}/.well-known/openid-configuration", timeout=5).json()
        settings.OIDC_ENABLED = True
        settings.OIDC_PROVIDER_NAME = "University login"
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = fake.secret
        settings.OIDC_OP_AUTHORIZATION_ENDPOINT = found["authorization_endpoint"]
        settings.OIDC_OP_TOKEN_ENDPOINT = found["token_endpoint"]
        settings.OIDC_OP_USER_ENDPOINT = found["userinfo_endpoint"]
        settings.OIDC_OP_JWKS_ENDPOINT = found["jwks_uri"]
        settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "trial.oidc.StaffOIDCBackend"]
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def sign_in(client: Client, provider: FakeProvider, **claims: Any) -> Any:
    """Start at the login page's link, pass the provider, come back to the callback; the final response."""
    provider.claims = {"sub": secrets.token_hex(8), **claims}
    start = client.get("/oidc/authenticate/", {"next": "/admin/"})
    assert start.status_code == 302 and start["Location"].startswith(f"{provider.url}/authorize?")
    back = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/oidc/callback/"
    return client.get(f"{callback.path}?{callback.query}")


def signed_in_as(client: Client) -> Any:
    return client.session.get(SESSION_KEY)


def refusal(client: Client, response: Any) -> str:
    assert response.status_code == 302 and response["Location"] == "/oidc/refused/"
    page = client.get(response["Location"])
    assert page.status_code == 403
    assert signed_in_as(client) is None
    return page.content.decode()


def test_an_existing_user_signs_in_by_verified_email_and_keeps_exactly_their_roles(client, provider, coordinator):
    memberships = set(TrialMembership.objects.values_list("user", "trial", "role"))
    users = get_user_model().objects.count()

    response = sign_in(client, provider, email="Carol@Example.ORG", email_verified=True)

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert str(signed_in_as(client)) == str(coordinator.pk)
    assert [t["slug"] for t in client.get("/api/v1/trials/").json()["results"]] == ["therabot"]
    assert get_user_model().objects.count() == users
    assert set(TrialMembership.objects.values_list("user", "trial", "role")) == memberships


def test_a_user_without_memberships_signs_in_and_sees_no_trial(client, provider, trial):
    nina = get_user_model().objects.create_user("nina", email="nina@uni.example")
    sign_in(client, provider, email="nina@uni.example", email_verified=True)
    assert str(signed_in_as(client)) == str(nina.pk)
    assert client.get("/api/v1/trials/").json()["results"] == []
    assert not TrialMembership.objects.filter(user=nina).exists()


def test_an_unknown_email_is_refused_and_no_account_is_made(client, provider, coordinator):
    users = get_user_model().objects.count()
    page = refusal(client, sign_in(client, provider, email="stranger@uni.example", email_verified=True))
    assert "No account here has the e-mail address University login gave" in page
    assert get_user_model().objects.count() == users
    assert "Content-Security-Policy" in client.get("/oidc/refused/")


@pytest.mark.parametrize("verified", [False, None, "true"], ids=["false", "missing", "a-string"])
def test_an_unverified_email_is_refused(client, provider, coordinator, verified):
    claims: dict[str, Any] = {"email": "carol@example.org"}
    if verified is not None:
        claims["email_verified"] = verified
    page = refusal(client, sign_in(client, provider, **claims))
    assert "University login has not verified your e-mail address" in page


def test_an_email_shared_by_two_accounts_is_refused(client, provider, coordinator):
    get_user_model().objects.create_user("carol2", email="CAROL@example.org")
    page = refusal(client, sign_in(client, provider, email="carol@example.org", email_verified=True))
    assert "More than one account here has the e-mail address" in page


def test_a_deactivated_account_is_refused(client, provider, coordinator):
    coordinator.is_active = False
    coordinator.save(update_fields=["is_active"])
    page = refusal(client, sign_in(client, provider, email="carol@example.org", email_verified=True))
    assert "Your account here is deactivated" in page


def test_an_id_token_issued_to_another_client_is_rejected(client, provider, coordinator):
    provider.audience = "some-other-app"
    response = sign_in(client, provider, email="carol@example.org", email_verified=True)
    assert response.status_code == 400
    assert signed_in_as(client) is None


def test_accounts_are_created_only_when_a_setting_says_so_and_without_roles(client, provider, settings, trial):
    settings.OIDC_CREATE_USER = True
    sign_in(client, provider, email="newcomer@uni.example", email_verified=True)
    user = get_user_model().objects.get(email="newcomer@uni.example")
    assert str(signed_in_as(client)) == str(user.pk)
    assert not user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert not TrialMembership.objects.filter(user=user).exists()


def test_the_admin_login_page_links_to_single_sign_on_only_when_configured(client, settings):
    assert "Sign in with" not in client.get("/admin/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "University login"
    page = client.get("/admin/login/?next=/admin/trial/").content.decode()
    assert 'href="/oidc/authenticate/?next=/admin/trial/"' in page and "Sign in with University login" in page


def test_single_sign_on_settings_must_be_complete():
    result = _settings("1", DEBUG="1", OIDC_RP_CLIENT_ID="trial-platform", OIDC_RP_CLIENT_SECRET="s")
    assert result.returncode != 0
    assert "single sign-on needs OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT" in result.stderr


@pytest.mark.parametrize("satisfies", [False, True])
def test_a_single_sign_on_counts_as_the_second_factor_only_when_the_setting_says_so(
    client, provider, settings, coordinator, satisfies
):
    settings.STAFF_2FA = "required"
    settings.OIDC_SATISFIES_2FA = satisfies
    sign_in(client, provider, email="carol@example.org", email_verified=True)
    assert str(signed_in_as(client)) == str(coordinator.pk)
    response = client.get("/api/v1/trials/")
    if satisfies:
        assert response.status_code == 200
    else:
        assert response.status_code == 403 and response.json()["code"] == "two_factor_required"
