"""The shipped cl100k table: read by our loader, exactly as tiktoken's own loader reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiktoken.load import load_tiktoken_bpe

from llm_loadtest.model.errors import ConfigError
from llm_loadtest.tokens import tokenizer
from llm_loadtest.tokens.tokenizer import get_tokenizer

SHIPPED = Path(tokenizer.__file__).with_name("cl100k_base.tiktoken")
SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def test_the_shipped_table_is_read_as_tiktoken_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # tiktoken's loader copies the file there
    assert tokenizer._shipped_ranks(SHIPPED, SHA256) == load_tiktoken_bpe(str(SHIPPED), expected_hash=SHA256)
    tok = get_tokenizer("tiktoken:cl100k_base")
    assert tok.encode("hello world") == [15339, 1917] and tok.decode([15339, 1917]) == "hello world"


def test_a_table_that_is_not_the_published_one_is_refused(tmp_path):
    changed = tmp_path / "cl100k_base.tiktoken"
    changed.write_bytes(SHIPPED.read_bytes().replace(b" 0\n", b" 1\n", 1))
    with pytest.raises(ConfigError, match="SHA-256 differs"):
        tokenizer._shipped_ranks(changed, SHA256)
