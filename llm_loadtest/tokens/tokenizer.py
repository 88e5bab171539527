"""Tokenizers that work with no network at all.

`tiktoken:cl100k_base` (the default) loads the encoding file shipped in this package, checked
against tiktoken's published SHA-256; tiktoken itself would download it on first use.
A path to a Hugging Face `tokenizer.json` (or a folder holding one) uses the `tokenizers`
package (`pip install llm-loadtest[hf]`).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
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

        if name not in _SHIPPED:
            raise ConfigError(f"tokenizer tiktoken:{name} is not shipped; use tiktoken:cl100k_base or a tokenizer.json path")
        filename, sha256 = _SHIPPED[name]
        ranks = _shipped_ranks(Path(__file__).with_name(filename), sha256)
        self.name = f"tiktoken:{name}"
        self._encoding = tiktoken.Encoding(name=name, pat_str=_CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=_CL100K_SPECIAL)

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        return self._encoding.decode(ids)

    def count(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))


def _shipped_ranks(path: Path, sha256: str) -> dict[bytes, int]:
    """The token -> rank table of a `.tiktoken` file ("BASE64 RANK" a line), checked against its
    published hash. What tiktoken.load.load_tiktoken_bpe gives, in a quarter of its CPU (the
    engine process loads it at every start), and without its copy of the file in the temp
    folder. The published files rank their lines 0, 1, 2, ... and the hash holds them to it,
    so the ranks are counted, not parsed (parsing them was a third of the cost)."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ConfigError(f"{path} is not the published {path.stem} encoding (its SHA-256 differs); reinstall llm-loadtest")
    fields = data.split()
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), range(len(fields) // 2)))


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
