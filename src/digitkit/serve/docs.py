"""The API docs, /docs (Swagger UI) and /redoc (ReDoc), served from the server's own files.

FastAPI's built-in pages load Swagger UI and ReDoc from a CDN: offline they are blank. The
``serve`` extra installs ``fastapi-offline``, a wheel that carries both bundles; this module
serves its ``static/`` folder under ``/docs/assets`` (FastAPI's documented way of
self-hosting the docs). The pages are written here rather than taken from
``fastapi.openapi.docs`` because FastAPI starts Swagger UI with an inline script: ours starts
it from ``/static/swagger-init.js``, so the docs' CSP keeps ``script-src 'self'``
(``security.DOCS_CSP``). ReDoc starts itself on its ``<redoc spec-url>`` element.
"""

from __future__ import annotations

import importlib.util
import logging
from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger("digitkit.serve")

DOCS_URL, REDOC_URL, ASSETS_URL = "/docs", "/redoc", "/docs/assets"
ASSETS_PACKAGE = "fastapi_offline"  # the serve extra's wheel with the two bundles

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} - Swagger UI</title>
  <link rel="icon" href="{assets}/favicon.png">
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{root}/static/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} - ReDoc</title>
  <link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<noscript>ReDoc needs JavaScript; the schema itself is at <a href="{openapi}">{openapi}</a>.
</noscript>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""

MISSING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API docs</title></head>
<body><p>The API docs need the <code>fastapi-offline</code> package:
<code>pip install 'digitkit[serve]'</code>. The OpenAPI schema is at
<a href="{openapi}">{openapi}</a>.</p></body></html>
"""


def assets_dir() -> Path | None:
    """The folder with swagger-ui-bundle.js, swagger-ui.css and redoc.standalone.js, or
    None when fastapi-offline is not installed (an old install of the serve extra)."""
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def add_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets. Create ``app`` with ``docs_url=None`` and
    ``redoc_url=None`` so FastAPI's CDN pages are not registered first."""
    folder = assets_dir()
    if folder is None:
        log.warning("API docs unavailable: %s is not installed", ASSETS_PACKAGE)
    else:
        app.mount(ASSETS_URL, StaticFiles(directory=folder), name="docs-assets")

    def page(template: str, request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = (template if folder is not None else MISSING_PAGE).format(
            title=escape(app.title),
            root=root,
            assets=root + ASSETS_URL,
            openapi=root + (app.openapi_url or "/openapi.json"),
        )
        return HTMLResponse(html, status_code=200 if folder is not None else 503)

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return page(SWAGGER_PAGE, request)

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return page(REDOC_PAGE, request)
