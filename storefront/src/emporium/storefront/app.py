"""The storefront's ASGI app: the shop's pages, the admin's (when present), static assets.

Built with the kit's ``create_app`` (probes, problem handlers, request context, logging),
plus the session cookie and CSRF middleware (innermost, in that order) and the handlers
that turn "sign in first", "not for you" and API problems into pages.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware

from emporium.kit.app import create_app
from emporium.storefront.api import ApiProblem, api_lifespan
from emporium.storefront.auth import NotAllowed, SignInRequired
from emporium.storefront.csp import ContentSecurityPolicyMiddleware
from emporium.storefront.csrf import CsrfMiddleware
from emporium.storefront.problems import explain
from emporium.storefront.session import Sealer, SessionMiddleware
from emporium.storefront.settings import Settings
from emporium.storefront.shop import router as shop_router
from emporium.storefront.web import STATIC_DIR, render

__all__ = ["create_storefront_app"]

log = logging.getLogger("emporium.storefront")


def _admin_router() -> APIRouter | None:
    # The admin is a package of its own (storefront/admin/); mounted when it is there.
    try:
        module = importlib.import_module("emporium.storefront.admin")
    except ModuleNotFoundError as missing:
        if missing.name != "emporium.storefront.admin":
            raise
        return None
    router = getattr(module, "router", None)
    return router if isinstance(router, APIRouter) else None


async def _csrf_refused(request: Request) -> Response:
    log.info("refused %s %s: missing or wrong CSRF token", request.method, request.url.path)
    return render(request, "errors/csrf.html", status=403)


def create_storefront_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The storefront app; ``overrides`` go to ``create_app``."""
    settings = settings or Settings()
    routers = [shop_router]
    admin = _admin_router() if settings.admin_enabled else None
    if admin is not None:
        routers.append(admin)
    # The admin's image upload carries up to the catalog's largest image (10 MiB) in a form.
    overrides.setdefault("body_path_limits", [(r"/admin/products/[^/]+/images", 11 * 2**20)])
    app = create_app(
        settings=settings,
        title="Emporium storefront",
        routers=routers,
        lifespan_hooks=[api_lifespan],
        openapi_url=None,
        docs_url=None,
        **overrides,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    sealer = Sealer(
        settings.secret_key.get_secret_value(), max_age_seconds=settings.session_max_age_seconds
    )
    # Innermost, inside the kit's request context: the session first, then the CSRF check.
    app.user_middleware.append(
        Middleware(
            SessionMiddleware,
            sealer=sealer,
            cookie_name=settings.session_cookie,
            secure=settings.secure_cookies,
        )
    )
    app.user_middleware.append(Middleware(CsrfMiddleware, refuse=_csrf_refused))
    # Outermost: every answer, error pages and static files included, carries the policy.
    app.user_middleware.insert(0, Middleware(ContentSecurityPolicyMiddleware))
    _install_page_handlers(app)
    return app


def _install_page_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        if request.headers.get("hx-request"):
            # htmx follows a redirect inside the fragment; tell it to load the page instead.
            return Response(status_code=204, headers={"HX-Redirect": exc.location})
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        return render(request, "errors/forbidden.html", status=403)

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> Response:
        # A problem no page handled: a page saying what went wrong, with the API's status
        # (a 404 product is a 404 page; an API that is away is a 503).
        status = exc.status if exc.status in (403, 404, 409, 429) else 503
        if exc.status == 401:
            with contextlib.suppress(RuntimeError):
                from emporium.storefront.session import get_session

                get_session(request).sign_out()
            location = SignInRequired(request.url.path).location
            return RedirectResponse(location, status_code=303)
        if exc.status < 500 and status == 503:
            status = 400 if exc.status != 422 else 422
        return render(request, "errors/problem.html", {"message": explain(exc).form}, status=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return render(request, "errors/not_found.html", status=404)
        return render(
            request,
            "errors/problem.html",
            {"message": str(exc.detail)},
            status=exc.status_code,
        )
