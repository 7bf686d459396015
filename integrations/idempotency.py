"""Safe retries and optimistic concurrency for every API viewset.

:class:`SafeWriteMixin` is a base of ``partnership.api.viewsets.ScopedViewSetMixin``, so every
app viewset has it. It adds, around DRF's request cycle:

**Idempotency-Key** (POST, PUT, PATCH). The key belongs to the caller — the organisation API
key (``key:<id>``) or the user, whether signed in by session or personal token
(``user:<id>``). The first request with a key stores the response (2xx and 4xx; not 5xx) in an
:class:`~integrations.models.IdempotencyRecord`, keyed by (owner, key) and fingerprinted by the
method, path, query and canonical body (JSON key order does not matter). Then:

- the same key with the same request replays the stored status and body, with
  ``Idempotent-Replayed: true``, and changes nothing;
- the same key with another request (body, path or method) answers 422;
- concurrent first requests: the record is inserted in the request's own transaction, and the
  whole request — the write and its stored answer — commits as one. A second request with the
  key waits on the unique index until the first commits, then replays its answer (or, if the
  first failed and rolled back, goes ahead itself). Exactly once, and a crash between the
  write and the stored answer is impossible. A record without an answer (which a commit never
  leaves) answers 409.

Records expire after 24 hours (:data:`RETENTION`): an older one is ignored and replaced, and
:func:`purge_expired_records` (nightly housekeeping) deletes them.

**ETag / If-None-Match** (GET of one object). ``ETag`` is a weak tag: a hash of the object's
representation, as ``GET /{resource}/{id}/`` shows it. Not of ``(id, updated_at)``: a detail
body also shows rows that change without touching the object's ``updated_at`` (a product's
readiness items; ``released_at``, cleared by an UPDATE), and a tag that misses them would
answer 304 with a stale copy. ``If-None-Match`` with the current tag answers 304 without a
body. Updates (PUT/PATCH) answer the new tag.

**If-Match** (PUT, PATCH, DELETE and POST actions on ``/{resource}/{id}/…``). The object's
row is locked (``SELECT … FOR UPDATE``) for the rest of the request, then the tag sent is
compared with the tag of its current representation: a stale tag answers 412 and nothing is
changed. Two writers holding the same tag cannot both pass: the second compares only after
the first has committed. Tags are compared as opaque version markers (``W/`` and quotes are
ignored; ``*`` matches any), and scoping comes first: a foreign object is 404, not 412.
"""

import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from partnership.api.errors import ErrorSerializer
from partnership.api.field_selection import FieldSelectionSchema

from .models import ApiKey, IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENT_METHODS = frozenset({"POST", "PUT", "PATCH"})
CONDITIONAL_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = IdempotencyRecord._meta.get_field("key").max_length


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = _(
        "This Idempotency-Key was used for a different request (method, path or body). "
        "Use a new key for a new request."
    )


class IdempotencyKeyInUse(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_use"
    default_detail = _("A request with this Idempotency-Key is still in progress; retry later.")


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = _(
        "The object has changed since you read it (If-Match does not match its ETag). "
        "Read it again and reapply your change."
    )


class _Replay(Exception):  # control flow, not an error
    """Raised in ``initial`` to answer with a stored response instead of running the view."""

    def __init__(self, response):
        super().__init__()
        self.response = response


# --- Idempotency keys ------------------------------------------------------------------------


def request_owner(request) -> str:
    """Whose key space the key lives in: an organisation API key's, or the user's."""
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}"
    return f"user:{request.user.pk}"


def _canonical(value):
    if isinstance(value, MultiValueDict):
        return {str(k): [_canonical(v) for v in value.getlist(k)] for k in sorted(value)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def request_fingerprint(request) -> str:
    """SHA-256 of the method, path, query and the parsed body in canonical form."""
    payload = {
        "method": request.method,
        "path": request.path,
        "query": _canonical(request.query_params),
        "body": _canonical(request.data),
    }
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""),
        status=record.status_code,
        content_type=record.content_type or None,
    )
    response[REPLAYED_HEADER] = "true"
    return response


def purge_expired_records(now=None) -> int:
    """Housekeeping: delete idempotency records older than :data:`RETENTION`."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _per_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- ETags -----------------------------------------------------------------------------------


def _opaque(tag: str) -> str:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip().strip('"')


def etag_matches(header: str, etag: str) -> bool:
    """Does any tag of an If-Match / If-None-Match header name ``etag`` (or is it ``*``)?"""
    wanted = _opaque(etag)
    return any(t.strip() == "*" or _opaque(t) == wanted for t in header.split(",") if t.strip())


def weak_etag(*parts) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return f'W/"{hashlib.sha256(text.encode()).hexdigest()[:32]}"'


# --- The mixin -------------------------------------------------------------------------------


class SafeWriteSchema(FieldSelectionSchema):
    """Documents the headers and answers of :class:`SafeWriteMixin` on every operation."""

    def _is_detail(self):
        # Router paths: only an object's URLs have a parameter (by-external-id is an upsert).
        return "{" in self.path and "{external_id}" not in self.path

    def _etag_action(self):
        return getattr(self.view, "action", None) in SafeWriteMixin.etag_actions

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method in IDEMPOTENT_METHODS:
            parameters.append(
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description=str(
                        _(
                            "A unique key (e.g. a UUID) that makes retries safe for 24 hours: "
                            "the same key and request replays the first answer (with "
                            "`Idempotent-Replayed: true`) and changes nothing; the same key "
                            "with another request answers 422."
                        )
                    ),
                )
            )
        if self.method in CONDITIONAL_WRITE_METHODS and self._is_detail():
            parameters.append(
                OpenApiParameter(
                    "If-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description=str(
                        _(
                            "The object's `ETag` from your last read: the write only happens "
                            "if the object is unchanged since, or answers 412."
                        )
                    ),
                )
            )
        if self.method == "GET" and self._is_detail() and self._etag_action():
            parameters.append(
                OpenApiParameter(
                    "If-None-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    description=str(
                        _(
                            "The `ETag` of your copy (the response carries the current one): "
                            "unchanged, the answer is 304 without a body."
                        )
                    ),
                )
            )
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses

        def add(code, description, body=ErrorSerializer):
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    OpenApiResponse(body, description=description), str(code), direction=direction
                )

        if self.method in IDEMPOTENT_METHODS:
            add(409, _("A request with this Idempotency-Key is still in progress."))
            add(422, _("This Idempotency-Key was used for a different request."))
        if self.method in CONDITIONAL_WRITE_METHODS and self._is_detail():
            add(412, _("If-Match does not match the object's current ETag: nothing changed."))
        if self.method == "GET" and self._is_detail() and self._etag_action():
            responses.setdefault("304", {"description": str(_("Not modified (If-None-Match)."))})
        return responses


class SafeWriteMixin:
    """Idempotency-Key, ETag/If-None-Match and If-Match for a DRF viewset (module docstring)."""

    schema = SafeWriteSchema()
    idempotent_methods = IDEMPOTENT_METHODS
    etag_actions = ("retrieve", "update", "partial_update")

    _idempotency_record = None

    # --- the request cycle -----------------------------------------------------------------

    def dispatch(self, request, *args, **kwargs):
        """Idempotent and conditional writes run in one transaction: the write, its stored
        answer and the If-Match row lock commit (or roll back) together."""
        method = request.method.upper()
        if (method in self.idempotent_methods and request.headers.get(IDEMPOTENCY_HEADER)) or (
            method in CONDITIONAL_WRITE_METHODS and request.headers.get("If-Match")
        ):
            with transaction.atomic():
                return super().dispatch(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        self._idempotency_record = None
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key and request.method in self.idempotent_methods:
            self._claim_idempotency_key(request, key.strip())
        if_match = request.headers.get("If-Match")
        if if_match and request.method in CONDITIONAL_WRITE_METHODS:
            self._check_if_match(if_match)

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response):  # not a replay, PDF or calendar file
            response = self._with_etag(request, response)
        record, self._idempotency_record = self._idempotency_record, None
        if record is not None:
            self._store(record, response)
        return response

    # --- Idempotency-Key -------------------------------------------------------------------

    def _claim_idempotency_key(self, request, key):
        if not key or len(key) > MAX_KEY_LENGTH:
            raise exceptions.ValidationError(
                {"idempotency_key": [_("Send 1 to %(max)s characters.") % {"max": MAX_KEY_LENGTH}]}
            )
        owner, fingerprint = request_owner(request), request_fingerprint(request)
        for _attempt in range(2):
            try:
                with transaction.atomic():  # a savepoint: a duplicate key leaves us usable
                    self._idempotency_record = IdempotencyRecord.objects.create(
                        key=key,
                        owner=owner,
                        method=request.method,
                        path=request.path[:500],
                        request_hash=fingerprint,
                    )
                return
            except IntegrityError:
                # Another request holds the key. The insert waited for its transaction.
                record = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
            if record is None:
                continue  # purged in between: claim it again
            if record.created_at < timezone.now() - RETENTION:
                record.delete()  # expired: the key is free again
                continue
            if record.request_hash != fingerprint:
                raise IdempotencyKeyReused
            if record.status_code is None:
                raise IdempotencyKeyInUse
            raise _Replay(replay(record))
        raise IdempotencyKeyInUse

    def _store(self, record, response):
        if response.status_code >= 500:
            # Not stored: roll the request back (the record with it) so a retry runs again.
            transaction.set_rollback(True)
            return
        if connection.needs_rollback:
            return  # the request's transaction is lost anyway; the record goes with it
        if not getattr(response, "is_rendered", True):
            response.render()
        record.status_code = response.status_code
        record.response_body = response.content
        record.content_type = response.get("Content-Type", "")
        record.save(update_fields=["status_code", "response_body", "content_type"])

    # --- ETag / If-Match --------------------------------------------------------------------

    def _detail_lookup(self):
        lookup = self.lookup_url_kwarg or self.lookup_field
        return self.kwargs.get(lookup)

    def _representation(self, obj):
        """The object as ``GET /{resource}/{id}/`` shows it: the retrieve action's serializer."""
        action, self.action = getattr(self, "action", None), "retrieve"
        try:
            return self.get_serializer(obj).data
        finally:
            self.action = action

    def _shows_as_retrieve(self) -> bool:
        """Does this action answer the object in the same serializer as a GET of it?"""
        current = self.get_serializer_class()
        action, self.action = self.action, "retrieve"
        try:
            return self.get_serializer_class() is current
        finally:
            self.action = action

    def etag_for(self, obj) -> str:
        return weak_etag(self._representation(obj))

    def response_etag(self, response) -> str:
        """The tag of an answer that shows the object as GET of it does."""
        return weak_etag(response.data)

    def _check_if_match(self, header):
        lookup = self._detail_lookup()
        if lookup is None or getattr(self, "action", None) is None:
            return  # not an object's URL, or a method the view does not answer (405)
        model = self.get_queryset().model
        # Lock first, then read: the version compared is the one the write will change.
        list(
            model._base_manager.select_for_update()
            .filter(**{self.lookup_field: lookup})
            .values_list("pk", flat=True)
        )
        obj = self.get_object()  # scoped: 404 outside the caller's partnerships
        if not etag_matches(header, self.etag_for(obj)):
            raise PreconditionFailed

    def _with_etag(self, request, response):
        action = getattr(self, "action", None)
        if (
            response.status_code != status.HTTP_200_OK
            or action not in self.etag_actions
            or self._detail_lookup() is None
            or (action != "retrieve" and not self._shows_as_retrieve())
        ):
            return response
        etag = self.response_etag(response)
        response["ETag"] = etag
        if_none_match = request.headers.get("If-None-Match")
        if (
            request.method in ("GET", "HEAD")
            and if_none_match
            and etag_matches(if_none_match, etag)
        ):
            not_modified = HttpResponseNotModified()
            not_modified["ETag"] = etag
            if response.has_header("Vary"):
                not_modified["Vary"] = response["Vary"]
            return not_modified
        return response
