"""A faster ``get_FOO_display()`` for every model with choices.

Django's own builds ``dict(make_hashable(field.flatchoices))`` on each call, and hashing
those pairs hashes their lazy labels — which translates every label of the field, every
time. A list of 50 rows with three such columns paid ~150 translations a row, a quarter of
the page (#9). Here the value → label map is built once per field; only the label shown is
translated, in the language active at the call.
"""

from django.db import models
from django.utils.choices import BaseChoiceIterator, normalize_choices
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable


def choice_labels(field) -> dict:
    """value → (lazy) label of a model field with choices, built once per field."""
    labels = field.__dict__.get("_choice_labels")
    if labels is None:
        labels = {make_hashable(value): label for value, label in field.flatchoices}
        field.__dict__["_choice_labels"] = labels
    return labels


class PortalModel(models.Model):
    """The base of the portal's models: Django's, with the cheaper choice labels. Abstract
    and field-less, so migrations do not see it."""

    class Meta:
        abstract = True

    def _get_FIELD_display(self, field):
        value = getattr(self, field.attname)
        return force_str(choice_labels(field).get(make_hashable(value), value), strings_only=True)


class FrozenChoices(BaseChoiceIterator):
    """Long choices (the ~400 time zones) normalised once, for form fields.

    Django normalises a choice field's choices again for every form instance (the widget's
    deep copy), item by item, and each item costs a failed module attribute lookup: the
    meeting form's time zones took ~10 ms a page (#9). An iterator is taken as already
    normalised."""

    def __init__(self, choices):
        self._items = tuple(normalize_choices(list(choices)))

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)
