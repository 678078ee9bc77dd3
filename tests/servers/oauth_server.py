"""A minimal OAuth 2.1 authorization server for the auth tests (127.0.0.1 only, no real users).

    python tests/servers/oauth_server.py --port N --access-token T [--expires-in S]

* ``GET /.well-known/oauth-authorization-server``: RFC 8414 metadata (issuer ``http://127.0.0.1:N``).
* ``POST /register``: dynamic client registration, always client ``test-client``.
* ``GET /authorize``: approves at once: 302 to ``redirect_uri?code=CODE-MARKER&state=...``.
* ``POST /token``: ``authorization_code`` and ``refresh_token`` grants both issue access token T (valid for
  ``--expires-in`` seconds) and refresh token ``REFRESH-MARKER``; anything else (everything, with
  ``--reject-tokens``) is ``invalid_grant``.
"""

import argparse
from typing import Any
from urllib.parse import urlencode

CODE = "CODE-MARKER"
REFRESH = "REFRESH-MARKER"


def app(port: int, access_token: str, expires_in: int, reject: bool = False) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, RedirectResponse
    from starlette.routing import Route

    issuer = f"http://127.0.0.1:{port}"

    async def metadata(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "registration_endpoint": f"{issuer}/register",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none", "client_secret_post"],
                "scopes_supported": ["mcp"],
            }
        )

    async def register(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({**body, "client_id": "test-client", "token_endpoint_auth_method": "none"}, 201)

    async def authorize(request: Request) -> RedirectResponse:
        query = {"code": CODE, "state": request.query_params.get("state", "")}
        return RedirectResponse(f"{request.query_params['redirect_uri']}?{urlencode(query)}", 302)

    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        grant = form.get("grant_type")
        if (not reject and (grant == "authorization_code" and form.get("code") == CODE)) or (
            grant == "refresh_token" and form.get("refresh_token") == REFRESH
        ):
            return JSONResponse(
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": expires_in,
                    "refresh_token": REFRESH,
                    "scope": "mcp",
                }
            )
        return JSONResponse({"error": "invalid_grant"}, 400)

    return Starlette(
        routes=[
            Route("/.well-known/oauth-authorization-server", metadata),
            Route("/register", register, methods=["POST"]),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--access-token", required=True)
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--reject-tokens", action="store_true", help="every token request: invalid_grant")
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(
        app(args.port, args.access_token, args.expires_in, args.reject_tokens),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
