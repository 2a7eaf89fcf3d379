"""The authorization server: authlib's RFC 6749/7636/7009/7662 machinery on our models.

authlib (the vetted choice for the authorization-code flow, shared/notes) does the protocol
details: request validation, client authentication (basic, post, none), error responses,
PKCE, revocation and introspection. Its server API is synchronous, so every call runs in a
thread (``asyncio.to_thread``) and the hooks reach the store on the event loop with
``run_coroutine_threadsafe`` (all SQL stays in ``store.oauth``, behind its interface).

Choices beyond RFC 6749:
- codes live 30 seconds and work once (taken in one statement); access tokens live 60
  minutes; refresh tokens only for ``offline_access`` (or ``access_type=offline``), and
  every refresh rotates them (the old grant is gone in the same commit);
- PKCE: S256 only (``plain`` refused); public clients must use it (OAuth 2.1);
- a token is valid only while its account, its client and the account's password (a
  fingerprint of the stored hash, ``stamp``) are unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from ..store.oauth import Code, Token
from . import clients as clientcfg

# Our HTTP layer decides where plain HTTP is allowed (loopback and server.plaintext_auth
# networks, like passwords); authlib's own check knows only loopback.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

CODE_SECONDS = 30
ACCESS_SECONDS = 3600
UNUSED_SECONDS = 183 * 86400  # "tokens unused for 6 months are deleted"
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def token_key(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def stamp(account) -> str:
    """A fingerprint of the account's stored password hash: tokens die with a change."""
    return hashlib.sha256(account.password.encode()).hexdigest()[:24]


# --------------------------------------------------------------------------- models


class Client(ClientMixin):
    def __init__(self, c: clientcfg.OAuthClient) -> None:
        self.c = c

    def get_client_id(self) -> str:
        return self.c.id

    def get_default_redirect_uri(self) -> str:
        return self.c.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = self.c.allowed_scopes()
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return self.c.check_redirect_uri(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.c.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none" if self.c.public else method in AUTH_METHODS[:2]

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class CodeRecord(AuthorizationCodeMixin):
    code: Code

    def get_redirect_uri(self) -> str:
        return self.code.redirect_uri

    def get_scope(self) -> str:
        return self.code.scope

    # read by authlib's CodeChallenge
    @property
    def code_challenge(self) -> str:
        return self.code.challenge

    @property
    def code_challenge_method(self) -> str:
        return self.code.challenge_method


@dataclass
class TokenRecord(TokenMixin):
    token: Token

    def check_client(self, client: Client) -> bool:
        return client.c.id == self.token.client_id

    def get_scope(self) -> str:
        return self.token.scope

    def get_expires_in(self) -> int:
        return max(0, self.token.expires - int(time.time()))

    def is_expired(self) -> bool:
        return self.token.expires < time.time()

    def is_revoked(self) -> bool:
        return False  # revoked tokens are deleted

    def get_user(self) -> str:
        return self.token.account

    def get_client(self):
        return None


# --------------------------------------------------------------------------- requests


@dataclass
class Incoming:
    """What the HTTP handler read (on the loop) and hands to authlib (in a thread)."""

    method: str
    url: str
    headers: dict
    query: dict[str, list[str]]
    form: dict[str, list[str]]


class _Payload(OAuth2Payload):
    def __init__(self, values: dict[str, list[str]]) -> None:
        self._datalist = defaultdict(list, values)
        self._data = {k: v[0] for k, v in values.items() if v}

    @property
    def data(self) -> dict:
        return self._data

    @property
    def datalist(self):
        return self._datalist


class _Request(OAuth2Request):
    def __init__(self, req: Incoming) -> None:
        super().__init__(req.method, req.url, headers=req.headers)
        self._req = req
        merged: dict[str, list[str]] = {}
        for source in (req.query, req.form):
            for k, v in source.items():
                merged.setdefault(k, []).extend(v)
        self.payload = _Payload(merged)

    @property
    def args(self) -> dict:
        return {k: v[0] for k, v in self._req.query.items()}

    @property
    def form(self) -> dict:
        return {k: v[0] for k, v in self._req.form.items()}


# --------------------------------------------------------------------------- grants


def _wants_refresh(request) -> bool:
    data = request.payload.data
    return clientcfg.OFFLINE in (data.get("scope") or "").split() or \
        data.get("access_type") == "offline"


class S256Only(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if grant.request.client.c.public and not data.get("code_challenge"):
            raise InvalidRequestError("a public client must use PKCE (code_challenge, S256)")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code: str, request) -> None:
        data = request.payload.data
        account = self.server.account(request.user)
        self.server.run(self.server.store.save_code(token_key(code), Code(
            client_id=request.client.c.id, account=request.user,
            scope=request.scope or "", redirect_uri=data.get("redirect_uri") or "",
            challenge=data.get("code_challenge") or "",
            challenge_method=data.get("code_challenge_method") or "",
            offline=_wants_refresh(request), stamp=stamp(account) if account else "",
            expires=int(time.time()) + CODE_SECONDS)))

    def query_authorization_code(self, code: str, client: Client):
        found = self.server.run(self.server.store.take_code(token_key(code)))
        if found is None or found.client_id != client.c.id:
            return None
        return CodeRecord(found)

    def delete_authorization_code(self, authorization_code) -> None:
        pass  # taken (deleted) when it was read

    def authenticate_user(self, authorization_code: CodeRecord):
        code = authorization_code.code
        return self.server.valid_user(code.account, code.stamp)

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True):
        offline = self.request.authorization_code.code.offline
        return super().generate_token(user, scope, grant_type, expires_in,
                                      include_refresh_token and offline)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh gives a new refresh token

    def authenticate_refresh_token(self, refresh_token: str):
        found = self.server.run(self.server.store.token(token_key(refresh_token)))
        if found is None or found.kind != "refresh" or not live(self.server.runtime, found):
            return None
        return TokenRecord(found)

    def authenticate_user(self, credential: TokenRecord):
        return self.server.valid_user(credential.token.account, credential.token.stamp)

    def revoke_old_credential(self, credential) -> None:
        pass  # removed in the commit that stores the new tokens (save_token)


# --------------------------------------------------------------------------- endpoints


class _TokenLookup:
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint):
        found = self.server.run(self.server.store.token(token_key(token_string)))
        return TokenRecord(found) if found else None


class Revocation(_TokenLookup, RevocationEndpoint):
    def revoke_token(self, token: TokenRecord, request) -> None:
        self.server.run(self.server.store.revoke_family(token.token.family))


class Introspection(_TokenLookup, IntrospectionEndpoint):
    def check_permission(self, token: TokenRecord, client: Client, request) -> bool:
        return token.check_client(client)  # a client sees its own tokens

    def introspect_token(self, token: TokenRecord) -> dict:
        return introspect(self.server.runtime, token.token)


def live(runtime, t: Token) -> bool:
    """Not expired, and its account (with the same password) and client still exist."""
    account = runtime.config.account(t.account)
    return (t.expires >= time.time() and account is not None and stamp(account) == t.stamp
            and clientcfg.find(runtime.config, t.client_id) is not None)


def introspect(runtime, t: Token | None) -> dict:
    """RFC 7662 section 2.2 (also the admin's ``oauth2.introspect``)."""
    if t is None or not live(runtime, t):
        return {"active": False}
    account = runtime.config.account(t.account)
    return {"active": True, "client_id": t.client_id, "username": account.name,
            "scope": t.scope, "token_type": "Bearer" if t.kind == "access" else "refresh_token",
            "exp": t.expires, "iat": t.issued}


# --------------------------------------------------------------------------- server


class OAuthServer(AuthorizationServer):
    def __init__(self, runtime, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(scopes_supported=[*clientcfg.SCOPES.values(), clientcfg.OFFLINE])
        self.runtime = runtime
        self.loop = loop
        self.store = runtime.store.oauth
        self.register_token_generator("default", BearerTokenGenerator(
            access_token_generator=lambda **_: secrets.token_urlsafe(32),
            refresh_token_generator=lambda **_: secrets.token_urlsafe(32),
            expires_generator=lambda client, grant_type: ACCESS_SECONDS))
        self.register_grant(CodeGrant, [S256Only(required=True)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    def run(self, coro):
        """From authlib's thread: run a store call on the loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def account(self, key: str):
        return self.runtime.config.account(key)

    def valid_user(self, key: str, token_stamp: str) -> str | None:
        account = self.account(key)
        return key if account is not None and stamp(account) == token_stamp else None

    # authlib's framework hooks

    def query_client(self, client_id: str):
        c = clientcfg.find(self.runtime.config, client_id or "")
        return Client(c) if c else None

    def save_token(self, token: dict, request) -> None:
        now = int(time.time())
        client = request.client.c
        family = secrets.token_bytes(16)
        old = request.refresh_token.token if request.refresh_token is not None else None
        account = self.account(request.user)
        common = dict(family=family, client_id=client.id, account=request.user,
                      scope=token.get("scope", ""), stamp=stamp(account), issued=now,
                      last_used=now)
        rows = [Token(key=token_key(token["access_token"]), kind="access",
                      expires=now + int(token.get("expires_in", ACCESS_SECONDS)), **common)]
        if "refresh_token" in token:
            rows.append(Token(key=token_key(token["refresh_token"]), kind="refresh",
                              expires=now + UNUSED_SECONDS, **common))
        if not self.run(self.store.save_tokens(rows, replaces=old)):
            raise InvalidGrantError("the refresh token was used already")

    def send_signal(self, name, *args, **kwargs) -> None:
        pass

    def create_oauth2_request(self, request) -> OAuth2Request:
        return request if isinstance(request, OAuth2Request) else _Request(request)

    def create_json_request(self, request):
        raise NotImplementedError("no JSON requests")

    def handle_response(self, status, body, headers):
        return status, body, headers
