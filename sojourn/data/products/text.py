"""The words of a product's name and description, for topics and matching: Chinese (and other
CJK) text has no spaces between words, so runs of it are cut into words by jieba's dictionary;
other scripts are split at whatever is not a letter or a digit. Lower-cased, punctuation dropped."""

from __future__ import annotations

import logging
import re

import jieba

jieba.setLogLevel(logging.WARNING)  # it announces loading its dictionary at INFO

# Han ideographs (with extension A and compatibility forms), kana and Hangul: scripts written
# without spaces between words (jieba's dictionary knows Chinese; the rest pass through whole runs).
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_RUN = re.compile(rf"[{_CJK}]+|[^\W_]+")
_IS_CJK = re.compile(rf"[{_CJK}]")


def tokens(text: str) -> list[str]:
    """The words of `text` in order: 'Hydrating 玻尿酸保湿精华液 30ml' ->
    ['hydrating', '玻尿酸', '保湿', '精华液', '30ml']."""
    words: list[str] = []
    for match in _RUN.finditer(text):
        run = match.group()
        if _IS_CJK.match(run):
            words.extend(word for word in jieba.cut(run, HMM=True) if word.strip())
        else:
            words.append(run.lower())
    return words
