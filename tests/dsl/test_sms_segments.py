"""SMS billing units: GSM-7 and UCS-2 segment counts, against cases worked out by hand."""

import pytest

from sojourn.dsl.sms_segments import is_gsm7, sms_segments


@pytest.mark.parametrize(("text", "segments"), [
    ("", 1),
    ("Hi Ada, your order shipped.", 1),
    ("a" * 160, 1),  # exactly one GSM-7 segment
    ("a" * 161, 2),  # one over: concatenated, 153 each
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("ä" * 160, 1),  # in the basic GSM alphabet despite not being ASCII
    ("€" * 80, 1),  # extension characters take two septets: 160
    ("€" + "a" * 159, 2),  # 161 septets
    ("^{}[]~|\\" + "a" * 144, 1),  # 8 extension characters = 16 septets + 144
    ("^{}[]~|\\" + "a" * 145, 2),
    ("a" * 151 + "€" + "a" * 9, 2),  # € fills the first 153 exactly
    ("a" * 153 + "a" * 152 + "€", 3),  # € does not fit in the 1 septet left: a third segment
    ("中" * 70, 1),  # Chinese is UCS-2: 70 per segment
    ("中" * 71, 2),  # then 67 per segment
    ("中" * 134, 2),
    ("中" * 135, 3),
    ("a" * 69 + "中", 1),  # one UCS-2 character makes the whole text UCS-2
    ("a" * 70 + "中", 2),
    ("😀" * 35, 1),  # an emoji is two UTF-16 code units
    ("😀" * 36, 2),
    ("a" * 66 + "😀" + "a" * 10, 2),  # the pair does not fit in 1 unit left: moves to segment 2
    ("a" * 66 + "😀" + "a" * 66, 3),
])
def test_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_alphabet() -> None:
    assert is_gsm7("Café € {ok} ñ")
    assert not is_gsm7("Café ç")  # ç (lower case) is not in GSM 03.38; Ç is
    assert not is_gsm7("中文")
    assert not is_gsm7("🙂")
