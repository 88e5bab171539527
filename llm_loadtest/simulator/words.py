"""The simulator's output vocabulary.

Each word, with its leading space, is exactly one cl100k_base token, and stays one token when
the words are concatenated: cl100k's pre-tokenizer splits " word" runs apart before BPE, so a
client that counts the output with tiktoken gets exactly the number of tokens generated.
tests/test_simulator.py checks both claims against the shipped tokenizer.
"""

from __future__ import annotations

import json
import random

WORDS: tuple[str, ...] = tuple(
    " " + w
    for w in ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "by", "at", "this", "are", "from", "or", "have", "an", "they", "which", "one", "you", "were", "all", "we", "her", "she", "there", "would", "their", "will", "when", "who", "him", "been", "has", "more", "if", "no", "out", "do", "so", "can", "what", "up", "said", "about", "other", "into", "than", "its", "time", "only", "could", "new", "them", "man", "some", "these", "then", "two", "first", "may", "any", "like", "now", "my", "such", "make", "over", "our", "even", "most", "me", "state", "after", "also", "made", "many", "did", "must", "before", "back", "see", "through", "way", "where", "get", "much", "go", "well", "your", "know", "should", "down", "work", "year", "because", "come", "people", "just", "say", "each", "those", "take", "day", "good", "how", "long", "own", "too", "little", "use", "us", "very", "great", "still", "men", "here", "life", "both", "between", "old", "under", "last", "never", "place", "same", "another", "think", "house", "while", "high", "right", "might", "came", "off", "find", "states", "since", "used", "give", "against", "three", "himself", "look", "few", "general", "hand", "school", "part", "small", "american", "home", "during", "number", "again", "upon", "mind", "system", "world", "water", "light", "name", "city", "land", "line", "group", "point", "order", "hour", "word", "side", "case", "fact", "story", "plan", "power", "money", "music", "game", "body", "night", "car", "friend", "family", "team", "paper", "food", "river", "letter", "color"]
)

# JSON string bodies (no quotes) as bytes, so a chunk is built by joining bytes, not json.dumps.
# The words are ASCII letters and a space: nothing in them needs escaping.
WORD_BYTES: tuple[bytes, ...] = tuple(json.dumps(w)[1:-1].encode() for w in WORDS)


def pick_words(rng: random.Random, count: int) -> list[int]:
    """Indices into WORDS for `count` output tokens."""
    return rng.choices(range(len(WORDS)), k=count)


def text_of(indices: list[int]) -> str:
    return "".join(WORDS[i] for i in indices)


def json_body_of(indices: list[int]) -> bytes:
    """The chunk's text as a JSON string literal, quotes included."""
    return b'"' + b"".join(WORD_BYTES[i] for i in indices) + b'"'
