"""The portal's form renderer: Django's ``TemplatesSetting`` (so ``templates/django/forms/``
can override widget templates), with the smallest, hottest templates written in Python.

A form field is a label, a widget, its attributes and its (mostly empty) error list: six or
seven template renders of a few characters each, ~100 µs apiece on a small server for the
context and renderer machinery alone — a third of a list page with a "create" form beside
it (#9). ``FAST`` renders those
templates to the same markup (tests/partnership/test_fast_paths.py compares every one with
Django's); any other template, including an override of one of these, goes to Django.
"""

from django.forms.renderers import TemplatesSetting
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe


def attrs_html(attrs) -> str:
    """``django/forms/attrs.html`` and ``widgets/attrs.html``: `` name="value"`` pairs, a bare
    name for True, nothing for False."""
    if not attrs:
        return ""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            out.append(f" {conditional_escape(name)}")
        else:
            out.append(f' {conditional_escape(name)}="{conditional_escape(str(value))}"')
    return "".join(out)


def input_html(widget) -> str:
    """``django/forms/widgets/input.html`` for a widget's context."""
    value = widget["value"]
    return (
        f'<input type="{conditional_escape(widget["type"])}"'
        f' name="{conditional_escape(widget["name"])}"'
        + ("" if value is None else f' value="{conditional_escape(str(value))}"')
        + f"{attrs_html(widget['attrs'])}>"
    )


def _input(context) -> str:
    return input_html(context["widget"])


def input_option_html(option) -> str:
    """``input_option.html``: one checkbox or radio, wrapped in its label when asked."""
    tag = input_html(option)
    if not option.get("wrap_label"):
        return tag
    label_id = option["attrs"].get("id")
    label_for = f' for="{conditional_escape(label_id)}"' if label_id else ""
    # "\n ": Django's input.html ends with a newline before the label's space
    return f"<label{label_for}>{tag}\n {conditional_escape(option['label'])}</label>"


def _input_option(context) -> str:
    return input_option_html(context["widget"])


def _label(context) -> str:
    label = conditional_escape(context["label"])
    if not context["use_tag"]:
        return label
    tag = conditional_escape(context["tag"])
    return f"<{tag}{attrs_html(context['attrs'])}>{label}</{tag}>"


def _errors(context) -> str:
    """``django/forms/errors/list/ul.html`` — rendered for every field, errors or not."""
    errors = context["errors"]
    if not errors:
        return ""
    field_id = getattr(errors, "field_id", None)
    id_attr = f' id="{conditional_escape(field_id)}_error"' if field_id else ""
    items = "".join(f"<li>{conditional_escape(error)}</li>" for error in errors)
    return f'<ul class="{conditional_escape(context["error_class"])}"{id_attr}>{items}</ul>'


INPUT_TEMPLATES = (
    "checkbox", "color", "date", "datetime", "email", "file", "hidden", "number",
    "password", "search", "tel", "text", "time", "url", "input",
)  # fmt: skip
FAST = {f"django/forms/widgets/{name}.html": _input for name in INPUT_TEMPLATES}
for name in ("input_option", "checkbox_option", "radio_option"):
    FAST[f"django/forms/widgets/{name}.html"] = _input_option
FAST["django/forms/label.html"] = _label
FAST["django/forms/errors/list/default.html"] = FAST["django/forms/errors/list/ul.html"] = _errors


class FormRenderer(TemplatesSetting):
    def render(self, template_name, context, request=None):
        fast = FAST.get(template_name)
        if fast is None:
            return super().render(template_name, context, request)
        return mark_safe(fast(context))
