"""The built-in web dashboard: one HTML page and a small ES module, served from the package.

There is no build step and nothing is fetched from elsewhere at run time: the page at `/`
loads `/dashboard/app.js` and `/dashboard/style.css`, which talk to the REST API with the
credentials typed into its log-in form (kept in the page's memory only, sent as HTTP Basic
with every request, like `cfy`). See the README's "Dashboard" section.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

# Everything the page needs is its own: no inline script, no other origin.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard() -> FileResponse:
    """The dashboard's page (public: it holds no data; it asks for credentials)."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_HEADERS)


def install(app: FastAPI) -> None:
    """Serve the page at `/` and its files under `/dashboard/`."""
    app.include_router(router)
    app.mount("/dashboard", StaticFiles(directory=STATIC), name="dashboard")
