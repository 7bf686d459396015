"""Production security: response headers (CSP, frame, referrer, sniffing, HSTS), secure
cookies, and user-written text rendered as sanitised Markdown everywhere it is shown."""

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template import Context, Template
from django.urls import reverse

from comms import services as comms_services
from partnership.templatetags.markdown import markdown
from tests.test_deployment import production_env

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def directives(response):
    policy = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


def test_pages_send_a_strict_content_security_policy_and_the_other_headers(world, client):
    client.force_login(world.buyer)
    for url in ["/", reverse("partnership_detail", args=[world.ours.pk]), "/accounts/login/"]:
        response = client.get(url)
        csp = directives(response)
        assert csp["default-src"] == ["'self'"]
        assert csp["script-src"] == ["'self'"], "no inline script, no eval"
        assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
        assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
        assert csp["style-src"] == ["'self'"], "no inline style either"
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        body = response.content.decode()
        assert "<script>" not in body and " hx-on" not in body and "onclick=" not in body
        assert " style=" not in body


def test_only_the_api_docs_get_their_relaxed_policy(world, client):
    client.force_login(world.buyer)
    swagger = client.get("/api/docs/")
    assert directives(swagger)["script-src"] == ["'self'"]
    assert "<script>" not in swagger.content.decode()  # its set-up script is a file (?script)
    assert client.get("/api/docs/?script").status_code == 200
    redoc = client.get("/api/redoc/")
    assert directives(redoc)["worker-src"] == ["'self'", "blob:"]
    for viewer in (swagger, redoc):  # they style their elements inline; no other page may
        assert directives(viewer)["style-src"] == ["'self'", "'unsafe-inline'"]
    assert "fonts.googleapis.com" not in redoc.content.decode()  # nothing from a CDN
    assert "worker-src" not in directives(client.get("/"))


def test_hsts_when_configured_and_secure_cookies(world, client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    response = client.get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response.cookies["csrftoken"]["secure"]
    response = client.post(
        "/accounts/login/",
        {"login": world.buyer.email, "password": "correct-horse-battery-staple"},
        secure=True,
    )
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] and response.cookies["sessionid"]["httponly"]
    assert "Strict-Transport-Security" not in client.get("/accounts/login/")  # plain HTTP


def test_production_settings_default_to_secure_cookies():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.X_FRAME_OPTIONS, "
        "s.SECURE_CONTENT_TYPE_NOSNIFF, s.SESSION_COOKIE_HTTPONLY, s.DEBUG]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=production_env(DJANGO_SETTINGS_MODULE="partnership.settings", SECRET_KEY="x" * 50),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        True,
        True,
        "DENY",
        True,
        True,
        False,
    ]


# --- User-written text: Markdown through nh3 ------------------------------------------------

XSS = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert('x')>",
    "[click me](javascript:alert('x'))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '![x](https://example.com/x.png" onerror="alert(1))',
    "<a href=\"javascript:alert('x')\">link</a>",
    "<svg onload=alert('x')></svg>",
    "<iframe src=https://evil.example></iframe>",
]


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "svg", "img", "object", "embed", "style"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src") and (value or "").strip().lower().startswith(
                ("javascript:", "data:", "vbscript:")
            ):
                self.found.append(f"{tag}[{name}={value}]")


def dangerous(html):
    """Real elements and attributes that could run script (escaped text is harmless)."""
    parser = _Elements()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("payload", XSS)
def test_the_markdown_filter_neutralises_xss(payload):
    html = markdown(payload)
    assert not dangerous(html), html


def test_markdown_still_formats_and_keeps_safe_links():
    html = markdown("**Root cause:** stencil\nsee [8D](https://qms.example/8d/12) & <U12>")
    assert "<strong>Root cause:</strong>" in html and "<br" in html
    assert '<a href="https://qms.example/8d/12" rel="noopener noreferrer nofollow">8D</a>' in html
    assert "&lt;U12&gt;" in html  # raw HTML is shown as text, not dropped


def test_problem_pages_render_descriptions_and_comments_through_the_filter(world, client):
    payload = "\n\n".join(XSS)
    problem = comms_services.raise_problem(
        by=world.account_manager,
        partnership=world.ours,
        title="Voids",
        severity="high",
        description="**bold** " + payload,
    )
    comms_services.comment_on_problem(by=world.buyer, problem=problem, text=payload)
    client.force_login(world.buyer)
    page = client.get(reverse("comms:problem", args=[world.ours.pk, problem.pk])).content.decode()
    assert "<strong>bold</strong>" in page
    main = page.split("<main", 1)[1]
    assert not dangerous(main), dangerous(main)
    # Shown as text in the description and the comment (and in the history card, escaped too).
    assert main.count("&lt;script&gt;alert") >= 2


def test_every_template_shows_user_text_through_the_filter():
    """The fields people type prose into are rendered by ``|markdown`` (pages, e-mails, PDFs),
    never with ``|linebreaks``/``|safe`` or raw."""
    prose = [
        "problem.description",
        "problem.resolution",
        "c.text",
        "minutes.notes",
        "minutes.decisions",
        "meeting.description",
        "finding.description",
        "finding.evidence",
        "decision.description",
        "f.description",
    ]
    found = 0
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for field in prose:
            for chunk in text.split("{{ " + field)[1:]:
                found += 1
                # Full text as Markdown; one-line summaries in lists stay escaped plain text.
                assert chunk.startswith(("|markdown", "|truncatechars")), (
                    f"{path.name}: {{{{ {field}{chunk[:30]}"
                )
    assert found >= 14
    rendered = Template("{% load markdown %}{{ t|markdown }}").render(Context({"t": XSS[0]}))
    assert "<script" not in rendered


def test_no_page_template_has_a_style_attribute():
    """The policy refuses inline styles: a ``style=""`` in a page template would simply not
    apply in the browser. PDFs and e-mails are not pages (WeasyPrint and mail clients)."""
    from pathlib import Path

    from django.conf import settings

    base = Path(settings.BASE_DIR)
    pages = [*base.glob("*/templates/**/*.html"), *(base / "templates").glob("**/*.html")]
    offenders = [
        str(path.relative_to(base))
        for path in pages
        if "/pdf/" not in str(path) and "/email/" not in str(path)
        if ' style="' in path.read_text()
    ]
    assert len(pages) > 80 and offenders == []
