"""Words of product text: Chinese cut by jieba's dictionary, not by spaces; Latin text by words."""

from __future__ import annotations

from sojourn.data.products.text import tokens


def test_chinese_is_cut_into_words_and_latin_text_by_words():
    assert tokens("控油洗面乳") == ["控油", "洗面乳"]
    words = tokens("Hydrating 保湿精华液, 30ml for OILY skin!")
    assert words == ["hydrating", "保湿", "精华液", "30ml", "for", "oily", "skin"]


def test_text_without_words_has_none():
    assert tokens("") == [] and tokens(" ,.!？。") == []
