"""RFC 9457 problem+json responses with Japanese messages and the failing field."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from moyai.platform.audit.context import current_request_id
from moyai.platform.errors import DomainError
from moyai.platform.identity.services import IdentityError, IdentityErrorCode
from moyai.platform.tenancy.errors import TenancyError, TenancyErrorCode

CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "入力内容に誤りがあります",
    401: "認証が必要です",
    403: "権限がありません",
    404: "見つかりません",
    409: "現在の状態では実行できません",
    422: "登録できません",
    500: "システムエラーが発生しました",
}


def problem(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": f"https://moyai.example/problems/{code}",
        "title": TITLES.get(status, "エラー"),
        "status": status,
        "detail": detail,
        "instance": request.path,
        "code": code,
        "request_id": current_request_id(),
    }
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    response = api.create_response(request, body, status=status)
    response["Content-Type"] = CONTENT_TYPE
    return response


_FIELD_LABELS = {"missing": "必須項目です", "int_parsing": "整数で入力してください", "date_from_datetime_parsing": "日付（YYYY-MM-DD）で入力してください",
                 "date_parsing": "日付（YYYY-MM-DD）で入力してください", "datetime_parsing": "日時（ISO 8601）で入力してください",
                 "bool_parsing": "true か false で入力してください", "string_type": "文字列で入力してください",
                 "literal_error": "選択肢にない値です", "json_invalid": "JSON として読めません",
                 "too_short": "件数が足りません（1件以上必要です）", "too_long": "件数が多すぎます",
                 "string_too_short": "入力してください（空欄にはできません）", "string_too_long": "文字数が多すぎます",
                 "greater_than_equal": "値が小さすぎます", "less_than_equal": "値が大きすぎます",
                 "int_type": "整数で入力してください", "dict_type": "オブジェクトで入力してください",
                 "list_type": "配列で入力してください", "model_attributes_type": "オブジェクトで入力してください"}


def install(api: NinjaAPI) -> None:
    @api.exception_handler(NinjaValidationError)
    def _validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        errors = []
        for e in exc.errors:
            loc = [str(x) for x in e.get("loc", []) if x not in ("body", "query", "path", "payload")]
            msg = _FIELD_LABELS.get(e.get("type", ""), "値が正しくありません")
            errors.append({"field": ".".join(loc), "message": msg})
        first = errors[0] if errors else {"field": None, "message": "入力内容に誤りがあります"}
        return problem(api, request, 400, "request.invalid", f"{first['field']}: {first['message']}",
                       field=first["field"], errors=errors)

    @api.exception_handler(DomainError)
    def _domain(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return problem(api, request, exc.status, str(exc.code), exc.message, field=exc.field,
                       errors=exc.findings or None)

    @api.exception_handler(IdentityError)
    def _identity(request: HttpRequest, exc: IdentityError) -> HttpResponse:
        status = 401 if exc.code == IdentityErrorCode.NOT_AUTHENTICATED else 403
        return problem(api, request, status, exc.code, exc.message)

    @api.exception_handler(TenancyError)
    def _tenancy(request: HttpRequest, exc: TenancyError) -> HttpResponse:
        status = 404 if exc.code == TenancyErrorCode.UNKNOWN_TENANT else 400
        return problem(api, request, status, exc.code, exc.message)

    @api.exception_handler(AuthenticationError)
    def _auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return problem(api, request, 401, "identity.not_authenticated", "ログインするか、APIトークンを指定してください")

    @api.exception_handler(HttpError)
    def _http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return problem(api, request, exc.status_code, "http.error", str(exc))
