"""The one place the portal renders PDFs (DESIGN.md §8, after InvenTree's reports).

A PDF is a Django template plus a context, laid out by WeasyPrint. Each app's ``pdf.py`` builds
the context; this module turns it into bytes. Rendering never touches the network: stylesheets
and images are referenced as local files under ``base_url`` (the project directory by default,
so ``href="static/css/pdf.css"`` works), every other URL is refused, and text is set in the
system's DejaVu fonts, which fontconfig finds without any download.
"""

from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher


class LocalFileFetcher(URLFetcher):
    """Fetches ``file:`` URLs inside one directory tree and ``data:`` URLs; refuses the rest.

    A template that (by mistake) echoes a user's URL can neither reach the network nor embed an
    arbitrary file of the server into the PDF.
    """

    def __init__(self, root, **kwargs):
        super().__init__(allowed_protocols={"file", "data"}, **kwargs)
        self.root = Path(root).resolve()

    def fetch(self, url, headers=None):
        parts = urlsplit(url)
        if parts.scheme == "file" and not Path(unquote(parts.path)).resolve().is_relative_to(
            self.root
        ):
            raise ValueError(f"Refusing to read a file outside {self.root}: {url}")
        return super().fetch(url, headers)


def render_pdf(template_name: str, context: dict, *, base_url=settings.BASE_DIR) -> bytes:
    """Render ``template_name`` with ``context`` and return the PDF's bytes.

    Relative URLs in the template resolve against ``base_url``, and only files below it can be
    read.
    """
    html = render_to_string(template_name, context)
    return HTML(
        string=html, base_url=str(base_url), url_fetcher=LocalFileFetcher(base_url)
    ).write_pdf()
