"""One error body for every API failure.

``{"status": 400, "code": "invalid", "detail": "…", "errors": {"field": ["…"]}}`` — ``errors``
only appears for validation failures and carries DRF's field-level messages unchanged;
``retry_after`` (seconds) only on 429, matching the ``Retry-After`` header.
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        if "__all__" in detail:  # Django's model-level errors, under DRF's name for them
            detail["non_field_errors"] = detail.pop("__all__")
        exc = exceptions.ValidationError(detail)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        response.data = {
            "status": response.status_code,
            "code": "invalid",
            "detail": _("Some fields are invalid."),
            "errors": errors,
        }
    else:
        if isinstance(exc, Http404):
            code, detail = "not_found", _("Not found.")
        elif isinstance(exc, PermissionDenied):
            code, detail = (
                "permission_denied",
                _("You do not have permission to perform this action."),
            )
        else:
            code = getattr(exc, "default_code", "error")
            detail = (
                response.data.get("detail", str(exc))
                if isinstance(response.data, dict)
                else str(exc)
            )
            codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
            if isinstance(codes, str):
                code = codes
        response.data = {"status": response.status_code, "code": code, "detail": str(detail)}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data["retry_after"] = exc.wait  # seconds, as in the Retry-After header
    return response


class ErrorSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()


class ValidationErrorSerializer(ErrorSerializer):
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
