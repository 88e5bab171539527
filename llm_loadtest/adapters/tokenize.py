"""The server's own token count, for OpenAI-compatible servers that send no usage.

Each server we name has its own tokenize endpoint, or none:

| server | request | answer |
|---|---|---|
| vLLM, SGLang | `POST /tokenize {"model", "prompt", "add_special_tokens": false}` | `{"count", "tokens"}` |
| llama.cpp's llama-server | `POST /tokenize {"content", "add_special": false}` | `{"tokens": [...]}` |
| llama-cpp-python | `POST /extras/tokenize/count {"input", "model"}` (or `/extras/tokenize`) | `{"count"}` (`{"tokens"}`) |
| LMDeploy | `POST /v1/encode {"input", "do_preprocess": false, "add_bos": false}` | `{"input_ids", "length"}` |
| Ollama | none | |

They are tried in that order on the first text; the first that gives a believable count is
kept for the rest of the run, and when none does, none is asked again. Some add special
tokens whatever they are told (llama-cpp-python adds BOS): the count of an empty text is
taken once and subtracted. A count is believable when it is at least 1 and at most the
text's UTF-8 bytes (a token is at least one byte); llama-server, for one, answers a body it
cannot read with `{"tokens": []}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from llm_loadtest.model.errors import ServerUnreachable


@dataclass(frozen=True, slots=True)
class TokenizeForm:
    server: str  # who speaks it, for the result
    path: str
    body: Callable[[str, str], dict]  # (text, model) -> request body

    @property
    def description(self) -> str:
        return f"{self.server}: POST {self.path}"


FORMS = (
    TokenizeForm("vLLM, SGLang", "/tokenize", lambda text, model: {"model": model, "prompt": text, "add_special_tokens": False}),
    TokenizeForm("llama.cpp llama-server", "/tokenize", lambda text, model: {"content": text, "add_special": False}),
    TokenizeForm("llama-cpp-python", "/extras/tokenize/count", lambda text, model: {"input": text, "model": model}),
    TokenizeForm("llama-cpp-python", "/extras/tokenize", lambda text, model: {"input": text, "model": model}),
    TokenizeForm("LMDeploy", "/v1/encode", lambda text, model: {"input": text, "do_preprocess": False, "add_bos": False}),
)

# POST path body -> (status, body text)
Post = Callable[[str, dict], Awaitable[tuple[int, str]]]


class ServerTokenizer:
    """Finds the server's tokenize form once and counts with it."""

    def __init__(self, forms: tuple[TokenizeForm, ...] = FORMS):
        self._forms = forms
        self.form: TokenizeForm | None = None
        self._extra = 0  # special tokens the form adds to every text
        self._searched = False

    async def count(self, post: Post, text: str, model: str) -> int | None:
        """The server's count of `text`; None when it has no tokenize endpoint we know."""
        if self.form is not None:
            count = await _ask(post, self.form, text, model)
            return None if count is None else count - self._extra
        if self._searched:
            return None
        self._searched = True
        for form in self._forms:
            count = await _ask(post, form, text, model)
            extra = (await _ask(post, form, "", model) or 0) if count is not None else 0
            if count is not None and 1 <= count - extra <= len(text.encode()):
                self.form, self._extra = form, extra
                return count - extra
        return None


async def _ask(post: Post, form: TokenizeForm, text: str, model: str) -> int | None:
    try:
        status, body = await post(form.path, form.body(text, model))
        data = json.loads(body) if status == 200 else None
    except (ServerUnreachable, ValueError):
        return None
    return token_count(data)


def token_count(data: object) -> int | None:
    """`count` or `length`, else the length of `tokens` or `input_ids`."""
    if not isinstance(data, dict):
        return None
    for key in ("count", "length"):
        if isinstance(data.get(key), int) and not isinstance(data[key], bool):
            return data[key]
    for key in ("tokens", "input_ids"):
        if isinstance(data.get(key), list):
            return len(data[key])
    return None
