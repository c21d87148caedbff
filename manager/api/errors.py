"""Every error leaves the API as Cloudify's body: {message, error_code, server_traceback}."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from manager.errors import QuarterdeckError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_parameters_error",
    401: "unauthorized_error",
    403: "forbidden_error",
    404: "not_found_error",
    405: "method_not_allowed_error",
    409: "conflict_error",
}


def error_response(
    status_code: int,
    message: str,
    error_code: str,
    trace: str | None = None,
    extras: dict[str, Any] | None = None,
) -> JSONResponse:
    body = {"message": message, "error_code": error_code, "server_traceback": trace}
    return JSONResponse({**(extras or {}), **body}, status_code=status_code)


def _describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{location}: {error.get('msg')}" if location else str(error.get("msg")))
    return "Invalid request: " + "; ".join(problems)


def install_error_handlers(app: FastAPI, *, debug: bool) -> None:
    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, QuarterdeckError)
        response = error_response(
            exc.status_code, exc.message, exc.error_code, extras=exc.body_extras()
        )
        response.headers.update(exc.response_headers())
        return response

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, _describe_validation(exc), "bad_parameters_error")

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"Requested URL {request.url.path} was not found on this server"
        code = _HTTP_CODES.get(exc.status_code, "bad_parameters_error")
        response = error_response(exc.status_code, message, code)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def integrity_error(_: Request, exc: Exception) -> JSONResponse:
        log.info("integrity error mapped to 409: %s", exc)
        return error_response(409, "The resource conflicts with an existing one", "conflict_error")

    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        trace = "".join(traceback.format_exception(exc)) if debug else None
        return error_response(
            500, f"Internal error: {type(exc).__name__}", "internal_server_error", trace
        )

    app.add_exception_handler(QuarterdeckError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(IntegrityError, integrity_error)
    app.add_exception_handler(Exception, unexpected_error)
