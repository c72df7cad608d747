"""The ownership hint, as plain functions: does an apology explain before it owns?

Ownership comes before explanation: a first answer that opens with an explanation or a
"sorry, but" gets one gentle hint and the chance to rewrite, never a refusal.
"""

from __future__ import annotations

import re

from flows.timeparse import pattern

_FILLER = re.compile(r"^(?:(?:ok|okay|look|listen|well|honestly|so|hey)\b[\s,.!:-]*)+")


# An apology that explains (or pushes back) before it owns anything.
_EXPLAINS_FIRST = re.compile(
    r"""^(?:
        (?:i'?m\s+|i\s+am\s+)?(?:so\s+|really\s+|very\s+|truly\s+)?sorry\b[^.!?]{0,40}?\bbut\b
      | (?:i'?m\s+|i\s+am\s+)?sorry\s+(?:if|that\s+you|you)\b
      | i\s+(?:didn'?t|did\s+not|never)\s+mean\b
      | you\s+know\s+(?:how\s+|that\s+)?i\b
      | i\s+was\s+(?:just\s+|only\s+)?(?:so\s+|really\s+)?
          (?:tired|stressed|exhausted|overwhelmed|busy|trying|joking)\b
      | (?:it'?s|it\s+is|it\s+was)\s+(?:just\s+)?(?:that|because)\b
      | because\b | in\s+my\s+defen[cs]e\b | to\s+be\s+fair\b | the\s+thing\s+is\b
      | if\s+you\s+(?:hadn'?t|had)\b | you\s+made\s+me\b | you\s+always\b | you\s+never\b
    )""",
    re.VERBOSE,
)


_SAYS_SORRY = re.compile(r"\b(?:sorry|apologi[sz]e)\b", re.IGNORECASE)


def says_sorry(answer: str) -> bool:
    """The author already wrote their own "sorry": Mend does not add a second one."""
    return bool(_SAYS_SORRY.search(answer))


def explains_before_owning(answer: str, language: str | None = "en") -> bool:
    """True when an apology leads with an explanation or a "but" before ownership (English
    above; other languages list their openings in the catalogue, `parse.explains_first`)."""
    cleaned = " ".join(answer.lower().replace("\u2019", "'").replace("\u2018", "'").split())
    cleaned = _FILLER.sub("", cleaned.lstrip(" \"'-–—,."))
    if _EXPLAINS_FIRST.match(cleaned):
        return True
    unpunctuated = " ".join(cleaned.replace(",", " ").split())
    return re.match(rf"(?:{pattern('explains_first', language)})\b", unpunctuated) is not None
