"""The console's words in Chinese (zh-CN, the default) and English, from gettext catalogues:
console/locale/<locale>/LC_MESSAGES/messages.po, compiled to messages.mo by the build (`make gen`)
and read with Babel. A message id says what the words are for: an interface text by its place
(`nav.queue`), a word of the services by its vocabulary (`label.stage.verification`), a service's
refusal by its reason (`reason.STATEMENT_WINDOW_OPEN`). Texts take their values as {name}."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import Translations

LANGUAGES = ("zh", "en")
DEFAULT = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}
LOCALES = {"zh": "zh_CN", "en": "en"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def catalogue_path(lang: str, suffix: str) -> Path:
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


@cache
def translations(lang: str) -> Translations:
    """A language's compiled catalogue. One missing or older than its .po is an error, not a page
    of message ids: gettext would otherwise answer every id with the id itself."""
    compiled, source = catalogue_path(lang, ".mo"), catalogue_path(lang, ".po")
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        raise RuntimeError(f"{compiled} is missing or older than {source.name}: run `make gen` (pybabel compile)")
    with compiled.open("rb") as file:
        return Translations(file, domain=DOMAIN)


def text(lang: str, key: str) -> str:
    return translations(lang).gettext(key)


def known(lang: str, key: str) -> bool:
    """Whether the catalogue has `key`: gettext answers an id it lacks with the id itself, and no
    text of the console is its own id."""
    return text(lang, key) != key


def label(lang: str, vocabulary: str, word: str) -> str:
    """A word of the services (an enum value, a period id) as a reader reads it; as sent when unknown."""
    key = f"label.{vocabulary}.{word}"
    return text(lang, key) if known(lang, key) else word
