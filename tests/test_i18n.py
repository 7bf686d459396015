"""Internationalisation: English by default, Polish shipped and chosen per user or by the browser.

The Polish catalogue is committed compiled (``locale/pl/LC_MESSAGES/django.mo``); these tests
also keep it complete: nothing untranslated or fuzzy, placeholders intact, the .mo up to date.
"""

import ast
import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from partnership.models import Role

PO = Path(settings.BASE_DIR) / "locale" / "pl" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def page(response):
    assert response.status_code == 200
    return response.content.decode()


# --- Pages -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_user_who_chose_polish_sees_the_dashboard_in_polish(world, client):
    world.buyer.language = "pl"
    world.buyer.save(update_fields=["language"])
    client.force_login(world.buyer)
    html = page(client.get(reverse("dashboard")))
    assert '<html lang="pl">' in html
    # The main navigation and the user menu.
    for text in ("Partnerstwa", "Organizacja", "Decyzje", "Moje działania", "Wyloguj się"):
        assert f">{text}</" in html, text
    assert "Przejdź do treści" in html and 'aria-label="Nawigacja główna"' in html
    assert ">My actions</a>" not in html and ">Log out</button>" not in html


@pytest.mark.django_db
def test_user_who_chose_polish_sees_a_partnership_page_in_polish(world, client):
    world.account_manager.language = "pl"
    world.account_manager.save(update_fields=["language"])
    client.force_login(world.account_manager)
    html = page(client.get(reverse("partnership_detail", args=[world.ours.pk])))
    assert 'aria-label="Sekcje partnerstwa"' in html
    for tab in ("Przegląd", "Umowa", "Przepustowość", "Audyty", "Karta wyników", "Historia"):
        assert f">{tab}</a>" in html, tab
    assert ">Overview</a>" not in html and ">Scorecard</a>" not in html


@pytest.mark.django_db
def test_the_users_language_wins_over_the_browsers(world, client):
    world.buyer.language = "en"
    world.buyer.save(update_fields=["language"])
    client.force_login(world.buyer)
    html = page(client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="pl"))
    assert '<html lang="en">' in html and ">My actions</a>" in html


@pytest.mark.django_db
def test_without_a_choice_the_browsers_language_applies(world, client):
    assert world.buyer.language == ""
    client.force_login(world.buyer)
    html = page(client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="pl-PL,pl;q=0.9,en;q=0.5"))
    assert '<html lang="pl">' in html and ">Moje działania</a>" in html


@pytest.mark.django_db
def test_accept_language_polish_translates_the_login_page(client):
    html = page(client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="pl"))
    assert '<html lang="pl">' in html
    # allauth ships the Polish of its own pages ("Sign In" is "Zaloguj"); the frame is ours.
    assert re.search(r"<h1[^>]*>\s*Zaloguj\s*</h1>", html), "login heading is not Polish"
    assert "Adres e-mail" in html and "Hasło" in html
    assert "Portal partnerski OEM–EMS" in html


@pytest.mark.django_db
def test_english_is_the_default(world, client):
    assert settings.LANGUAGE_CODE == "en"
    html = page(client.get(reverse("account_login")))
    assert '<html lang="en">' in html and re.search(r"<h1[^>]*>\s*Sign In\s*</h1>", html)
    client.force_login(world.buyer)
    html = page(client.get(reverse("dashboard")))
    assert '<html lang="en">' in html and ">Partnerships</a>" in html
    # A language nobody ships falls back to English, too.
    html = page(client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="de"))
    assert '<html lang="en">' in html and ">My actions</a>" in html


def test_polish_plural_forms_and_lazy_labels():
    with translation.override("pl"):
        assert str(Role.VIEWER.label) == "Obserwator"
        weeks = {
            n: translation.ngettext("%(n)s week", "%(n)s weeks", n) % {"n": n}
            for n in (1, 2, 5, 12, 22, 25, 104)
        }
    assert weeks == {
        1: "1 tydzień",
        2: "2 tygodnie",
        5: "5 tygodni",
        12: "12 tygodni",
        22: "22 tygodnie",
        25: "25 tygodni",
        104: "104 tygodnie",
    }


# --- The catalogue ---------------------------------------------------------------------------


def _unquote(line):
    return ast.literal_eval(line)


def parse_po(path):
    """A tiny .po reader: entries as dicts of msgctxt/msgid/msgid_plural/msgstr[n] and flags."""
    entries, entry, key = [], None, None

    def flush():
        if entry is not None and "msgid" in entry:
            entries.append(entry)

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if entry is not None and "msgid" in entry:
                flush()
                entry = None
            entry = entry or {"flags": set()}
            if line.startswith("#,"):
                entry["flags"].update(f.strip() for f in line[2:].split(","))
            continue
        if line.startswith('"'):
            entry[key] += _unquote(line)
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and entry is not None and "msgid" in entry:
            flush()
            entry = None
        entry = entry or {"flags": set()}
        key = "msgstr[0]" if keyword == "msgstr" else keyword
        entry[key] = _unquote(rest)
    flush()
    return entries


# Python and brace placeholders, and HTML markup kept inside a message.
PLACEHOLDER = re.compile(
    r"%\(\w+\)[sd]|%[sd%]|\{\w+\}|</?(?:a|b|br|code|em|i|li|p|span|strong|ul)\b[^>]*>"
)


def test_every_polish_message_is_translated_and_not_fuzzy():
    entries = parse_po(PO)
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == ""
    assert "fuzzy" not in header["flags"]
    assert "Language: pl\n" in header["msgstr[0]"]
    assert "Plural-Forms: nplurals=3;" in header["msgstr[0]"]
    assert len(messages) > 1000
    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    assert not fuzzy, f"fuzzy entries: {fuzzy[:10]}"
    untranslated = []
    for e in messages:
        forms = [v for k, v in e.items() if k.startswith("msgstr")]
        expected = 3 if "msgid_plural" in e else 1
        if len(forms) != expected or not all(forms):
            untranslated.append(e["msgid"])
    assert not untranslated, f"untranslated: {untranslated[:10]}"


def test_polish_messages_keep_their_placeholders():
    broken = []
    for e in parse_po(PO)[1:]:
        sources = {"msgstr[0]": e["msgid"]}
        if "msgid_plural" in e:
            sources = {"msgstr[0]": e["msgid"], "msgstr[1]": e["msgid_plural"]}
            sources["msgstr[2]"] = e["msgid_plural"]
        for key, source in sources.items():
            want = sorted(set(PLACEHOLDER.findall(source)))
            got = sorted(set(PLACEHOLDER.findall(e.get(key, ""))))
            if want != got:
                broken.append((e["msgid"], key, want, got))
    assert not broken, broken[:10]


def test_msgfmt_check_passes_with_nothing_untranslated():
    assert shutil.which("msgfmt"), (
        "gettext's msgfmt is missing: .ci/run installs it (apt-get install gettext)"
    )
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(PO)],
        capture_output=True,
        text=True,
        check=False,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    assert re.search(r"^\d+ translated messages\.$", result.stderr.strip()), result.stderr


def test_the_shipped_mo_matches_the_po():
    """The compiled catalogue is committed: it must hold exactly what the .po says."""
    with MO.open("rb") as f:
        catalog = gettext.GNUTranslations(f)._catalog
    stale = []
    for e in parse_po(PO)[1:]:
        ctx = e["msgctxt"] + "\x04" if "msgctxt" in e else ""
        if "msgid_plural" in e:
            for n in range(3):
                if catalog.get((ctx + e["msgid"], n)) != e[f"msgstr[{n}]"]:
                    stale.append(e["msgid"])
        elif catalog.get(ctx + e["msgid"]) != e["msgstr[0]"]:
            stale.append(e["msgid"])
    assert not stale, (
        f"django.mo is out of date ({len(stale)} messages, e.g. {stale[:3]}): "
        "run `manage.py compilemessages -l pl --ignore=.venv`"
    )


@pytest.mark.django_db
def test_a_users_language_and_zone_hold_for_their_request_only(world, client):
    """The middleware applies them for the request: the thread goes back to the defaults for
    whatever it runs next (a task, another user's request, the next test)."""
    from django.utils import timezone

    world.buyer.language, world.buyer.time_zone = "pl", "Asia/Shanghai"
    world.buyer.save(update_fields=["language", "time_zone"])
    client.force_login(world.buyer)
    response = client.get(reverse("dashboard"))
    assert "Partnerstwa" in page(response) and response["Content-Language"] == "pl"
    assert "Asia/Shanghai" in response.content.decode()  # "times shown in …"
    assert translation.get_language() == settings.LANGUAGE_CODE
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


@pytest.mark.django_db
def test_an_api_token_request_runs_in_the_users_zone_and_leaves_the_thread_as_it_was(
    world, monkeypatch
):
    """The pages' middleware cannot know a token's user: the authentication puts the request
    in the user's zone (so a service's "today" is the same on every path), for that request."""
    from django.test import Client
    from django.utils import timezone

    from partnership.api.views import PartnershipViewSet
    from partnership.models import ApiToken

    seen = []
    world.buyer.time_zone = "Pacific/Kiritimati"  # UTC+14: "today" is tomorrow most of the day
    world.buyer.save(update_fields=["time_zone"])
    _token, key = ApiToken.issue(world.buyer, "erp")
    original = PartnershipViewSet.list

    def list_and_look(self, request, *args, **kwargs):
        seen.append(timezone.get_current_timezone_name())
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(PartnershipViewSet, "list", list_and_look)
    response = Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/partnerships/")
    assert response.status_code == 200
    assert seen == ["Pacific/Kiritimati"]
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE
