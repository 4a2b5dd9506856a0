"""API errors: every failure answers {"status": "error", "type", "message"}."""

from __future__ import annotations

from starlette.responses import JSONResponse


class ApiError(Exception):
    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return error_response(self.status, self.type, self.message, headers)


def error_response(
    status: int, type: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"status": "error", "type": type, "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


def invalid(field: str, problem: str) -> ApiError:
    return ApiError(400, "invalid_field", f"{field}: {problem}")
