"""Search fields instead of long selects (issue #9).

A ``<select>`` over a partnership's products, runs, audits, decisions or people renders every
row as an ``<option>`` on every create page: thousands of rows per page view at bench scale.
``LookupField`` renders a text input instead, which htmx fills with a ``<datalist>`` of at most
``LIMIT`` matches from ``lookup`` (a scoped endpoint: a foreign partnership is a 404). The
datalist is the browser's own listbox, so it is keyboard- and screen-reader-usable, and without
JavaScript the user types the key (a part number, ``DR-0007``, an e-mail or an id), which the
field resolves in the partnership's queryset; anything else is a field error.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Concat
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from .form_renderer import input_html
from .scoping import scoped_partnership

LIMIT = 20
_ID = re.compile(r"^#?(\d+)$")


@dataclass(frozen=True)
class Lookup:
    """How one kind of object is listed, searched, shown and typed back."""

    queryset: Callable  # partnership -> QuerySet (the scope; fields may narrow it further)
    search: Callable  # (queryset, text) -> QuerySet
    key: Callable  # object -> the text the input holds, which ``resolve`` accepts back
    label: Callable  # object -> what the option describes
    resolve: Callable  # (queryset, text) -> QuerySet of candidates for the typed text
    help_text: str = ""


def _by_key_or_id(qs, text, key: Q) -> QuerySet:
    """The objects whose key matches ``text``; "#12" is always the id, a bare "12" only when no
    key matches (part numbers and ERP ids are often digits)."""
    match = _ID.match(text)
    if match and text.startswith("#"):
        return qs.filter(pk=int(match.group(1)))
    found = qs.filter(key)
    if match and not found.exists():
        return qs.filter(pk=int(match.group(1)))
    return found


def _id_q(text) -> Q:
    """Also suggest the object with this id when the text is one ("12" or "#12")."""
    match = _ID.match(text)
    return Q(pk=int(match.group(1))) if match else Q(pk__in=[])


def _product_resolve(qs, text):
    # "PN rev B" names one revision; a bare part number is fine while it has only one.
    pn, sep, rev = text.rpartition(" rev ")
    if sep:
        exact = qs.filter(part_number__iexact=pn.strip(), revision__iexact=rev.strip())
        if exact.exists():
            return exact
    return _by_key_or_id(qs, text, Q(part_number__iexact=text))


def _decision_resolve(qs, text):
    match = re.match(r"^(?:DR-?)?0*(\d+)$", text, re.IGNORECASE)
    return qs.filter(number=int(match.group(1))) if match else qs.none()


def _people(partnership, sides=("oem", "ems")):
    from .models import User

    orgs = [getattr(partnership, f"{side}_id") for side in sides]
    return User.objects.filter(memberships__organization_id__in=orgs).distinct()


def _people_search(qs, text):
    return qs.filter(
        Q(email__icontains=text) | Q(first_name__icontains=text) | Q(last_name__icontains=text)
    ).order_by("first_name", "last_name", "email")


def _person_resolve(qs, text):
    # An e-mail is unique; a full name usually is (two "Anna Keller"s: pick from the list).
    named = qs.annotate(full_name=Concat("first_name", Value(" "), "last_name"))
    return _by_key_or_id(named, text, Q(email__iexact=text) | Q(full_name__iexact=text))


def _people_lookup(sides):
    return Lookup(
        queryset=lambda p: _people(p, sides),
        search=_people_search,
        key=lambda u: u.email,
        label=lambda u: u.get_full_name() or u.email,
        resolve=_person_resolve,
        help_text=_("Type a name or e-mail address."),
    )


LOOKUPS = {
    "products": Lookup(
        queryset=lambda p: p.products.all(),
        search=lambda qs, text: qs.filter(
            Q(part_number__istartswith=text) | Q(name__icontains=text) | _id_q(text)
        ),
        key=lambda o: f"{o.part_number} rev {o.revision}",
        label=lambda o: o.name,
        resolve=_product_resolve,
        help_text=_("Type a part number or product name."),
    ),
    "runs": Lookup(
        queryset=lambda p: p.production_runs.select_related("product").order_by("-id"),
        search=lambda qs, text: (
            qs.filter(_id_q(text) | Q(product__part_number__istartswith=text.lstrip("#")))
            if text
            else qs.exclude(status__in=["completed", "cancelled"])
        ),
        key=lambda o: f"#{o.pk}",
        label=lambda o: str(o),
        resolve=lambda qs, text: _by_key_or_id(qs, text, Q(external_id=text)),
        help_text=_("Type a run number (#12) or a part number."),
    ),
    "audits": Lookup(
        queryset=lambda p: p.audits.all(),
        search=lambda qs, text: qs.filter(_id_q(text) | Q(title__icontains=text)),
        key=lambda o: f"#{o.pk}",
        label=lambda o: f"{o.title} ({o.planned_date:%Y-%m-%d})" if o.planned_date else o.title,
        resolve=lambda qs, text: _by_key_or_id(qs, text, Q(title__iexact=text)),
        help_text=_("Type an audit title or number (#12)."),
    ),
    "decisions": Lookup(
        queryset=lambda p: p.decision_requests.all(),
        search=lambda qs, text: (
            _decision_resolve(qs, text) | qs.filter(title__icontains=text)
        ).order_by("-number"),
        key=lambda o: o.reference,
        label=lambda o: o.title,
        resolve=_decision_resolve,
        help_text=_("Type a decision number (DR-0007) or title."),
    ),
    "people": _people_lookup(("oem", "ems")),
    "people-ems": _people_lookup(("ems",)),
}


class SearchInput(forms.TextInput):
    """A text input that htmx fills with suggestions as the user types (a native datalist)."""

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", "spellcheck": "false", **(attrs or {})})
        self.lookup_url = ""

    def render(self, name, value, attrs=None, renderer=None):
        """``<input … list hx-get>`` and its empty ``<datalist>``, written in Python like the
        other inputs (partnership/form_renderer.py): forms have several of these (#9)."""
        widget = self.get_context(name, value, attrs)["widget"]
        options_id = f"{widget['attrs']['id']}_options"
        widget["attrs"] = {
            **widget["attrs"],
            "list": options_id,
            # The input sends its text under its own name; ``field`` tells the endpoint which.
            "hx-get": f"{self.lookup_url}?field={name}",
            "hx-trigger": "focus once, input changed delay:250ms",
            "hx-target": f"#{options_id}",
            "hx-swap": "innerHTML",
            "hx-sync": "this:replace",
        }
        return format_html(
            '{}\n<datalist id="{}"></datalist>', mark_safe(input_html(widget)), options_id
        )


class LookupField(forms.ModelChoiceField):
    """A foreign key chosen by typing, resolved only inside the partnership's queryset — so a
    foreign object is an "invalid choice" like any typo. ``bind`` scopes it per form."""

    widget = SearchInput
    kind = ""
    default_error_messages = {
        "invalid_choice": _("Nothing in this partnership matches “%(value)s”."),
    }

    def __init__(self, *, kind=None, queryset=None, **kwargs):
        self.kind = kind or self.kind
        self.lookup = LOOKUPS[self.kind]
        kwargs["help_text"] = kwargs.get("help_text") or self.lookup.help_text
        kwargs.pop("empty_label", None)
        super().__init__(queryset=queryset, **kwargs)

    def bind(self, partnership, queryset=None):
        """Scope the field to ``partnership`` (optionally to a narrower ``queryset``)."""
        self.queryset = self.lookup.queryset(partnership) if queryset is None else queryset
        self.widget.lookup_url = reverse("lookup", args=[partnership.pk, self.kind])

    def prepare_value(self, value):
        if hasattr(value, "_meta"):
            return self.lookup.key(value)
        if isinstance(value, int) and self.queryset is not None:  # an edit form's initial pk
            obj = self.queryset.filter(pk=value).first()
            return self.lookup.key(obj) if obj else value
        return value

    def to_python(self, value):
        if hasattr(value, "_meta"):
            value = value.pk
        text = str(value if value is not None else "").strip()
        if text in self.empty_values:
            return None
        candidates = list(self.lookup.resolve(self.queryset, text)[:2])
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise ValidationError(
                _("Several match “%(value)s”; pick one from the suggestions."),
                code="ambiguous",
                params={"value": text},
            )
        raise ValidationError(
            self.error_messages["invalid_choice"], code="invalid_choice", params={"value": text}
        )

    def has_changed(self, initial, data):
        return str(self.prepare_value(initial) or "") != str(data or "").strip()


class ProductField(LookupField):
    kind = "products"


class RunField(LookupField):
    kind = "runs"


class AuditField(LookupField):
    kind = "audits"


class DecisionField(LookupField):
    kind = "decisions"


class PersonField(LookupField):
    kind = "people"


def bind_lookups(form, partnership, **narrower):
    """Scope every LookupField of ``form`` to ``partnership``; ``narrower`` maps a field name
    to a smaller queryset inside it (e.g. only the EMS side's people)."""
    for name, field in form.fields.items():
        if isinstance(field, LookupField):
            field.bind(partnership, narrower.get(name))


@login_required
@require_GET
def lookup(request, partnership_pk, kind):
    """At most ``LIMIT`` matches as ``<option>``s for a search input (htmx swaps them into its
    datalist). Scoped: only the user's partnerships (else 404), only their objects."""
    partnership = scoped_partnership(request, partnership_pk)
    spec = LOOKUPS.get(kind)
    if spec is None:
        raise Http404
    text = request.GET.get(request.GET.get("field") or "q", "").strip()[:100]
    objects = spec.search(spec.queryset(partnership), text)[:LIMIT]
    options = [(spec.key(o), spec.label(o)) for o in objects]
    return render(request, "partnership/widgets/search_options.html", {"options": options})
