"""What every page shares: who is signed in (the suite's bearer token, kept by the console in a
session whose id is the cookie: console.sessions), the
page's language, the CSRF token of signed-in forms, and rendering a template with them in the
page's language (one Jinja2 environment per language, its catalogue installed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from console import i18n
from console.sessions import Sessions
from console.signin import PendingSignIns, Provider
from console.settings import Settings
from rules import Rules
from suite import auth, clock, codes
from suite.errors import Unauthenticated

# The sign-in cookie: a session id (console.sessions), never the bearer token itself. HttpOnly,
# SameSite=Lax, and Secure where the console is served over HTTPS (settings.secure_cookies).
SESSION_COOKIE = "ipss_session"
SESSION_SECONDS = 8 * 3600
LANG_COOKIE = "ipss_lang"
OFFICERS = frozenset({"handler", "supervisor", "operator", "admin"})
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Visitor:
    """Who is looking at a page: the token's holder, or the public (token empty)."""

    principal: auth.Principal
    token: str
    # A token was presented but is no longer good (expired, or signed with another key).
    token_refused: bool = False
    session_id: str = ""

    @property
    def is_officer(self) -> bool:
        return self.principal.role in OFFICERS


class Pages:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.rules = Rules.load()
        self.environments = {lang: environment(lang) for lang in i18n.LANGUAGES}
        self.sessions = Sessions(SESSION_SECONDS)
        # People's issuers only: the console holds no machine key, and takes no machine token.
        self.verifier = auth.people_verifier(settings.oidc)
        self.provider = (Provider(settings.oidc, settings.public_url + "/signin/office/callback")
                         if settings.oidc else None)
        self.pending = PendingSignIns()
        # The CSRF tokens' key: this process's own, as the sessions they are tied to are.
        self._csrf_key = secrets.token_bytes(32)

    def visitor(self, request: Request) -> Visitor:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not session_id:
            return Visitor(auth.ANONYMOUS, "")
        token = self.sessions.token(session_id)
        if token is None:  # signed out, timed out, or never given: signed in no more
            return Visitor(auth.ANONYMOUS, "", token_refused=True)
        try:
            return Visitor(self.verifier.verify(token), token, session_id=session_id)
        except Unauthenticated:
            return Visitor(auth.ANONYMOUS, "", token_refused=True)

    def csrf(self, visitor: Visitor) -> str:
        """Ties a signed-in form to the session (not its token, which is renewed while a form is
        open): another site cannot post it."""
        if not (visitor.token and visitor.session_id):
            return ""
        return hmac.new(self._csrf_key, b"csrf\x00" + visitor.session_id.encode(),
                        hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, visitor: Visitor, posted: str) -> bool:
        expected = self.csrf(visitor)
        return bool(expected) and hmac.compare_digest(expected, posted or "")

    def render(self, request: Request, template: str, status_code: int = 200, headers: dict | None = None,
               **context) -> HTMLResponse:
        lang = language(request)
        visitor = self.visitor(request)
        html = self.environments[lang].get_template(template).render(
            request=request, lang=lang, html_lang=i18n.HTML_LANG[lang], visitor=visitor, csrf=self.csrf(visitor),
            label=lambda vocabulary, word: self.label(lang, vocabulary, word),
            region_name=region_name, settings=self.settings, dev_signin=self.settings.dev_signin,
            badges=getattr(request.state, "badges", {}), **context)
        return HTMLResponse(html, status_code=status_code, headers=headers)

    def label(self, lang: str, vocabulary: str, word: str) -> str:
        if vocabulary == "cause":
            text = self.rules.suspending_events.get(word)
            return (text.en if lang == "en" else text.zh) if text else word
        return i18n.label(lang, vocabulary, word)

    def period_description(self, lang: str, period_id: str, sent: str) -> str:
        """The service sends the Chinese description; the rules file has the English one."""
        period = self.rules.periods.get(period_id)
        if lang == "en" and period is not None:
            return period.description.en
        return sent


def environment(lang: str) -> Environment:
    """The templates in one language: Jinja2's i18n extension with the language's catalogue, so a
    template says `_("nav.queue")`, or `t("nav.queue")` as the console's templates always have."""
    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(), trim_blocks=True,
                            lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    templates.install_gettext_translations(i18n.translations(lang), newstyle=False)
    templates.globals["t"] = templates.globals["gettext"]
    templates.filters["china_time"] = china_time
    return templates


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, i18n.DEFAULT)
    return lang if lang in i18n.LANGUAGES else i18n.DEFAULT


def china_time(moment: Timestamp | datetime | None) -> str:
    """A moment as a person in China reads it."""
    if isinstance(moment, Timestamp):
        moment = moment.ToDatetime(clock.CHINA)
    return moment.astimezone(clock.CHINA).strftime("%Y-%m-%d %H:%M") if moment else ""


def region_name(code: str) -> str:
    """A division code with its province's name (the suite knows provinces, not every county)."""
    province = codes.PROVINCES.get(code[:2], "")
    return f"{province} {code}" if province else code
