"""The console: pages for people, served by the API under /console (sessions.py signs them in,
pages.py answers them), and the API's own documentation (/docs, /redoc) from vendored assets,
so neither needs anything but the app."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import sessions
from api.console.pages import render, router

STATIC = f"{sessions.PATH}/static"
_VENDOR = f"{STATIC}/vendor"
SWAGGER_UI = f"{_VENDOR}/swagger-ui-5.35.0"
REDOC = f"{_VENDOR}/redoc-2.5.4"


def install(app: FastAPI) -> None:
    """Mount the console and the documentation pages (the app is made with docs_url=None, redoc_url=None)."""
    app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=Path(__file__).parent / "static"), name="console-static")
    app.add_exception_handler(sessions.NotSignedIn, _to_sign_in)
    app.add_exception_handler(sessions.Refused, _refused)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - API",
                                   swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
                                   swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - API",
                              redoc_js_url=f"{REDOC}/redoc.standalone.js",
                              redoc_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png", with_google_fonts=False)


async def _to_sign_in(request: Request, _: Exception) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = here if request.method == "GET" else f"{sessions.PATH}/journeys"
    return RedirectResponse(f"{sessions.PATH}/sign-in?next={quote(target, safe='')}", status_code=303)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, sessions.Refused)
    try:
        session = sessions.current(request)
    except sessions.NotSignedIn:
        session = None
    return render(request, "refused.html", {"session": session, "message": exc.message}, 403)
