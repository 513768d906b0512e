"""The composition root: ``create_app(settings)`` builds the one ASGI app.

Front doors: the JSON API under ``/api/v1`` (OpenAPI at ``/openapi.json``), the web pages,
and the health probes. They share one sessionmaker, clock and mailer on ``app.state``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from careweave import __version__
from careweave.api import router as api_router
from careweave.api.errors import ErrorBody
from careweave.core.clock import Clock, SystemClock
from careweave.core.logging import configure_logging
from careweave.core.runtime import tune_gc
from careweave.db.engine import REQUEST_THREADS, make_engine, make_sessionmaker
from careweave.db.migrate import SchemaNotCurrent, check_schema
from careweave.errors import install_error_handlers
from careweave.fhir.api import router as fhir_router
from careweave.middleware import BodySizeLimitMiddleware, ConcurrencyLimitMiddleware, RequestContextMiddleware
from careweave.notify.mail import Mailer, make_mailer
from careweave.settings import Settings, ensure_secret_key
from careweave.visits.pages import router as visit_pages_router
from careweave.web.care import router as care_router
from careweave.web.directory_pages import router as directory_pages_router
from careweave.web.lab_pages import router as lab_pages_router
from careweave.web.medication_pages import router as medication_pages_router
from careweave.web.message_pages import router as message_pages_router
from careweave.web.outcome_pages import router as outcome_pages_router
from careweave.web.pages import router as web_router
from careweave.web.record_pages import router as record_pages_router
from careweave.web.referral_pages import router as referral_pages_router
from careweave.web.schedule_pages import router as schedule_pages_router
from careweave.web.sharing_pages import router as sharing_pages_router
from careweave.web.templating import STATIC_DIR

SWAGGER = "swagger-ui-5.35.0"  # vendored from the npm package swagger-ui-dist (Apache-2.0)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text_}
    for status, text_ in (
        (400, "Bad request"),
        (401, "Not authenticated"),
        (403, "Forbidden"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Payload too large"),
        (422, "Invalid input"),
        (429, "Too many attempts"),
    )
}


def create_app(
    settings: Settings,
    *,
    sessionmaker_: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
) -> FastAPI:
    settings = ensure_secret_key(settings)
    configure_logging(json=settings.log_json, level=settings.log_level)
    tune_gc()  # every app process (uvicorn workers build their own app): core.runtime
    if sessionmaker_ is None:
        engine = make_engine(settings.database_url)
        check_schema(engine)  # refuse to serve an unmigrated or newer schema
        sessionmaker_ = make_sessionmaker(engine)

    app = FastAPI(
        title="Careweave API",
        version=__version__,
        summary="Collaborative mental-health telehealth: patients, therapists and psychiatrists.",
        docs_url=None,  # served below with locally vendored Swagger UI (no CDN)
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.sessionmaker = sessionmaker_
    app.state.clock = clock or SystemClock()
    app.state.mailer = mailer or make_mailer(settings)

    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(web_router)
    app.include_router(care_router)
    app.include_router(directory_pages_router)
    app.include_router(schedule_pages_router)
    app.include_router(record_pages_router)
    app.include_router(medication_pages_router)
    app.include_router(lab_pages_router)
    app.include_router(message_pages_router)
    app.include_router(outcome_pages_router)  # measurement-based care (issue #8)
    app.include_router(sharing_pages_router)
    app.include_router(referral_pages_router)
    app.include_router(visit_pages_router)  # the visit room page and its WebSocket (issue #5)
    app.include_router(fhir_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Careweave API",
            swagger_js_url=f"/static/vendor/{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"/static/vendor/{SWAGGER}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        try:
            with sessionmaker_() as session:
                session.execute(text("SELECT 1"))
                bind = session.get_bind()
            engine = bind.engine if hasattr(bind, "engine") else bind
            check_schema(engine)  # type: ignore[arg-type]
        except SchemaNotCurrent:
            return JSONResponse({"status": "not_migrated"}, status_code=503)
        except Exception:
            return JSONResponse({"status": "database_unreachable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    # Outermost last: the request context wraps everything, the size limit sits inside it.
    app.add_middleware(ConcurrencyLimitMiddleware, limit=REQUEST_THREADS - 5)  # headroom: WebSockets, probes
    app.add_middleware(BodySizeLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, settings=settings)
    return app
