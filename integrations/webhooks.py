"""Outgoing webhooks: partners subscribe an URL to events and receive signed POSTs.

Flow
----
1. A service writes and publishes its events (:mod:`partnership.events`); :func:`on_events`,
   the webhooks' subscriber, writes one :class:`WebhookDelivery` row per event × matching
   subscription *in the same transaction* as the change, and queues the sends once that
   transaction commits. Which events exist is what the apps registered
   (``partnership.registry.WebhookEvent``, in each app's ``apps.py``).
2. ``integrations.tasks.deliver_webhook`` calls :func:`attempt`: it claims the row, POSTs the
   JSON body, records the outcome and, on failure, schedules the next attempt with exponential
   backoff (``30 s × 2^(attempt-1)``, capped at one hour, :data:`MAX_ATTEMPTS` attempts in all).
3. The database row is the source of truth: ``retry_due_webhooks`` (every minute, scheduled by
   migration ``integrations/0002_webhook_schedule``) re-queues rows whose ``next_attempt_at``
   passed — so a lost Celery message or a Redis outage delays a delivery but never loses it.
   Duplicate messages are harmless: an attempt first *claims* the row with a conditional
   UPDATE (a lease of :data:`LEASE`), so only one worker sends a given attempt.

Who receives what
-----------------
A subscription belongs to an organisation. It receives an event of a partnership only if its
organisation is the OEM or the EMS of that partnership and the subscription is for that
partnership or for all of them (``partnership`` empty). The payload describes only the object
that changed (type, id, external id, status, API URL) — fetch details through the API with an
organisation API key, which applies the usual scoping::

    {"event": "decision_request.raised", "event_id": "…uuid…",
     "occurred_at": "2026-03-01T10:00:00+00:00", "partnership": 12,
     "action": "raised", "changed": [],
     "object": {"type": "decision-requests", "id": 7, "external_id": "SAP-4711",
                "status": "awaiting_oem", "url": "https://portal…/api/v1/decision-requests/7/"}}

``action`` says what happened to the object (``created``, ``changed``, ``confirmed``, …, as the
service announced it) and ``changed`` which of its fields changed; one write of many rows (a
bulk upsert) is one event, and one delivery per subscription, for each row created or changed.

``event_id`` is the same for every delivery of one event and stays the same across retries, so
receivers can de-duplicate on it. A *replay* (from the delivery log) is a new delivery with a
new ``event_id`` and ``"replay_of": <the original event_id>``, otherwise the same payload — a
receiver that de-duplicates still processes it, and can tell it is a replay.

Verifying a delivery (receiver side)
------------------------------------
Every request carries::

    X-Portal-Event:     decision_request.raised
    X-Portal-Delivery:  <event_id>
    X-Portal-Timestamp: <unix seconds when this attempt was sent>
    X-Portal-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{raw body}")>

Check it over the *raw* request body, before parsing JSON, e.g. with :func:`verify_signature`
(``verify_signature(secret, headers["X-Portal-Timestamp"], body, headers["X-Portal-Signature"])``).
It rejects a wrong signature and a timestamp more than ``tolerance`` seconds (default 300) away
from now, which stops replays of captured requests. Answer 2xx quickly; anything else
(including redirects and timeouts after :data:`TIMEOUT` seconds) counts as a failure and is
retried.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import registry
from partnership.models import Partnership

from .models import WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

EVENT_HEADER = "X-Portal-Event"
DELIVERY_HEADER = "X-Portal-Delivery"
TIMESTAMP_HEADER = "X-Portal-Timestamp"
SIGNATURE_HEADER = "X-Portal-Signature"
USER_AGENT = "OEM-EMS-Partnership-Portal-Webhooks/1.0"

TIMEOUT = 10  # seconds per POST
MAX_ATTEMPTS = 8
BACKOFF_BASE = 30  # seconds after the first failed attempt, doubling each time
BACKOFF_CAP = 60 * 60
RESPONSE_BODY_LIMIT = 2048  # bytes of the receiver's answer we keep
# While an attempt is in flight its row is leased: other messages for it are ignored; if the
# worker dies mid-attempt the sweep picks the row up again once the lease expired.
LEASE = timedelta(seconds=TIMEOUT + 60)
# A retry message may run a little before next_attempt_at (clock skew between workers).
EARLY = timedelta(seconds=5)
# A never-attempted row whose message was lost is re-queued by the sweep after this long.
PENDING_GRACE = timedelta(minutes=2)

OPEN_STATUSES = [WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING]
#: Up to this many deliveries of one write are queued one message each; beyond (a bulk upsert
#: may make thousands) a message carries QUEUE_CHUNK first attempts.
QUEUE_ONE_BY_ONE = 10
QUEUE_CHUNK = 50


# --- Signing ------------------------------------------------------------------------------


def _as_bytes(value) -> bytes:
    return value if isinstance(value, bytes | bytearray) else str(value).encode()


def sign(secret: str, timestamp, body) -> str:
    """``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``."""
    message = _as_bytes(str(int(timestamp))) + b"." + _as_bytes(body)
    digest = hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret, timestamp, body, signature, tolerance=300, now=None) -> bool:
    """For receivers: is ``signature`` the portal's signature of ``body`` sent at ``timestamp``,
    and is that timestamp within ``tolerance`` seconds of ``now``? ``body`` is the raw request
    body (bytes or str); ``timestamp`` and ``signature`` are the header values as received."""
    if not secret or not signature or timestamp in (None, ""):
        return False
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    now = time.time() if now is None else now
    if tolerance is not None and abs(now - ts) > tolerance:
        return False
    expected = sign(secret, ts, body)
    return hmac.compare_digest(expected.encode(), _as_bytes(signature).strip())


def encode(payload: dict) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(
        payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True
    ).encode()


def signed_headers(*, secret: str, event: str, event_id, body: bytes, timestamp=None) -> dict:
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(event_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


# --- Emitting -----------------------------------------------------------------------------


def event_choices() -> list[tuple[str, str]]:
    """``(name, label)`` of every webhook event the apps registered (``partnership.registry``)."""
    return [(w.name, w.label) for w in registry.webhook_events()]


def event_names() -> list[str]:
    return [w.name for w in registry.webhook_events()]


@functools.cache
def _by_kind() -> dict[str, list]:
    """Event kind → the webhook events it may match; fixed once the apps are ready."""
    out = defaultdict(list)
    for webhook_event in registry.webhook_events():
        out[webhook_event.kind].append(webhook_event)
    return dict(out)


def object_payload(instance, kind: str) -> dict:
    """The ``object`` part of a payload: what changed, never its content."""
    spec = registry.event_kind(kind)
    try:
        path = reverse(spec.detail_route, args=[instance.pk])
    except NoReverseMatch:
        path = f"/api/v1/{spec.resource}/{instance.pk}/"
    return {
        "type": spec.resource,
        "id": instance.pk,
        "external_id": getattr(instance, "external_id", None) or None,
        "status": getattr(instance, "status", None),
        "url": settings.SITE_URL.rstrip("/") + path,
    }


def _subscriptions(parties: dict) -> dict:
    """``{partnership id: {event name: [subscription, …]}}`` for ``{partnership id: (oem id,
    ems id)}`` — one query whatever the number of partnerships."""
    org_ids = {org for pair in parties.values() for org in pair}
    rows = (
        WebhookSubscription.objects.filter(active=True, organization_id__in=org_ids)
        .filter(Q(partnership__isnull=True) | Q(partnership_id__in=list(parties)))
        .order_by("pk")
    )
    out = {pk: defaultdict(list) for pk in parties}
    for subscription in rows:
        targets = [subscription.partnership_id] if subscription.partnership_id else list(parties)
        for pk in targets:
            if pk in parties and subscription.organization_id in parties[pk]:
                for name in subscription.events or []:
                    out[pk][name].append(subscription)
    return out


def _envelope(name, event_id, partnership_id, payload, *, action=None, changed=()) -> dict:
    envelope = {
        "event": name,
        "event_id": str(event_id),
        "occurred_at": timezone.now().isoformat(),
        "partnership": partnership_id,
        "object": payload,
    }
    if action is not None:
        envelope["action"] = action
        envelope["changed"] = list(changed)
    return envelope


def _offered(event) -> bool:
    return event.kind in _by_kind()


@registry.subscribe(accepts=_offered, order=20, name="webhooks")
def on_events(events) -> list[WebhookDelivery]:
    """The webhooks' subscriber to the event path: a delivery per event × subscription that
    listens to it, written in the writer's transaction (two queries per batch), queued once it
    commits. Each event has its own ``event_id``, the same for all its deliveries."""
    pids = {e.partnership_id for e in events}
    parties = {
        pk: (oem, ems)
        for pk, oem, ems in Partnership.objects.filter(pk__in=pids).values_list(
            "pk", "oem_id", "ems_id"
        )
    }
    listening = _subscriptions(parties)
    deliveries = []
    for event in events:
        pid = event.partnership_id
        for webhook_event in _by_kind()[event.kind]:
            subscriptions = listening[pid].get(webhook_event.name)
            if not subscriptions or not webhook_event.matches(event):
                continue
            event_id = uuid.uuid4()
            envelope = _envelope(
                webhook_event.name,
                event_id,
                pid,
                object_payload(event.obj, event.kind),
                action=event.action,
                changed=event.changed,
            )
            deliveries += [
                WebhookDelivery(
                    subscription=s,
                    event=webhook_event.name,
                    event_id=event_id,
                    partnership_id=pid,
                    payload=envelope,
                )
                for s in subscriptions
            ]
    return _record(deliveries)


def _record(deliveries) -> list[WebhookDelivery]:
    if not deliveries:
        return []
    deliveries = WebhookDelivery.objects.bulk_create(deliveries)
    queue_deliveries([d.pk for d in deliveries])
    return deliveries


def queue_delivery(delivery_id: int) -> None:
    """Queue the send once the current transaction commits (immediately outside one)."""
    queue_deliveries([delivery_id])


def queue_deliveries(delivery_ids: list[int]) -> None:
    """Queue the sends once the current transaction commits: one message per delivery, or per
    :data:`QUEUE_CHUNK` deliveries when a bulk write made more than :data:`QUEUE_ONE_BY_ONE`."""
    ids = list(delivery_ids)
    transaction.on_commit(lambda: _send_tasks(ids))


def _send_tasks(ids) -> None:
    if len(ids) <= QUEUE_ONE_BY_ONE:
        for delivery_id in ids:
            _send_task(delivery_id)
        return
    from .tasks import deliver_webhooks

    for start in range(0, len(ids), QUEUE_CHUNK):
        chunk = ids[start : start + QUEUE_CHUNK]
        try:
            deliver_webhooks.delay(chunk)
        except Exception:  # broker down: the rows are pending, the sweep re-queues them
            logger.warning("Could not queue %s webhook deliveries; the sweep will.", len(chunk))
            return


def _send_task(delivery_id: int) -> None:
    from .tasks import deliver_webhook

    try:
        deliver_webhook.delay(delivery_id)
    except Exception:  # broker down: the row is pending, the sweep re-queues it
        logger.warning("Could not queue webhook delivery %s; the sweep will.", delivery_id)


def replay(delivery: WebhookDelivery) -> WebhookDelivery:
    """A new delivery of the same payload to the same subscription, with a new event_id and
    ``replay_of`` = the original event_id (see the module docstring)."""
    if not delivery.subscription.active:
        raise ValidationError(_("This webhook is deactivated; its deliveries cannot be replayed."))
    event_id = uuid.uuid4()
    original = delivery.payload.get("replay_of") or str(delivery.event_id)
    new = WebhookDelivery.objects.create(
        subscription=delivery.subscription,
        event=delivery.event,
        event_id=event_id,
        partnership_id=delivery.partnership_id,
        payload={**delivery.payload, "event_id": str(event_id), "replay_of": original},
    )
    queue_delivery(new.pk)
    return new


def deactivate(subscription: WebhookSubscription) -> int:
    """Stop a subscription; its deliveries still waiting are marked failed. Returns how many."""
    subscription.active = False
    subscription.save(update_fields=["active"])
    return fail_open_deliveries_of_inactive(subscription_id=subscription.pk)


def fail_open_deliveries_of_inactive(subscription_id=None) -> int:
    rows = WebhookDelivery.objects.filter(status__in=OPEN_STATUSES, subscription__active=False)
    if subscription_id is not None:
        rows = rows.filter(subscription_id=subscription_id)
    return rows.update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        error=_("Webhook deactivated."),
    )


# --- Delivering ---------------------------------------------------------------------------


def backoff(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt: 30, 60, 120, … ≤ 1 h."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery (and must not turn the POST into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass
class Response:
    status: int | None
    body: str
    error: str


def post(url: str, body: bytes, headers: dict, timeout=TIMEOUT) -> Response:
    """POST and return the status and the first 2 KB of the answer; never raises."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as answer:
            raw = answer.read(RESPONSE_BODY_LIMIT)
            return Response(answer.status, raw.decode("utf-8", errors="replace"), "")
    except urllib.error.HTTPError as exc:
        try:
            raw = exc.read(RESPONSE_BODY_LIMIT) or b""
        except Exception:
            raw = b""
        finally:
            exc.close()
        return Response(exc.code, raw.decode("utf-8", errors="replace"), f"HTTP {exc.code}")
    except Exception as exc:  # URLError, timeout, connection reset, invalid URL …
        reason = getattr(exc, "reason", None) or exc
        return Response(None, "", f"{type(exc).__name__}: {reason}"[:1000])


def due_filter(now) -> Q:
    """Rows the sweep should (re-)queue."""
    return Q(status__in=OPEN_STATUSES, next_attempt_at__lte=now) | Q(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__isnull=True,
        created_at__lte=now - PENDING_GRACE,
    )


def attempt(delivery_id: int) -> WebhookDelivery | None:
    """One delivery attempt. Returns the updated row, or None if there was nothing to do
    (already delivered/failed, not due yet, or another worker holds the attempt)."""
    WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=OPEN_STATUSES, subscription__active=False
    ).update(
        status=WebhookDelivery.Status.FAILED, next_attempt_at=None, error=_("Webhook deactivated.")
    )
    now = timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, status__in=OPEN_STATUSES, subscription__active=True
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + EARLY))
        .update(attempts=F("attempts") + 1, next_attempt_at=now + LEASE)
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    body = encode(delivery.payload)
    headers = signed_headers(
        secret=subscription.secret, event=delivery.event, event_id=delivery.event_id, body=body
    )
    response = post(subscription.url, body, headers)

    now = timezone.now()
    delivery.response_status = response.status
    delivery.response_body = response.body
    delivery.error = response.error
    if response.status is not None and 200 <= response.status < 300:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.status = WebhookDelivery.Status.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts))
    delivery.save(
        update_fields=[
            "status",
            "response_status",
            "response_body",
            "error",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    if delivery.status != WebhookDelivery.Status.DELIVERED:
        logger.info(
            "Webhook delivery %s attempt %s failed (%s)",
            delivery.pk,
            delivery.attempts,
            response.error or response.status,
        )
    return delivery


def requeue_due(now=None, limit=500) -> int:
    """Queue every delivery whose next attempt is due (the sweep). Returns how many."""
    now = now or timezone.now()
    fail_open_deliveries_of_inactive()
    ids = list(
        WebhookDelivery.objects.filter(due_filter(now), subscription__active=True)
        .order_by("next_attempt_at", "created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in ids:
        _send_task(delivery_id)
    return len(ids)
