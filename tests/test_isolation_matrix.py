"""Tenant isolation, route by route, enumerated automatically.

Every URL pattern Django knows (``get_resolver()``, nested includes too) and every operation
of the OpenAPI schema is tried with the ids of a fully populated foreign partnership (see
``tests/trust_world.py``), by each role on both sides of ours and by our organisation's API
key, with GET, POST, PUT, PATCH and DELETE. The foreign object must answer 404 (or 403/405
when the method or role is refused before the lookup) and stay unchanged in the database.
Routes without parameters (lists, inboxes, exports, search) are asked for the foreign
partnership's ids and must not show any of its names.

A new route whose parameter this file cannot map fails the test with instructions: an
unscoped route cannot slip in unnoticed.
"""

import re
from collections import Counter
from html.parser import HTMLParser
from itertools import product as cartesian

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RoutePattern

from tests.trust_world import TrustWorld

pytestmark = pytest.mark.django_db

METHODS = ["get", "post", "put", "patch", "delete"]
REFUSED = {403, 404, 405}

# Prefixes that are not tenant data: Django's admin (staff only, checked below) and allauth's
# account pages (their keys are one-time secrets mailed to one person, not object ids).
EXEMPT_PREFIXES = ("admin/", "accounts/")

# Route parameters that mean the same object wherever they appear.
PARAMS = {
    "partnership_pk": "partnership",
    "partnership_id": "partnership",
    "item_pk": "responsibility_item",
    "rule_pk": "decision_rule",
    "other_pk": "contract",
    "attachment_pk": "decision_attachment",
    "file_pk": "readiness_file",
    "evidence_pk": "evidence",
    "comment_pk": "problem_comment",
    "invitation_pk": "invitation",
    "membership_pk": "membership",
    "key_pk": "api_key",
    "subscription_pk": "webhook_subscription",
    "delivery_pk": "webhook_delivery",
}

# Literal parameters: every value the view understands is tried.
LITERALS = {
    "format": ["json"],
    "action": ["propose", "sign", "request-changes", "new-version"],
    "what": ["capacity", "demand"],
}

# ``pk`` means a different object per route: pages by URL name, API by router basename.
PAGE_PK = {
    "organization_detail": "organization",
    "organization_edit": "organization",
    "invite_member": "organization",
    "revoke_invitation": "organization",
    "change_member_role": "organization",
    "remove_member": "organization",
    "organization_api_keys": "organization",
    "revoke_organization_api_key": "organization",
    "webhooks:list": "organization",
    "webhooks:create": "organization",
    "webhooks:deactivate": "organization",
    "webhooks:deliveries": "organization",
    "webhooks:replay": "organization",
    "revoke_api_token": "api_token",
    "contracts:detail": "contract",
    "contracts:terms": "contract",
    "contracts:flex": "contract",
    "contracts:matrix": "draft_contract",
    "contracts:matrix_row": "draft_contract",
    "contracts:matrix_csv": "contract",
    "contracts:matrix_import": "draft_contract",
    "contracts:rule_create": "draft_contract",
    "contracts:rule_edit": "draft_contract",
    "contracts:rule_delete": "draft_contract",
    "contracts:tester": "contract",
    "contracts:action": "draft_contract",
    "contracts:compare": "draft_contract",
    "contracts:pdf": "contract",
    "contracts:decision_detail": "decision_request",
    "contracts:decision_attachment": "decision_request",
    "schedules:product": "product",
    "schedules:readiness_file": "product",
    "schedules:run": "production_run",
    "audits:audit": "audit",
    "audits:answer": "audit",
    "audits:report": "audit",
    "audits:evidence": "audit",
    "audits:finding": "finding",
    "audits:certificate_file": "certificate",
    "comms:meeting": "meeting",
    "comms:meeting_ics": "meeting",
    "comms:minutes_pdf": "meeting",
    "comms:problem": "problem",
    "comms:comment_file": "problem",
}
API_PK = {
    "partnership": "partnership",
    "organization": "organization",
    "contract": "contract",
    "decision-request": "decision_request",
    "product": "product",
    "production-run": "production_run",
    "priority-request": "priority_request",
    "capacity": "capacity_plan",
    "demand-publication": "demand_publication",
    "capacity-alert": "capacity_alert",
    "audit-template": "audit_template",
    "audit": "audit",
    "finding": "finding",
    "corrective-action": "corrective_action",
    "certificate": "certificate",
    "kpi": "kpi",
    "meeting": "meeting",
    "action-item": "action_item",
    "problem": "problem",
    "goal": "goal",
}
# Reference data every signed-in user may read (the shipped audit checklists).
SHARED = {"audit_template"}
# Capability URLs: the secret token in the path is the authorisation. A guessed one must 404.
TOKEN_ROUTES = {"invitation_accept", "calendar_feed"}

ROLES = ["buyer", "oem_viewer", "account_manager", "ems_admin", "api_key"]
OEM_ROLES = {"buyer", "oem_admin", "oem_viewer", "api_key"}

BODY = {
    "title": "pwned",
    "name": "pwned",
    "text": "pwned",
    "reason": "pwned",
    "status": "approved",
    "action": "approve",
    "role": "admin",
    "email": "intruder@example.com",
    "url": "https://evil.example/hook",
    "events": ["problem.changed"],
}

# Rows a signed-in user legitimately touches on their own (sessions, last use, own settings).
VOLATILE_FIELDS = {"last_login", "last_used_at"}
OWN_ROWS_MODELS = {
    "partnership.user",
    "partnership.notificationsettings",
    "partnership.apitoken",
    "comms.calendarfeed",
}
IGNORED_MODELS = {
    "sessions.session",
    "integrations.idempotencyrecord",
    "admin.logentry",
}


def walk(patterns=None, prefix="", namespace="", params=()):
    """Yield ``(qualified name, route, parameter names)`` for every pattern, nested too."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        names = tuple(
            p.pattern.converters
            if isinstance(p.pattern, RoutePattern)
            else p.pattern.regex.groupindex
        )
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from walk(p.url_patterns, prefix + str(p.pattern), ns, params + names)
        elif isinstance(p, URLPattern):
            route = prefix + str(p.pattern)
            if route.startswith(EXEMPT_PREFIXES):
                continue
            yield (f"{namespace}{p.name}" if p.name else None), route, params + names, p.callback


def basename(callback):
    return (getattr(callback, "initkwargs", None) or {}).get("basename")


def object_key(name, route, param, callback):
    """The foreign object a route parameter stands for, or fail telling how to map it."""
    if param in PARAMS:
        return PARAMS[param]
    if param == "pk":
        key = API_PK.get(basename(callback)) if route.startswith("api/") else PAGE_PK.get(name)
        if key:
            return key
    pytest.fail(
        f"Route {route!r} (name {name!r}) takes {param!r}, which tests/test_isolation_matrix.py "
        "does not know. Map it to a foreign object (PARAMS, PAGE_PK or API_PK, and create the "
        "object in tests/trust_world.py) so the route's isolation is tested."
    )


def url_variants(world, ours_org, name, route, params, callback, mixed=True):
    """The route filled with foreign ids; and, where it has a parent, our parent with the
    foreign child (the classic IDOR: the parent is checked, the child lookup is not)."""
    if name in TOKEN_ROUTES:
        return [(reverse(name, kwargs={"token": world.secret_token}), None)]
    choices = []
    for param in params:
        if param in LITERALS:
            choices.append([(param, v) for v in LITERALS[param]])
        else:
            key = object_key(name, route, param, callback)
            choices.append([(param, world.objects[key].pk)])
    variants = []
    for combo in cartesian(*choices):
        kwargs = dict(combo)
        keys = {p: object_key(name, route, p, callback) for p in params if p not in LITERALS}
        variants.append((reverse(name, kwargs=kwargs), keys))
        if not mixed or len(keys) < 2:
            continue
        # Mixed: our parent, their child.
        if "partnership_pk" in kwargs:
            variants.append(
                (reverse(name, kwargs={**kwargs, "partnership_pk": world.ours.pk}), keys)
            )
        elif keys.get("pk") == "organization":
            variants.append((reverse(name, kwargs={**kwargs, "pk": ours_org.pk}), keys))
    return variants


def snapshot():
    """Every row of every model (minus volatile fields): the foreign world must not change."""
    rows = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in IGNORED_MODELS:
            continue
        fields = [
            f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS
        ]
        for row in model._default_manager.values_list("pk", *fields):
            rows[(label, row[0])] = row
    return rows


def assert_unchanged(before, world):
    after = snapshot()
    ours_users = {u.pk for u in world.users.values()}

    def own(key, row):
        label = key[0]
        if label not in OWN_ROWS_MODELS:
            return False
        if label == "partnership.user":
            return key[1] in ours_users
        model = apps.get_model(label)
        return model._default_manager.filter(pk=key[1], user__in=ours_users).exists()

    changed = [k for k, row in before.items() if after.get(k) != row and not own(k, row)]
    created = [k for k in after.keys() - before.keys() if not own(k, after[k])]
    assert not changed, f"rows changed or deleted by foreign requests: {changed[:20]}"
    assert not created, f"rows created by foreign requests: {created[:20]}"


def client_for(client, world, role):
    client.raise_request_exception = False  # a 500 is a finding to report, not a crash
    if role == "api_key":
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {world.api_key}"
    else:
        client.force_login(world.users[role])
    return client


def call(client, method, url, api):
    if method == "get":
        return client.get(url)
    if api:
        return getattr(client, method)(url, BODY, content_type="application/json")
    if method == "post":
        return client.post(url, BODY)
    return getattr(client, method)(
        url, "title=pwned", content_type="application/x-www-form-urlencoded"
    )


def body_text(response):
    body = b"".join(response) if response.streaming else response.content
    return body.decode("utf-8", "replace")


def leaks(world, response):
    text = body_text(response)
    return [s for s in world.secrets if s in text]


@pytest.fixture
def trust_world(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return TrustWorld()


def filter_query(world):
    o = world.objects
    return {
        "partnership": o["partnership"].pk,
        "partnership_id": o["partnership"].pk,
        "product": o["product"].pk,
        "run": o["production_run"].pk,
        "audit": o["audit"].pk,
        "meeting": o["meeting"].pk,
        "problem": o["problem"].pk,
        "contract": o["contract"].pk,
        "goal": o["goal"].pk,
        "organization": o["organization"].pk,
        "external_id": o["product"].external_id,
        "product_external_id": o["product"].external_id,
        "search": "Murata",
        "q": "Nordwind",
    }


FIGURES = Counter()


@pytest.mark.parametrize("role", ROLES)
def test_foreign_objects_answer_404_on_every_route(trust_world, client, role):
    world = trust_world
    client = client_for(client, world, role)
    ours_org = world.oem if role in OEM_ROLES else world.ems
    before = snapshot()
    failures, routes, requests = [], set(), 0
    for name, route, params, callback in walk():
        api = route.startswith("api/")
        if role == "api_key" and not api:
            continue
        if not params:
            continue
        for url, keys in url_variants(world, ours_org, name, route, params, callback):
            shared = bool(keys) and keys.get("pk") in SHARED
            for method in METHODS:
                response = call(client, method, url, api)
                requests += 1
                routes.add(route)
                allowed = REFUSED | ({200} if shared and method == "get" else set())
                if response.status_code not in allowed:
                    failures.append(f"{method.upper()} {url} → {response.status_code}")
                elif not shared and (found := leaks(world, response)):
                    failures.append(f"{method.upper()} {url} shows {found}")
    assert not failures, f"{len(failures)} foreign requests not refused:\n" + "\n".join(failures)
    assert_unchanged(before, world)
    # The walk really found the application's routes.
    assert len(routes) >= (50 if role == "api_key" else 100), routes
    FIGURES[role] = (len(routes), requests)
    print(f"\n[isolation] {role}: {len(routes)} routes with ids, {requests} requests")


@pytest.mark.parametrize("role", ROLES)
def test_lists_exports_and_search_filtered_by_foreign_ids_show_nothing_foreign(
    trust_world, client, role
):
    world = trust_world
    client = client_for(client, world, role)
    query = filter_query(world)
    before = snapshot()
    failures, count = [], 0
    for name, route, params, _callback in walk():
        api = route.startswith("api/")
        if params or (role == "api_key" and not api):
            continue
        url = reverse(name)
        for method in METHODS:
            if method == "get":
                response = client.get(url, query)
            else:
                # Creating or upserting into the foreign partnership must be refused.
                body = {
                    **BODY,
                    "partnership": world.theirs.pk,
                    "organization": world.their_org.pk,
                    "items": [{"external_id": query["external_id"], "part_number": "X"}],
                }
                if api:
                    response = getattr(client, method)(url, body, content_type="application/json")
                elif method == "post":
                    response = client.post(url, {k: v for k, v in body.items() if k != "items"})
                else:
                    response = getattr(client, method)(url)
            count += 1
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {url} → {response.status_code}")
            elif 200 <= response.status_code < 300 and method != "get" and api:
                failures.append(f"{method.upper()} {url} accepted the foreign partnership")
            elif found := leaks(world, response):
                failures.append(f"{method.upper()} {url} shows {found}")
    assert not failures, "\n".join(failures)
    assert_unchanged(before, world)
    print(f"\n[isolation] {role}: {count} list/export/search requests without leaks")


def test_every_openapi_operation_is_a_covered_route(trust_world, client):
    """The schema is the API's contract: each of its operations must resolve to a route the
    walk above covers, so an operation added by hand (not by the router) is tested too."""
    client.force_login(trust_world.users["buyer"])
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    covered = {route.replace("^", "") for _n, route, _p, _c in walk()}
    operations = 0
    for path, item in schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        match = resolve(concrete)
        assert match.route.replace("^", "") in covered, (
            f"{path} resolves to {match.route}, not walked"
        )
        operations += sum(1 for m in item if m in METHODS)
        for param in re.findall(r"\{([^}]+)\}", path):
            assert param in PARAMS or param in ("id", "pk") or param in LITERALS, (
                f"{path}: map parameter {param!r} in tests/test_isolation_matrix.py"
            )
    assert operations >= 60
    print(f"\n[isolation] OpenAPI: {len(schema['paths'])} paths, {operations} operations")


def test_admin_is_closed_to_portal_users(trust_world, client):
    client.force_login(trust_world.users["oem_admin"])
    response = client.get(f"/admin/partnership/partnership/{trust_world.theirs.pk}/change/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- Roles inside one's own partnership -----------------------------------------------------

# Pages any signed-in user may post to for themselves.
SELF_SERVICE = {
    "switch_organization",
    "notifications",
    "profile",
    "api_tokens",
    "calendar_settings",
    "revoke_api_token",
    "invitation_accept",
}


class PostForms(HTMLParser):
    """The POST forms of a page with the values a browser would submit (hidden fields, filled
    inputs, the selected or first option, checked boxes); empty text fields get some text."""

    def __init__(self):
        super().__init__()
        self.forms, self._form, self._select, self._textarea = [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("method", "").lower() == "post":
            self._form = {"action": a.get("action"), "data": {}}
            self.forms.append(self._form)
        if self._form is None or not a.get("name"):
            return
        data, name = self._form["data"], a["name"]
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind == "file":
                return
            value = a.get("value") or ""
            if not value and kind in ("text", "email", "url", "search", ""):
                value = "viewer was here"
            if not value and kind == "number":
                value = "1"
            data.setdefault(name, value)
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and (self._select not in data or "selected" in a):
            if a.get("value"):
                data[self._select] = a["value"]
        elif tag == "textarea":
            self._textarea = name
            data[name] = "viewer was here"

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def writer_forms(client, world, url):
    """Every POST form a writing user (OEM buyer, EMS account manager) sees on ``url``."""
    forms = []
    for writer in (world.their_buyer, world.their_am):
        client.force_login(writer)
        response = client.get(url)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            parser = PostForms()
            parser.feed(response.content.decode("utf-8", "replace"))
            forms += [(f["action"] or url, f["data"]) for f in parser.forms]
    return forms


def test_a_viewer_cannot_write_anywhere_in_their_own_partnership(trust_world, client):
    """Nordwind's viewer against Nordwind ↔ Baltic. Pages: each POST form a writer sees there,
    filled like a browser would, is sent by the viewer and refused (403/404). API: every
    write method on every route; a 400 (input rejected before the role check) is accepted
    there, as long as nothing changed in the database."""
    world = trust_world
    client.raise_request_exception = False
    forms, api_urls = {}, []
    for name, route, params, callback in walk():
        if name in SELF_SERVICE or name in TOKEN_ROUTES or name == "account_logout":
            continue
        urls = (
            [u for u, _k in url_variants(world, None, name, route, params, callback, mixed=False)]
            if params
            else [reverse(name)]
        )
        for url in urls:
            if route.startswith("api/"):
                api_urls.append(url)
            else:
                for action, data in writer_forms(client, world, url):
                    if resolve(action).url_name not in SELF_SERVICE | {"account_logout"}:
                        forms[(action, tuple(sorted(data.items())))] = data
    client.force_login(world.their_viewer)
    before = snapshot()
    failures, input_first = [], 0
    for (action, _key), data in forms.items():
        response = client.post(action, data)
        if response.status_code in (302, 400):
            # The input was rejected (missing upload, invalid form) before the role check:
            # acceptable only because the snapshot below proves nothing was written.
            input_first += 1
        elif response.status_code not in (403, 404):
            failures.append(f"POST {action} {data.get('what', '')} → {response.status_code}")
    for url in api_urls:
        for method in ("post", "put", "patch", "delete"):
            body = {**BODY, "partnership": world.theirs.pk}
            response = getattr(client, method)(url, body, content_type="application/json")
            if response.status_code not in REFUSED | {400}:
                failures.append(f"{method.upper()} {url} → {response.status_code}")
    assert not failures, "a viewer could write:\n" + "\n".join(failures)
    world.users = {"viewer": world.their_viewer}  # their own rows (last login…) may change
    assert_unchanged(before, world)
    assert len(forms) >= 30, forms.keys()
    print(
        f"\n[isolation] viewer: {len(forms)} page forms ({input_first} rejected for their input "
        f"first) and {len(api_urls) * 4} API writes refused, nothing written"
    )


def test_an_ems_user_cannot_approve_a_decision_request(trust_world, client):
    from contracts.models import DecisionRequest

    world = trust_world
    request = DecisionRequest.objects.filter(
        partnership=world.theirs, status=DecisionRequest.Status.AWAITING_OEM
    ).first()
    assert request is not None
    client.force_login(world.their_am)
    api = client.post(
        f"/api/v1/decision-requests/{request.pk}/answer/",
        {"action": "approve", "text": "self-approved"},
        content_type="application/json",
    )
    page = client.post(
        reverse("contracts:decision_detail", args=[world.theirs.pk, request.pk]),
        {"what": "answer", "action": "approve", "text": "self-approved"},
    )
    assert api.status_code == 403, api.content
    assert page.status_code == 403
    request.refresh_from_db()
    assert request.status == DecisionRequest.Status.AWAITING_OEM
    assert request.answered_by_id is None


def test_our_calendar_feed_shows_none_of_the_foreign_meetings(trust_world, client):
    """The .ics feed is reached by its token, not a session: it must still list only the
    feed owner's meetings while the foreign partnership has meetings of its own (which the
    foreign feed, with its own token, does show)."""
    from comms.models import CalendarFeed

    world = trust_world
    feed = CalendarFeed.objects.create(user=world.users["buyer"], token=CalendarFeed.new_token())
    ours = client.get(reverse("calendar_feed", args=[feed.token]))
    assert ours.status_code == 200
    assert body_text(ours).startswith("BEGIN:VCALENDAR")
    assert not leaks(world, ours)
    theirs = client.get(reverse("calendar_feed", args=[world.tokens["calendar_feed"]]))
    assert world.objects["meeting"].title in body_text(theirs)  # the check can see a leak


# Routes that answer 404 to GET by design (POST-only actions).
GET_404_BY_DESIGN = {"contracts:action", "contracts:create", "contracts:rule_delete"}
DOWNLOADS = {
    "contracts:matrix_csv",
    "contracts:pdf",
    "contracts:decision_attachment",
    "schedules:readiness_file",
    "audits:report",
    "audits:evidence",
    "audits:certificate_file",
    "comms:meeting_ics",
    "comms:minutes_pdf",
    "comms:comment_file",
}


def test_the_owners_reach_every_object_the_matrix_uses(trust_world, client):
    """Control for the matrix above: the very URLs that answer 404 to us answer the foreign
    partnership's own buyer (not 404), so the 404s come from scoping, not from wrong ids.
    Downloads are GET-only (405 to a POST)."""
    world = trust_world
    client.raise_request_exception = False
    client.force_login(world.their_buyer)
    missing, checked = [], 0
    for name, route, params, callback in walk():
        if not params or name in TOKEN_ROUTES or name in GET_404_BY_DESIGN:
            continue
        for url, _keys in url_variants(world, None, name, route, params, callback, mixed=False):
            response = client.get(url)
            checked += 1
            if response.status_code == 404 or response.status_code >= 500:
                missing.append(f"GET {url} → {response.status_code}")
            if name in DOWNLOADS:
                assert response.status_code == 200, url
                assert client.post(url).status_code == 405, url
    assert not missing, "\n".join(missing)
    assert checked >= 100
