"""The browsable API documentation (Swagger UI) at ``/api/docs/``, with its assets served from the pinned
``drf-spectacular-sidecar`` package: no CDN, so it works on a network without internet access.

The assets are served by a small view rather than through ``staticfiles`` so that the sidecar does not have to be an
installed app; the files are fixed and few, named in ``ASSETS``.
"""

from __future__ import annotations

from pathlib import Path

import drf_spectacular_sidecar
from django.http import FileResponse, Http404, HttpRequest
from django.urls import reverse
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularSwaggerSplitView

ASSET_DIR = Path(drf_spectacular_sidecar.__file__).parent / "static" / "drf_spectacular_sidecar" / "swagger-ui-dist"
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}


class OfflineSwaggerView(SpectacularSwaggerSplitView):
    """The split view serves Swagger UI's start-up script from this URL (``?script``), not inline, so the page
    passes the Content-Security-Policy; the template gives its one small stylesheet the request's nonce."""

    url_name = "openapi-schema"
    title = "spaces-calendar API"
    template_name = "kiosk/api_docs.html"

    def _swagger_ui_resource(self, filename: str) -> str:
        return reverse("api-docs-asset", args=[filename])

    def _swagger_ui_favicon(self) -> str:
        return reverse("api-docs-asset", args=["favicon-32x32.png"])


@require_GET
def asset(request: HttpRequest, name: str) -> FileResponse:
    if name not in ASSETS:
        raise Http404("No such asset.")
    response = FileResponse((ASSET_DIR / name).open("rb"), content_type=ASSETS[name])
    response["Cache-Control"] = "public, max-age=86400"
    return response
