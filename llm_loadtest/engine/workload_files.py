"""Reading `--dataset` and `--trace` files, offline, into plain items.

Formats (docs/cli.md):
- JSONL, one object a line: `prompt` (a string) or `messages` (OpenAI chat messages), with
  optional `output_len` (max_tokens for it) and `timestamp` (arrival, in milliseconds).
- ShareGPT JSON: a list of objects with `conversations`, each `{"from": human|gpt|system, "value"}`.
- A text file: one prompt a line (blank lines skipped).
- A trace (JSONL): `timestamp` (ms) on every line, and either a prompt as above or
  `input_length` (tokens), with `output_length` and optional `hash_ids` (the Mooncake traces'
  prefix blocks, 512 tokens each).

A bad file gives one ConfigError naming the file, the line (or item) and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ConfigError

_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "system": "system"}
MAX_ERROR_LINE = 80


@dataclass(frozen=True, slots=True)
class Conversation:
    """One dataset item: an optional system prompt, the user turns in order, the dataset's own
    replies (only their lengths are ever used: a real answer replaces them), and what the file
    asks of the output."""

    user_turns: tuple[str, ...]
    system: str | None = None
    replies: tuple[str, ...] = ()
    output_len: int | None = None
    timestamp_ms: float | None = None


@dataclass(frozen=True, slots=True)
class TraceEntry:
    timestamp_ms: float
    input_length: int | None = None  # None when the entry carries its own prompt
    output_length: int | None = None
    hash_ids: tuple[int, ...] = ()
    conversation: Conversation | None = None


@dataclass(frozen=True, slots=True)
class WorkloadFile:
    path: str
    sha256: str
    items: list = field(default_factory=list)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_dataset(path: str | Path) -> WorkloadFile:
    """The conversations of a dataset file, in file order; ConfigError naming the dataset."""
    try:
        return _dataset(path)
    except ConfigError as exc:
        raise ConfigError(exc.reason, field="dataset") from None


def read_trace(path: str | Path) -> WorkloadFile:
    """A trace's entries, sorted by arrival; ConfigError naming the trace."""
    try:
        return _trace(path)
    except ConfigError as exc:
        raise ConfigError(exc.reason, field="trace") from None


def _dataset(path: str | Path) -> WorkloadFile:
    text, sha = _read(path)
    name = Path(path).name
    stripped = text.lstrip()
    if stripped.startswith("["):
        items = _sharegpt(text, name)
    elif stripped.startswith("{"):
        items = [_conversation(obj, name, number) for number, obj in _jsonl(text, name)]
    else:
        items = [Conversation(user_turns=(line.strip(),)) for line in text.splitlines() if line.strip()]
    if not items:
        raise ConfigError(f"{name}: no prompt in the file")
    return WorkloadFile(str(path), sha, items)


def _trace(path: str | Path) -> WorkloadFile:
    text, sha = _read(path)
    name = Path(path).name
    entries = [_trace_entry(obj, name, number) for number, obj in _jsonl(text, name)]
    if not entries:
        raise ConfigError(f"{name}: no entry in the file")
    entries.sort(key=lambda e: e.timestamp_ms)
    return WorkloadFile(str(path), sha, entries)


def trace_rate(entries: list[TraceEntry], speed: float) -> float:
    """Requests per second the replay offers: the trace's count over its span, times the speed."""
    span_s = (entries[-1].timestamp_ms - entries[0].timestamp_ms) / 1000 / speed
    return len(entries) / span_s if span_s > 0 else float(len(entries))


def _read(path: str | Path) -> tuple[str, str]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{Path(path).name} line {line}: not UTF-8 text") from None
    return text, hashlib.sha256(raw).hexdigest()


def _jsonl(text: str, name: str):
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _not_json(name, number, exc) from None
        if not isinstance(obj, dict):
            raise ConfigError(f"{name} line {number}: expected a JSON object, got {_shown(line)}")
        yield number, obj


def _conversation(obj: dict, name: str, number: int, where: str = "line") -> Conversation:
    at = f"{name} {where} {number}"
    output_len = _positive_int(obj, "output_len", at)
    timestamp = _number(obj, "timestamp", at)
    if "prompt" in obj:
        prompt = obj["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError(f"{at}: `prompt` must be a non-empty string")
        return Conversation(user_turns=(prompt,), output_len=output_len, timestamp_ms=timestamp)
    if "messages" in obj:
        return _from_messages(obj["messages"], at, "role", "content", output_len, timestamp)
    if "conversations" in obj:
        return _from_messages(obj["conversations"], at, "from", "value", output_len, timestamp)
    raise ConfigError(f"{at}: needs `prompt` (a string) or `messages` (a list of chat messages)")


def _from_messages(messages, at: str, role_key: str, text_key: str, output_len: int | None, timestamp: float | None) -> Conversation:
    if not isinstance(messages, list) or not messages:
        raise ConfigError(f"{at}: the messages must be a non-empty list")
    system: list[str] = []
    users: list[str] = []
    replies: list[str] = []
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise ConfigError(f"{at}: message {i} is not an object")
        role = _ROLES.get(str(message.get(role_key, "")).lower())
        content = message.get(text_key)
        if role is None:
            raise ConfigError(f"{at}: message {i} has `{role_key}` {message.get(role_key)!r}; expected user, assistant or system")
        if not isinstance(content, str):
            raise ConfigError(f"{at}: message {i} needs `{text_key}` as a string")
        {"system": system, "user": users, "assistant": replies}[role].append(content)
    if not users:
        raise ConfigError(f"{at}: no user message")
    return Conversation(
        user_turns=tuple(users),
        system="\n".join(system) or None,
        replies=tuple(replies),
        output_len=output_len,
        timestamp_ms=timestamp,
    )


def _sharegpt(text: str, name: str) -> list[Conversation]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _not_json(name, exc.lineno, exc) from None
    if not isinstance(data, list):
        raise ConfigError(f"{name}: expected a list of conversations (the ShareGPT layout)")
    items = []
    for number, obj in enumerate(data, 1):
        if not isinstance(obj, dict):
            raise ConfigError(f"{name} item {number}: expected an object with `conversations`")
        items.append(_conversation(obj, name, number, where="item"))
    return items


def _trace_entry(obj: dict, name: str, number: int) -> TraceEntry:
    at = f"{name} line {number}"
    timestamp = _number(obj, "timestamp", at)
    if timestamp is None:
        raise ConfigError(f"{at}: needs `timestamp` (arrival in milliseconds)")
    if "prompt" in obj or "messages" in obj or "conversations" in obj:
        conversation = _conversation(obj, name, number)
        return TraceEntry(timestamp, output_length=conversation.output_len, conversation=conversation)
    input_length = _positive_int(obj, "input_length", at) or _positive_int(obj, "input_len", at)
    if input_length is None:
        raise ConfigError(f"{at}: needs `input_length` (tokens) or a `prompt`")
    output_length = _positive_int(obj, "output_length", at) or _positive_int(obj, "output_len", at)
    hash_ids = obj.get("hash_ids", [])
    if not isinstance(hash_ids, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in hash_ids):
        raise ConfigError(f"{at}: `hash_ids` must be a list of integers")
    return TraceEntry(timestamp, input_length, output_length, tuple(hash_ids))


def _positive_int(obj: dict, key: str, at: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{at}: `{key}` must be a positive integer (got {value!r})")
    return value


def _number(obj: dict, key: str, at: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{at}: `{key}` must be a number of 0 or more (got {value!r})")
    return float(value)


def _not_json(name: str, line: int, exc: json.JSONDecodeError) -> ConfigError:
    return ConfigError(f"{name} line {line}: not valid JSON ({exc.msg} at column {exc.colno})")


def _shown(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_ERROR_LINE else line[:MAX_ERROR_LINE] + "..."


def resolve_config(config: RunConfig) -> RunConfig:
    """The configuration with its workload's files read and checked, their SHA-256 and a
    trace's pace filled in (a trace replays all its entries unless --duration cuts it).
    Called before a run starts, so that a bad file costs no run (exit 2)."""
    workload = config.workload
    update: dict = {}
    counted: dict = {}
    if workload.dataset is not None:
        update["dataset_sha256"] = read_dataset(workload.dataset).sha256
    if workload.trace is not None:
        trace = read_trace(workload.trace)
        update["trace_sha256"] = trace.sha256
        update["trace_rate"] = trace_rate(trace.items, workload.trace_speed)
        if config.duration is None:
            counted["num_prompts"] = len(trace.items)
    if not update:
        return config
    values = config.model_dump()
    values.update(counted, workload={**workload.model_dump(), **update})
    return RunConfig.model_validate(values)
