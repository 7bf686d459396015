"""Tenant isolation, route by route, enumerated automatically.

Every URL pattern Django knows (``get_resolver()``, nested includes too) and every operation
of the OpenAPI schema is tried with the ids of a fully populated foreign partnership (see
``tests/trust_world.py``), by each role on both sides of ours and by our organisation's API
key, with GET, POST, PUT, PATCH and DELETE. The foreign object must answer 404 (or 403/405
when the method or role is refused before the lookup) and stay unchanged in the database.
Routes without parameters (lists, inboxes, exports, search) are asked for the foreign
partnership's ids and must not show any of its names.

Parameters that come in pairs are tried together: each history kind with a foreign object
of that kind (and our partnership with it), each search-field kind, each export format;
upserts by external id use the foreign objects' external ids. Further tests check that an
upsert from our side with a foreign external id makes a separate object of ours, that our
search fields and list exports show nothing foreign, that ids in POST fields are looked up
within the page's object, and that a viewer is refused before their input is read.

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
    "fmt": ["csv", "xlsx"],
}


def route_literals(name):
    """Literal parameters whose values depend on the route: every registered kind is tried."""
    from partnership.lookups import LOOKUPS

    return {"lookup": {"kind": sorted(LOOKUPS)}}.get(name, {})


# The per-object history pages take a kind (partnership/history.py) and an object of that
# kind: each kind is tried with a foreign object of that very kind.
HISTORY_KINDS = {
    "partnership": "partnership",
    "contract": "contract",
    "flex-band": "flex_band",
    "matrix-item": "responsibility_item",
    "rule": "decision_rule",
    "decision": "decision_request",
    "product": "product",
    "long-lead-item": "long_lead_item",
    "readiness-item": "readiness_item",
    "run": "production_run",
    "capacity": "capacity_plan",
    "capacity-alert": "capacity_alert",
    "audit": "audit",
    "answer": "answer",
    "finding": "finding",
    "corrective-action": "corrective_action",
    "certificate": "certificate",
    "supplier-profile": "supplier_profile",
    "supplier-reference": "supplier_reference",
    "kpi": "kpi",
    "meeting": "meeting",
    "agenda-item": "agenda_item",
    "minutes": "minutes",
    "problem": "problem",
    "action-item": "action_item",
    "goal": "goal",
}


def history_kinds():
    from partnership import history

    unknown = set(history.kinds()) - set(HISTORY_KINDS)
    if unknown:
        pytest.fail(
            f"History kinds {sorted(unknown)} are not in HISTORY_KINDS of "
            "tests/test_isolation_matrix.py: map each to a foreign object (tests/trust_world.py)."
        )
    return {k: v for k, v in HISTORY_KINDS.items() if k in history.kinds()}


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
    "job": "job",
    "job_download": "job",
}
# Objects also tried where their key is: a job of a colleague in our own partnership (only
# its owner may see it) next to the foreign buyer's job.
ALSO_TRY = {"job": ["colleague_job"]}
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
    "long-lead-item": "long_lead_item",
    "run-change": "run_change",
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
    "partnership.backgroundjob",  # a user's own export or report ZIP (reading, not writing)
}
OWNER_FIELD = {"partnership.backgroundjob": "owner"}
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
    if param in ("pk", "external_id"):
        key = API_PK.get(basename(callback)) if route.startswith("api/") else PAGE_PK.get(name)
        if key:
            return key
    pytest.fail(
        f"Route {route!r} (name {name!r}) takes {param!r}, which tests/test_isolation_matrix.py "
        "does not know. Map it to a foreign object (PARAMS, PAGE_PK or API_PK, and create the "
        "object in tests/trust_world.py) so the route's isolation is tested."
    )


def param_value(world, param, key, obj_key=None):
    obj = world.objects[obj_key or key]
    return obj.external_id if param == "external_id" else obj.pk


def url_variants(world, ours_org, name, route, params, callback, mixed=True, also=True):
    """The route filled with foreign ids; and, where it has a parent, our parent with the
    foreign child (the classic IDOR: the parent is checked, the child lookup is not)."""
    if name in TOKEN_ROUTES:
        return [(reverse(name, kwargs={"token": world.secret_token}), None)]
    literals = {**LITERALS, **route_literals(name)}
    choices, keys = [], {}
    for param in params:
        if param == "object_pk" and "kind" in params:
            continue  # chosen with its kind
        if param == "kind" and "object_pk" in params:
            # Each history kind with a foreign object of that kind.
            choices.append(
                [
                    ({"kind": kind, "object_pk": world.objects[key].pk}, key)
                    for kind, key in history_kinds().items()
                ]
            )
        elif param in literals:
            choices.append([({param: v}, None) for v in literals[param]])
        else:
            key = keys[param] = object_key(name, route, param, callback)
            choices.append(
                [
                    ({param: param_value(world, param, k)}, k)
                    for k in [key, *(ALSO_TRY.get(key, []) if also else [])]
                ]
            )
    variants = []
    for combo in cartesian(*choices):
        kwargs = {k: v for part, _key in combo for k, v in part.items()}
        combo_keys = dict(keys)
        for part, k in combo:
            if "object_pk" in part:
                combo_keys["object_pk"] = k
        variants.append((reverse(name, kwargs=kwargs), combo_keys))
        if not mixed or len(combo_keys) < 2:
            continue
        # Mixed: our parent, their child.
        if "partnership_pk" in kwargs:
            variants.append(
                (reverse(name, kwargs={**kwargs, "partnership_pk": world.ours.pk}), combo_keys)
            )
        elif combo_keys.get("pk") == "organization":
            variants.append((reverse(name, kwargs={**kwargs, "pk": ours_org.pk}), combo_keys))
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
        owner = OWNER_FIELD.get(label, "user")
        return model._default_manager.filter(pk=key[1], **{f"{owner}__in": ours_users}).exists()

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


def call(client, method, url, api, body=None):
    if method == "get":
        return client.get(url)
    if api:
        return getattr(client, method)(url, body or BODY, content_type="application/json")
    if method == "post":
        return client.post(url, BODY)
    return getattr(client, method)(
        url, "title=pwned", content_type="application/x-www-form-urlencoded"
    )


def body_text(response):
    body = b"".join(response) if response.streaming else response.content
    if body[:2] == b"PK":  # XLSX (a ZIP): its sheets and shared strings, uncompressed
        import io
        import zipfile

        with zipfile.ZipFile(io.BytesIO(body)) as book:
            return "".join(book.read(n).decode("utf-8", "replace") for n in book.namelist())
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
        # Upserts by a foreign external_id name the foreign partnership in the body: refused
        # (400: not a partnership of ours), nothing written (see the snapshot).
        upsert = "external_id" in params
        body = {**BODY, "partnership": world.theirs.pk} if upsert else None
        for url, keys in url_variants(world, ours_org, name, route, params, callback):
            shared = bool(keys) and keys.get("pk") in SHARED
            for method in METHODS:
                response = call(client, method, url, api, body)
                requests += 1
                routes.add(route)
                allowed = REFUSED | ({200} if shared and method == "get" else set())
                allowed |= {400} if upsert and method == "put" else set()
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
        for method in ["get", "export-csv", "export-xlsx", *METHODS[1:]]:
            if method == "get":
                response = client.get(url, query)
            elif method.startswith("export-"):
                response = client.get(url, {**query, "export": method[7:]})
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
            elif 200 <= response.status_code < 300 and method in METHODS[1:] and api:
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
            assert param in PARAMS or param in ("id", "pk", "external_id") or param in LITERALS, (
                f"{path}: map parameter {param!r} in tests/test_isolation_matrix.py"
            )
    assert operations >= 60
    print(f"\n[isolation] OpenAPI: {len(schema['paths'])} paths, {operations} operations")


def test_admin_is_closed_to_portal_users(trust_world, client):
    client.force_login(trust_world.users["oem_admin"])
    response = client.get(f"/admin/partnership/partnership/{trust_world.theirs.pk}/change/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- Roles inside one's own partnership -----------------------------------------------------

# POST forms that read (a ZIP of the audit reports built in the background for the user).
VIEWER_READS = {"audit_reports_zip"}

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
    filled like a browser would, is sent by the viewer and refused (403/404) — the role is
    checked before the input, so never a form error or a redirect. API: every write method
    on every route is refused the same way (``ViewersReadOnly``), except the dry runs that
    store nothing (``changes_nothing``), which a viewer may call."""
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
    failures, api_input_first = [], []
    for (action, _key), data in forms.items():
        response = client.post(action, data)
        if resolve(action).url_name in VIEWER_READS:
            assert response.status_code == 302, action  # to the job page: a read
        elif response.status_code not in (403, 404):
            failures.append(f"POST {action} {data.get('what', '')} → {response.status_code}")
    for url in api_urls:
        for method in ("post", "put", "patch", "delete"):
            body = {**BODY, "partnership": world.theirs.pk}
            response = getattr(client, method)(url, body, content_type="application/json")
            if dry_run(url, method):
                api_input_first.append(f"{method.upper()} {url} → {response.status_code}")
            elif response.status_code not in REFUSED:
                failures.append(f"{method.upper()} {url} → {response.status_code}")
    assert not failures, "a viewer could write:\n" + "\n".join(failures)
    world.users = {"viewer": world.their_viewer}  # their own rows (last login…) may change
    assert_unchanged(before, world)
    assert len(forms) >= 30, forms.keys()
    print(
        f"\n[isolation] viewer: {len(forms)} page forms refused (403/404) and "
        f"{len(api_urls) * 4 - len(api_input_first)} API writes refused (and "
        f"{len(api_input_first)} dry runs answered), nothing written"
    )
    print("\n".join(f"[isolation] dry run: {f}" for f in api_input_first))


def dry_run(url, method):
    """A POST to an action that stores nothing (``@action(…, changes_nothing=True)``)."""
    if method != "post":
        return False
    match = resolve(url)
    view = getattr(match.func, "cls", None)
    action = (getattr(match.func, "actions", None) or {}).get("post")
    handler = getattr(view, action, None) if view and action else None
    return bool(getattr(handler, "kwargs", {}).get("changes_nothing"))


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
    "job_download",
}


def writes_on_a_page(client, url):
    """Pages take GET and (forms) POST: PUT, PATCH and DELETE must not render the page."""
    wrong = []
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)(url)
        if response.status_code < 300 or response.status_code >= 500:
            wrong.append(f"{method.upper()} {url} → {response.status_code} (expected 405)")
    return wrong


def test_the_owners_reach_every_object_the_matrix_uses(trust_world, client):
    """Control for the matrix above: the very URLs that answer 404 to us answer the foreign
    partnership's own buyer (not 404), so the 404s come from scoping, not from wrong ids.
    Downloads are GET-only (405 to a POST); no page answers PUT, PATCH or DELETE with a 2xx."""
    world = trust_world
    client.raise_request_exception = False
    client.force_login(world.their_buyer)
    missing, checked = [], 0
    for name, route, params, callback in walk():
        if not params and not route.startswith("api/") and name != "account_logout":
            # A page without ids answers its owner's PUT/PATCH/DELETE 405 too.
            missing += writes_on_a_page(client, reverse(name))
        if not params or name in TOKEN_ROUTES or name in GET_404_BY_DESIGN:
            continue
        variants = url_variants(world, None, name, route, params, callback, False, also=False)
        for url, _keys in variants:
            response = client.get(url)
            checked += 1
            if response.status_code == 404 or response.status_code >= 500:
                missing.append(f"GET {url} → {response.status_code}")
            if not route.startswith("api/"):
                missing += writes_on_a_page(client, url)
            if name in DOWNLOADS:
                assert response.status_code == 200, url
                assert client.post(url).status_code == 405, url
    assert not missing, "\n".join(missing)
    assert checked >= 100
    # The colleague's job (ALSO_TRY), which the matrix's roles get 404 for, is its owner's.
    client.force_login(world.users["oem_admin"])
    job = world.objects["colleague_job"]
    assert client.get(reverse("job", args=[job.pk])).status_code == 200
    assert body_text(client.get(reverse("job_download", args=[job.pk]))) == "colleague"


# --- Upserts by external id: a foreign external id is just another key in our partnership ----

UPSERT_RESOURCES = {
    # resource: (object key in the foreign world, writer, a valid row without external_id)
    "products": ("product", "buyer", lambda w: {"part_number": "OURS-PCB", "name": "Our board"}),
    "production-runs": (
        "production_run",
        "buyer",
        lambda w: {
            # Our product upserted just before under the foreign product's external id.
            "product_external_id": w.objects["product"].external_id,
            "quantity": 100,
            "planned_launch": "2030-03-04",
            "due_date": "2030-03-20",
        },
    ),
    "meetings": (
        "meeting",
        "account_manager",
        lambda w: {
            "title": "Our weekly review",
            "start": "2030-01-07T09:00:00+01:00",
            "end": "2030-01-07T10:00:00+01:00",
            "time_zone": "Europe/Berlin",
            "attendees": [w.users["buyer"].pk, w.users["account_manager"].pk],
        },
    ),
    "action-items": (
        "action_item",
        "account_manager",
        lambda w: {"title": "Our labels", "due_date": "2030-01-10"},
    ),
    "problems": (
        "problem",
        "account_manager",
        lambda w: {"title": "Our voids", "description": "X-ray.", "severity": "high"},
    ),
    "goals": (
        "goal",
        "account_manager",
        lambda w: {
            "horizon": "long",
            "title": "Our PPM",
            "metric": "PPM",
            "baseline": "400",
            "target": "100",
            "due_date": "2031-01-01",
        },
    ),
    "findings": (
        "finding",
        "quality",
        lambda w: {"audit": w.our_audit.pk, "classification": "minor", "description": "Ours."},
    ),
    "decision-requests": (
        "decision_request",
        "account_manager",
        lambda w: {
            "title": "Our capacitor",
            "category": "component_substitution",
            "outside_avl": True,
        },
    ),
    "long-lead-items": (
        "long_lead_item",
        "account_manager",
        lambda w: {
            "product": w.ours.products.get().pk,
            "component": "Our MCU",
            "lead_time_weeks": 20,
            "unit_price": "9.80",
        },
    ),
}


def our_audit_and_contract(world):
    """What our partnership needs for findings (a started audit, an OEM auditor) and decision
    requests (an active contract that routes them)."""
    import datetime as dt

    from audits import services as audit_services
    from audits.models import AuditTemplate
    from audits.template_data import ensure_installed
    from contracts import services as contract_services
    from partnership.models import Role
    from tests.factories import member

    buyer, am = world.users["buyer"], world.users["account_manager"]
    world.users["quality"] = member(world.oem, Role.QUALITY, email="quality@ours-oem.example")
    ensure_installed()
    audit = audit_services.plan_audit(
        by=world.users["quality"],
        partnership=world.ours,
        template=AuditTemplate.objects.get(key="process-audit", version=1),
        kind="process",
        title="Our process audit",
        planned_date=dt.date.today(),
    )
    world.our_audit = audit_services.start_audit(by=world.users["quality"], audit=audit)
    contract = contract_services.create_draft(by=buyer, partnership=world.ours)
    contract = contract_services.update_terms(
        by=buyer, contract=contract, effective_from=dt.date(2026, 1, 1)
    )
    contract_services.propose(by=buyer, contract=contract)
    contract_services.sign(by=buyer, contract=contract)
    contract_services.sign(by=am, contract=contract)


def test_a_foreign_external_id_upserted_into_ours_is_a_separate_object(trust_world, client):
    """PUT and bulk upsert with OUR partnership and a FOREIGN object's external id create (then
    find) an object of ours; the foreign object is untouched. With the FOREIGN partnership in
    the body, a valid row is refused (400) and nothing is written."""
    world = trust_world
    our_audit_and_contract(world)
    client.raise_request_exception = False
    before = snapshot()
    failures = []
    for resource, (key, writer, row) in UPSERT_RESOURCES.items():
        foreign = world.objects[key]
        model = type(foreign)
        external_id = foreign.external_id
        client.force_login(world.users[writer])
        url = f"/api/v1/{resource}/by-external-id/{external_id}/"
        count = model._base_manager.count()
        # The foreign partnership in the body: refused, nothing written.
        refused = [
            client.put(url, {"partnership": world.theirs.pk, **row(world)}, "application/json"),
            client.post(
                f"/api/v1/{resource}/bulk-upsert/",
                {
                    "partnership": world.theirs.pk,
                    "items": [{"external_id": external_id, **row(world)}],
                },
                "application/json",
            ),
        ]
        for response in refused:
            if response.status_code != 400 or "partnership" not in response.json()["errors"]:
                failures.append(f"{resource} into theirs → {response.status_code}")
        if model._base_manager.count() != count:
            failures.append(f"{resource}: a row was written into the foreign partnership")
        # Our partnership: a new object of ours with the same external id.
        created = client.put(url, {"partnership": world.ours.pk, **row(world)}, "application/json")
        if created.status_code != 201:
            failures.append(f"PUT {url} → {created.status_code} {created.content[:300]}")
            continue
        ours = model._base_manager.get(pk=created.json()["id"])
        if ours.pk == foreign.pk or ours.external_id != external_id:
            failures.append(f"{resource}: PUT answered the foreign object")
        bulk = client.post(
            f"/api/v1/{resource}/bulk-upsert/",
            {"partnership": world.ours.pk, "items": [{"external_id": external_id, **row(world)}]},
            "application/json",
        )
        items = bulk.json().get("items", []) if bulk.status_code == 200 else []
        if [(i["id"], i["result"]) for i in items] != [(ours.pk, "unchanged")]:
            failures.append(f"bulk {resource} → {bulk.status_code} {bulk.content[:300]}")
        if world.secrets and (found := leaks(world, created) + leaks(world, bulk)):
            failures.append(f"{resource} upsert answers show {found}")
    assert not failures, "\n".join(failures)
    # Nothing of the foreign partnership changed, was deleted or was created.
    after = snapshot()

    def theirs(key):
        model = apps.get_model(key[0])
        fields = {f.name for f in model._meta.concrete_fields}
        return "partnership" in fields and (
            model._base_manager.filter(pk=key[1], partnership=world.theirs).exists()
        )

    changed = [k for k, row in before.items() if after.get(k) != row]
    assert not [k for k in changed if k not in after], f"rows deleted: {changed[:20]}"
    touched = [k for k in changed + list(after.keys() - before.keys()) if theirs(k)]
    assert not touched, f"foreign rows written by upserts into ours: {touched[:20]}"
    for key in {k for k, _w, _r in UPSERT_RESOURCES.values()}:
        obj = world.objects[key]
        assert (obj._meta.label_lower, obj.pk) not in changed, key


@pytest.mark.parametrize("role", ["buyer", "account_manager"])
def test_our_search_fields_and_list_exports_show_nothing_foreign(trust_world, client, role):
    """Inside OUR partnership: each search-field lookup kind, asked for the foreign objects'
    distinctive names and ids, suggests none of them; each page of ours, filtered by the
    foreign ids and exported (``?export=csv|xlsx``), shows none of their names."""
    from partnership.lookups import LOOKUPS

    world = trust_world
    client = client_for(client, world, role)
    o = world.objects
    product = o["product"]
    searches = [
        product.name,
        product.part_number,
        o["audit"].title,
        o["decision_request"].title,
        o["decision_request"].reference,
        world.their_buyer.email,
        world.their_buyer.get_full_name(),
        "Nordwind",
        str(o["production_run"].pk),
        f"#{o['production_run'].pk}",
        f"#{o['audit'].pk}",
        f"#{world.their_buyer.pk}",
    ]
    foreign = [*world.secrets, product.part_number, o["audit"].title, world.their_buyer.email]
    failures, count = [], 0
    for kind in sorted(LOOKUPS):
        url = reverse("lookup", args=[world.ours.pk, kind])
        for text in searches:
            response = client.get(url, {"q": text})
            count += 1
            found = [s for s in foreign if s and s in body_text(response)]
            if response.status_code != 200 or found:
                failures.append(f"{kind} ?q={text} → {response.status_code} {found}")
    query = filter_query(world)
    ours_org = world.oem if role in OEM_ROLES else world.ems
    for name, route, params, _callback in walk():
        if route.startswith("api/"):
            continue
        if params == ("partnership_pk",):
            url = reverse(name, kwargs={"partnership_pk": world.ours.pk})
        elif params == ("pk",) and PAGE_PK.get(name) == "organization":
            url = reverse(name, kwargs={"pk": ours_org.pk})  # members, keys, webhooks…
        else:
            continue
        for extra in ({}, {"export": "csv"}, {"export": "xlsx"}):
            response = client.get(url, {**query, **extra})
            count += 1
            if response.status_code >= 500 or (found := leaks(world, response)):
                failures.append(f"GET {url} {extra} → {response.status_code}")
    assert not failures, "\n".join(failures)
    assert count > 100
    # Control: the same search in the foreign partnership, by its buyer, does suggest it.
    client.force_login(world.their_buyer)
    theirs = client.get(reverse("lookup", args=[world.theirs.pk, "products"]), {"q": product.name})
    assert product.name in body_text(theirs)
    print(f"\n[isolation] {role}: {count} searches, filtered lists and exports of ours")


def test_object_ids_in_post_fields_of_our_pages_are_looked_up_in_ours(trust_world, client):
    """Our product page with a FOREIGN long-lead item or readiness item in its POST fields, and
    the schedule actions (long-lead, change) on the FOREIGN product and run: 404, nothing
    written — the id in a form field is resolved within the page's object like the URL's."""
    from schedules.models import Product

    world = trust_world
    o = world.objects
    client.raise_request_exception = False
    ours = Product.objects.create(partnership=world.ours, part_number="OURS-1", name="Ours")
    page = reverse("schedules:product", args=[world.ours.pk, ours.pk])
    their_product = reverse("schedules:product", args=[world.theirs.pk, o["product"].pk])
    their_run = reverse("schedules:run", args=[world.theirs.pk, o["production_run"].pk])
    run = o["production_run"]
    before = snapshot()
    posts = [
        (
            "account_manager",
            page,
            {"what": "long-lead-delete", "long_lead_item": o["long_lead_item"].pk},
        ),
        (
            "account_manager",
            page,
            {"what": "required", "item": o["readiness_item"].pk, "required": "0"},
        ),
        ("buyer", page, {"what": "review", "item": o["readiness_item"].pk, "decision": "approve"}),
        (
            "account_manager",
            their_product,
            {"what": "long-lead", "component": "X", "lead_time_weeks": 1, "unit_price": "1"},
        ),
        (
            "account_manager",
            their_product,
            {"what": "long-lead-delete", "long_lead_item": o["long_lead_item"].pk},
        ),
        (
            "buyer",
            their_run,
            {
                "what": "change",
                "quantity": run.quantity + 5,
                "planned_launch": run.planned_launch.isoformat(),
                "due_date": run.due_date.isoformat(),
            },
        ),
    ]
    failures = []
    for role, url, data in posts:
        client.force_login(world.users[role])
        response = client.post(url, data)
        if response.status_code != 404:
            failures.append(f"{role} POST {url} {data['what']} → {response.status_code}")
    assert not failures, "\n".join(failures)
    assert_unchanged(before, world)
