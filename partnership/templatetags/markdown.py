"""``{{ text|markdown }}``: user-written text (problems, comments, minutes, meeting
descriptions, findings) as Markdown, sanitised by nh3 — the one filter every page, e-mail and
PDF uses to show such text, so a ``<script>``, an ``onerror=`` or a ``javascript:`` link typed
by one partner never runs in the other partner's browser or mail client."""

import markdown as markdown_lib
import nh3
from django import template
from django.utils.safestring import mark_safe

register = template.Library()

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "b", "i", "code", "pre", "blockquote", "hr",
    "ul", "ol", "li", "a", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


@register.filter(is_safe=True)
def markdown(text):
    """Markdown (single line breaks kept) → HTML with only harmless tags and http(s)/mailto
    links. Raw HTML is escaped; nh3 then drops whatever else is not on the allow-list."""
    if not text:
        return ""
    md = markdown_lib.Markdown(extensions=["nl2br", "sane_lists", "tables"])
    # Raw HTML typed by the user is shown as text ("<U12>" stays visible), not parsed.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    html = md.convert(str(text))
    return mark_safe(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            link_rel="noopener noreferrer nofollow",
        )
    )
