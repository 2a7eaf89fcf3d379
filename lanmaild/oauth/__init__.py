"""OAuth2 for the mailbox accounts (issue 12; the seed's "OAuth2 Clients" tab).

- ``clients``  ``[[oauth2_client]]`` per account: generated id, hashed secret (or a public
               client), allowed scopes (imap, pop3, smtp), registered redirect URIs
- ``server``   the authorization server on authlib: authorization code + PKCE (S256),
               rotated refresh tokens, revocation (RFC 7009), introspection (RFC 7662)
- ``web``      the HTTP endpoints (LANMailServer's paths: /oauth2/auth, /oauth2/token,
               /oauth2/logout; plus /oauth2/revoke, /oauth2/introspect and the RFC 8414
               metadata) and the login page, mounted by ``lanmaild.http``
- ``service``  checks bearer tokens for XOAUTH2/OAUTHBEARER (``Authenticator.bearer``)
               and deletes tokens unused for six months

Runs only with an HTTP listener (``[listen] http``): without it no token can be issued, and
the OAuth2 SASL mechanisms are not offered. Codes and tokens are stored as SHA-256 hashes
(``store.oauth``).
"""

from __future__ import annotations

from . import clients as clients  # registers [[oauth2_client]]


async def start(runtime) -> list:
    if not runtime.config.listen.http:
        return []
    from .service import OAuthService  # authlib only when it is used

    service = OAuthService(runtime)
    runtime.services["oauth"] = service
    service.start()
    return [service]
