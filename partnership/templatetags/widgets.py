"""The options of selects, checkbox lists and radio buttons, written in Python.

Django renders each option through two to four template includes, ~50 µs apiece on a small
server; the 400 time zones of the meeting form cost a quarter of that page (#9). The markup
is Django's (``select_option.html``, ``input_option.html``);
``templates/django/forms/widgets/select.html`` and ``multiple_input.html`` use these tags for
every such widget of the portal (``FORM_RENDERER`` reads the project's templates first).
"""

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from partnership.form_renderer import attrs_html, input_option_html

register = template.Library()


@register.simple_tag
def select_options(widget):
    parts = []
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(format_html('\n  <optgroup label="{}">', group_name))
        for option in options:
            parts.append(
                f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                f"{attrs_html(option['attrs'])}>{conditional_escape(option['label'])}</option>"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    return mark_safe("".join(parts))


@register.simple_tag
def input_options(widget):
    """The ``<div><label><input …> label</label></div>`` of each checkbox or radio option."""
    parts = []
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(format_html("\n  <div><label>{}</label>", group_name))
        for option in options:
            tag = input_option_html(option)
            parts.append(f"<div>\n    {tag}</div>")
        if group_name:
            parts.append("\n  </div>")
    return mark_safe("".join(parts))
