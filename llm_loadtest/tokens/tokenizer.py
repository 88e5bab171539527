"""Tokenizers that work with no network at all.

`tiktoken:cl100k_base` (the default) loads the encoding file shipped in this package, checked
against tiktoken's published SHA-256; tiktoken itself would download it on first use.
A path to a Hugging Face `tokenizer.json` (or a folder holding one) uses the `tokenizers`
package (`pip install llm-loadtest[hf]`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

from llm_loadtest.model.config import ConfigError

_SHIPPED = {
    # name: (file in this folder, sha256 published in tiktoken_ext.openai_public)
    "cl100k_base": ("cl100k_base.tiktoken", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
}
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


class Tokenizer(Protocol):
    name: str

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def count(self, text: str) -> int: ...


class TiktokenTokenizer:
    def __init__(self, name: str):
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        if name not in _SHIPPED:
            raise ConfigError(f"tokenizer tiktoken:{name} is not shipped; use tiktoken:cl100k_base or a tokenizer.json path")
        filename, sha256 = _SHIPPED[name]
        ranks = load_tiktoken_bpe(str(Path(__file__).with_name(filename)), expected_hash=sha256)
        self.name = f"tiktoken:{name}"
        self._encoding = tiktoken.Encoding(name=name, pat_str=_CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=_CL100K_SPECIAL)

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        return self._encoding.decode(ids)

    def count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))


class HuggingFaceTokenizer:
    def __init__(self, path: Path):
        try:
            from tokenizers import Tokenizer as HFTokenizer
        except ImportError:
            raise ConfigError("a Hugging Face tokenizer needs the `tokenizers` package: pip install 'llm-loadtest[hf]'") from None
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(f"no tokenizer.json at {path}")
        try:
            self._tokenizer = HFTokenizer.from_file(str(file))
        except Exception as exc:  # the library raises a bare Exception on a bad file
            raise ConfigError(f"cannot read tokenizer {file}: {exc}") from None
        self.name = str(path)

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids)

    def count(self, text: str) -> int:
        return len(self.encode(text))


@functools.cache
def get_tokenizer(spec: str) -> Tokenizer:
    """`tiktoken:NAME`, or a path to a Hugging Face tokenizer.json / its folder."""
    if spec.startswith("tiktoken:"):
        return TiktokenTokenizer(spec.split(":", 1)[1])
    path = Path(spec).expanduser()
    if path.exists():
        return HuggingFaceTokenizer(path)
    raise ConfigError(f"--tokenizer {spec!r}: not tiktoken:NAME and no such file or folder")
