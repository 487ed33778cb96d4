"""RFC 9457 problem details for every error the HTTP layer answers, and the domain errors services raise.

Services raise the domain errors below and never think about HTTP; the handlers here turn those, the
framework's own exceptions and anything unexpected into ``application/problem+json`` bodies.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import IntegrityError

from app.core.logging import request_id_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://tenline.dev/problems/"

log = structlog.get_logger("tenline.errors")


class FieldError(msgspec.Struct, kw_only=True):
    field: str
    message: str
    source: str | None = None


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem: what went wrong, for a program and for a person."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    request_id: str | None = None


class DomainError(Exception):
    status = HTTPStatus.BAD_REQUEST
    slug = "bad-request"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class NotFoundError(DomainError):
    """Missing, or another tenant's: the same answer, so ids leak nothing."""

    status = HTTPStatus.NOT_FOUND
    slug = "not-found"


class ConflictError(DomainError):
    status = HTTPStatus.CONFLICT
    slug = "conflict"


class PermissionDeniedError(DomainError):
    status = HTTPStatus.FORBIDDEN
    slug = "forbidden"


class InvalidInputError(DomainError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    slug = "invalid-input"

    @classmethod
    def for_field(cls, field: str, message: str) -> InvalidInputError:
        return cls(
            f"{field}: {message}",
            errors=[FieldError(field=field, message=message, source="body")],
        )


class PreconditionFailedError(DomainError):
    status = HTTPStatus.PRECONDITION_FAILED
    slug = "precondition-failed"


class TooManyRequestsError(DomainError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    slug = "too-many-requests"

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    *,
    detail: str | None = None,
    slug: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    problem = Problem(
        type=PROBLEM_TYPE_BASE + slug if slug else "about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
        request_id=request_id_of(request.scope),
    )
    return Response(problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _validation_errors(exc: ValidationException) -> list[FieldError]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = []
    for item in extra:
        if isinstance(item, dict):
            errors.append(
                FieldError(
                    field=str(item.get("key") or "body"),
                    message=str(item.get("message", "invalid value")),
                    source=str(item["source"]) if item.get("source") else None,
                )
            )
    return errors


def _http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors) or exc.detail
        return problem_response(request, exc.status_code, detail=summary, slug="validation", errors=errors)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if exc.detail and exc.detail != phrase else None
    return problem_response(request, exc.status_code, detail=detail, headers=exc.headers)


def _domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    headers = None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return problem_response(
        request,
        exc.status,
        detail=exc.detail,
        slug=exc.slug,
        errors=exc.errors,
        headers=headers,
    )


def _unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    return problem_response(request, 500, detail="An unexpected error occurred; it has been logged.")


# Checks run before writes; these catch what a concurrent request slipped in between check and write.
_INTEGRITY_CONFLICTS = {
    "23505": "it conflicts with a record that was just created; reload and try again",
    "23503": "it refers to something that no longer exists, or is still referred to; reload and try again",
}


def _integrity_error_handler(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[Any]:
    detail = _INTEGRITY_CONFLICTS.get(getattr(exc.orig, "sqlstate", None) or "")
    if detail is None:
        return _unexpected_error_handler(request, exc)
    return problem_response(request, HTTPStatus.CONFLICT, detail=detail, slug="conflict")


exception_handlers: dict[type[Exception] | int, Any] = {
    HTTPException: _http_exception_handler,
    DomainError: _domain_error_handler,
    IntegrityError: _integrity_error_handler,
    Exception: _unexpected_error_handler,
}
