"""How many segments an SMS text is billed as.

A text is GSM-7 when every character is in the GSM 03.38 alphabet (the `gsm0338` codec says
which, and that an extension character such as € or `{` takes two septets); otherwise the
whole text goes as UCS-2, where a character outside the Basic Multilingual Plane (an emoji)
takes two code units. One segment holds 160 septets or 70 code units; a concatenated text
gives up room in each segment to its header, leaving 153 or 67, and a character is never
split across two segments (an escape and its character, a surrogate pair), so a segment may
end one short. The segment counters on PyPI (sms-counter, smsutil) are unmaintained, so the
arithmetic is here; the alphabet comes from gsm0338, a maintained codec.
"""

from __future__ import annotations

import gsm0338  # noqa: F401  registers the "gsm03.38" codec

_GSM7 = (160, 153)
_UCS2 = (70, 67)


def _character_sizes(text: str) -> tuple[list[int], tuple[int, int]]:
    try:
        return [len(char.encode("gsm03.38")) for char in text], _GSM7
    except UnicodeEncodeError:
        return [len(char.encode("utf-16-le")) // 2 for char in text], _UCS2


def is_gsm7(text: str) -> bool:
    """Whether the text can go in GSM-7 (else it goes as UCS-2)."""
    return _character_sizes(text)[1] is _GSM7


def sms_segments(text: str) -> int:
    """The segments the text is sent (and billed) as; an empty text is still one message."""
    sizes, (single, concatenated) = _character_sizes(text)
    if sum(sizes) <= single:
        return 1
    segments, room = 1, concatenated
    for size in sizes:
        if size > room:
            segments, room = segments + 1, concatenated
        room -= size
    return segments
