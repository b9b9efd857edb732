"""Whether a response states a fact: the Knowledge check's text matching. Pure.

A fact is found when its normalised text (case-folded, whitespace runs made one space) occurs in
the normalised response; ``Response`` decides that mostly without normalising the response.
"""

from __future__ import annotations


def normalise_text(text: str) -> str:
    """Case-folded, with every run of whitespace made one space."""
    return " ".join(text.split()).casefold()


class Needle:
    """A required or forbidden fact, normalised, with its longest word (see ``Response``)."""

    __slots__ = ("text", "word")

    def __init__(self, fact: str) -> None:
        self.text = normalise_text(fact)
        self.word = max(self.text.split(" "), key=len) if " " in self.text else None


_NEEDLES: dict[str, Needle] = {}  # memo by fact text: cases repeat the same few facts
_NEEDLES_MAX = 10_000


def needle(fact: str) -> Needle:
    found = _NEEDLES.get(fact)
    if found is None:
        found = Needle(fact)
        if len(fact) <= 500:
            if len(_NEEDLES) >= _NEEDLES_MAX:
                _NEEDLES.clear()
            _NEEDLES[fact] = found
    return found


class Response:
    """``needle in normalise_text(response)``, mostly without normalising the response.

    Case folding maps whitespace to itself and never makes whitespace out of anything else,
    so a text without whitespace occurs in the normalised response exactly when it occurs in
    the merely case-folded one; and a normalised needle (words and single spaces) found in the
    case-folded response also occurs in the normalised one. So the folded response decides,
    except for a needle with a space that is not found as it is: if one of its words is not
    there either, it is absent; only otherwise is the response normalised.
    """

    __slots__ = ("folded", "normalised", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded = text.casefold()
        self.normalised: str | None = None

    def __contains__(self, needle: Needle) -> bool:
        text = needle.text
        if text in self.folded:
            return True
        word = needle.word
        if word is None or word not in self.folded:
            return False
        if self.normalised is None:
            self.normalised = normalise_text(self.text)
        return text in self.normalised
