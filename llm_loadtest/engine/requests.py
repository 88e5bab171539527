"""What each request of a run sends, from the workload (docs/cli.md): synthetic prompts of
fixed or drawn lengths, a dataset's conversations, a trace's entries, shared prefixes, and
the sessions of multi-turn chats.

Everything is seeded and decided by the request's number, so a run is repeatable and prompts
can be built before a level starts. A prompt is sent as chat messages (the chat endpoint) or
as their contents joined with nothing between them (completions, Triton): the simulator
counts chat prompts the same way, so a prompt's token count can be checked exactly.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llm_loadtest.engine.prompts import PromptCache, PromptFactory, fit_words
from llm_loadtest.engine.workload_files import Conversation, TraceEntry, read_dataset, read_trace
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ConfigError
from llm_loadtest.model.records import Prompt
from llm_loadtest.model.workload import LengthDist
from llm_loadtest.tokens.tokenizer import Tokenizer

DRAW_BLOCK = 4096  # lengths are drawn this many at a time, each block from a seed of its own
TRACE_BLOCK_TOKENS = 512  # tokens behind one of a Mooncake trace's hash ids


class LengthDraws:
    """Length i of a seeded stream of draws: the same for the same seed, name and i."""

    def __init__(self, dist: LengthDist, seed: int, name: str):
        self.dist = dist
        self._key = [seed & 0xFFFFFFFF, zlib.crc32(name.encode())]
        self._blocks: dict[int, np.ndarray] = {}

    def __call__(self, index: int) -> int:
        if self.dist.kind == "fixed":
            return int(self.dist.a)
        block, at = divmod(index, DRAW_BLOCK)
        draws = self._blocks.get(block)
        if draws is None:
            draws = self._blocks[block] = self.dist.draw(np.random.default_rng([*self._key, block]), DRAW_BLOCK)
        return int(draws[at])


@dataclass(frozen=True, slots=True)
class WorkloadItems:
    """A run's dataset conversations (filtered) and trace entries: read once per process,
    checked against the digests in the configuration."""

    conversations: list[Conversation] | None = None
    trace: list[TraceEntry] | None = None

    @classmethod
    def read(cls, config: RunConfig, tokenizer: Tokenizer) -> WorkloadItems:
        workload = config.workload
        conversations = trace = None
        if workload.dataset is not None:
            conversations = _checked(read_dataset(workload.dataset), workload.dataset_sha256, "--dataset").items
            conversations = _filtered(conversations, tokenizer, workload.dataset_min_input, workload.dataset_max_input)
        if workload.trace is not None:
            trace = _checked(read_trace(workload.trace), workload.trace_sha256, "--trace").items
        return cls(conversations, trace)


class RequestSource(PromptCache):
    """Prompt i of this client process, and the sessions of multi-turn chats.

    `worker` (index, count): with several client processes each takes its own dataset items
    and trace entries (every count-th), and prompt openings stay unique by `namespace`.
    """

    def __init__(
        self,
        config: RunConfig,
        tokenizer: Tokenizer,
        namespace: str,
        worker: tuple[int, int] = (0, 1),
        items: WorkloadItems | None = None,
    ):
        super().__init__()
        workload = config.workload
        self.items = items if items is not None else WorkloadItems.read(config, tokenizer)
        self.tokenizer = tokenizer
        self.seed = config.seed
        self.turns = workload.turns
        self._worker, self._workers = worker
        input_dist, output_dist = workload.lengths()
        self.input_lengths = LengthDraws(input_dist, config.seed, namespace + "input")
        self.output_lengths = LengthDraws(output_dist, config.seed, namespace + "output")
        self._prefix_tokens = workload.shared_prefix or 0
        self._groups = workload.prefix_groups
        self._prefixes: dict[int, str] = {}
        self._blocks: dict[int, list[int]] = {}
        self._conversations = self.items.conversations
        self._trace: list[TraceEntry] | None = None
        self._order: dict[int, np.ndarray] = {}
        lengths: Callable[[int], int] = self.input_lengths
        if self.items.trace is not None:
            self._trace = self.items.trace[self._worker :: self._workers]
            self._trace_origin_ms = self.items.trace[0].timestamp_ms  # every worker keeps the whole trace's clock
            lengths = self._trace_length
        self.synthetic = PromptFactory(tokenizer, config.input_len, config.seed, namespace=namespace, lengths=lengths)

    # ---- single requests ------------------------------------------------------------------

    def prepare(self, count: int, start: int = 0) -> None:
        """Build what requests start..start+count send, before a level's clock starts. A chat's
        turns wait for its answers: only their own user messages can be made beforehand."""
        if self.turns > 1:
            if self._conversations is None:
                self.synthetic.prepare(count, start)
            return
        super().prepare(count, start)

    @property
    def trace_length(self) -> int | None:
        return None if self._trace is None else len(self._trace)

    def arrival_offsets(self, speed: float) -> np.ndarray:
        """Seconds from the level's start at which each of this process's trace entries goes."""
        assert self._trace is not None
        stamps = np.array([e.timestamp_ms for e in self._trace], dtype=float)
        return (stamps - self._trace_origin_ms) / 1000.0 / speed

    def _build(self, index: int) -> Prompt:
        if self._trace is not None:
            entry = self._trace[index % len(self._trace)]
            if entry.conversation is not None:
                return self._compose([entry.conversation.user_turns[0]], [], index, entry.conversation, entry.output_length)
            if entry.hash_ids:
                return self._compose(None, [], index, None, entry.output_length, counted=self._blocks_prompt(entry))
            return self._compose(None, [], index, None, entry.output_length)
        conversation = self._conversation(index)
        turns = None if conversation is None else [conversation.user_turns[0]]
        return self._compose(turns, [], index, conversation, None)

    def _compose(
        self,
        user_turns: list[str] | None,
        answers: list[str],
        index: int,
        conversation: Conversation | None,
        output_len: int | None,
        *,
        group: int | None = None,
        turn: int | None = None,
        counted: Prompt | None = None,
    ) -> Prompt:
        """The prompt of `index`: the system part, then user turns interleaved with the answers
        so far. `user_turns` None: one prompt already counted (`counted`, else a synthetic one
        of a drawn length)."""
        system_parts = []
        if self._prefix_tokens:
            system_parts.append(self._prefix(index if group is None else group))
        if conversation is not None and conversation.system:
            system_parts.append(conversation.system)
        if user_turns is None:
            counted = counted or self.synthetic.get(index)
            user_turns = [counted.text]
        messages: list[dict] = []
        if system_parts:
            messages.append({"role": "system", "content": "".join(system_parts)})
        for i, text in enumerate(user_turns):
            if i:
                messages.append({"role": "assistant", "content": answers[i - 1]})
            messages.append({"role": "user", "content": text})
        text = "".join(m["content"] for m in messages)
        if len(messages) == 1 and counted is not None:  # counted already, where it was made
            input_tokens = counted.input_tokens
        else:
            input_tokens = self.tokenizer.count(text)
        if output_len is None and conversation is not None:
            output_len = conversation.output_len
        return Prompt(
            text=text,
            input_tokens=input_tokens,
            output_len=output_len or self.output_lengths(index),
            messages=tuple(messages) if len(messages) > 1 else None,
            input_len_requested=counted.input_len_requested if counted is not None else input_tokens,
            turn=turn,
        )

    # ---- multi-turn sessions --------------------------------------------------------------

    def session(self, first_index: int) -> Session:
        return Session(self, first_index)

    def _user_turn(self, session_first: int, turn: int, index: int) -> str | None:
        """Turn `turn` (0-based) of the session that began at request `session_first`: its
        conversation's own, else request `index`'s first (dataset) or None (synthetic)."""
        conversation = self._conversation(session_first)
        if conversation is not None and turn < len(conversation.user_turns):
            return conversation.user_turns[turn]
        later = self._conversation(index)
        return None if later is None else later.user_turns[0]

    # ---- pieces ---------------------------------------------------------------------------

    def _conversation(self, index: int) -> Conversation | None:
        """A seeded sample: each pass over the dataset in an order of its own."""
        if self._conversations is None:
            return None
        n = len(self._conversations)
        position = index * self._workers + self._worker
        epoch, at = divmod(position, n)
        order = self._order.get(epoch)
        if order is None:
            order = self._order[epoch] = np.random.default_rng([self.seed & 0xFFFFFFFF, epoch]).permutation(n)
        return self._conversations[int(order[at])]

    def _prefix(self, index: int) -> str:
        """The system prompt of `index`'s group: `shared_prefix` tokens, the last a line break so
        that the tokens after it never merge with it."""
        group = index % self._groups
        text = self._prefixes.get(group)
        if text is None:
            rng = random.Random(f"{self.seed}:prefix:{group}")
            text = self._prefixes[group] = fit_words(self.tokenizer, f"Group {group}:", rng, max(1, self._prefix_tokens - 1)) + "\n"
        return text

    def _trace_length(self, index: int) -> int:
        assert self._trace is not None
        entry = self._trace[index % len(self._trace)]
        return entry.input_length or self.input_lengths(index)

    def _blocks_prompt(self, entry: TraceEntry) -> Prompt:
        """A Mooncake entry's prompt: each hash id's block of tokens in turn, cut to its
        length, so that entries sharing leading ids share their leading tokens."""
        length = entry.input_length or TRACE_BLOCK_TOKENS
        ids: list[int] = []
        for block_id in entry.hash_ids[: -(-length // TRACE_BLOCK_TOKENS)]:
            block = self._blocks.get(block_id)
            if block is None:  # a block's tokens, made once: space-led words never merge across blocks
                rng = random.Random(f"{self.seed}:block:{block_id}")
                block = self._blocks[block_id] = self.tokenizer.encode(fit_words(self.tokenizer, "", rng, TRACE_BLOCK_TOKENS))
            ids += block
        text = self.tokenizer.decode(ids[:length])
        if len(ids) < length:  # fewer ids than the length needs: unique words fill the rest
            rng = random.Random(f"{self.seed}:fill:{entry.timestamp_ms}")
            text += fit_words(self.tokenizer, "", rng, length - len(ids))
            return Prompt(text, self.tokenizer.count(text), input_len_requested=length)
        # whole words of one token each, cut between two: the length it was cut to
        return Prompt(text, length, input_len_requested=length)


class Session:
    """One multi-turn chat: each request carries the conversation so far, answers included."""

    def __init__(self, source: RequestSource, first_index: int):
        self.source = source
        self.first_index = first_index
        self._users: list[str] = []
        self._answers: list[str] = []

    @property
    def done(self) -> bool:
        return len(self._users) >= self.source.turns

    def next_prompt(self, index: int) -> Prompt:
        """The next turn, as request `index`: the conversation's own next user message, else
        request `index`'s prompt (a dataset item's, or a synthetic one of a drawn length)."""
        source = self.source
        turn = len(self._users)
        text = source._user_turn(self.first_index, turn, index)
        self._users.append(text if text is not None else source.synthetic.get(index).text)
        conversation = source._conversation(self.first_index)
        return source._compose(list(self._users), self._answers, index, conversation, None, group=self.first_index, turn=turn + 1)

    def answered(self, text: str) -> None:
        self._answers.append(text)


def _filtered(items: list[Conversation], tokenizer: Tokenizer, low: int | None, high: int | None) -> list[Conversation]:
    """The conversations whose first prompt (system part included) has low..high tokens."""
    if low is None and high is None:
        return items
    kept = [c for c in items if (low or 0) <= tokenizer.count((c.system or "") + c.user_turns[0]) <= (high or float("inf"))]
    if not kept:
        raise ConfigError(
            f"--dataset: no prompt has between {low or 1} and {high or 'any number of'} input tokens "
            f"(of {len(items)}); widen --dataset-min-input / --dataset-max-input"
        )
    return kept


def _checked(file, sha256: str | None, flag: str):
    """The file read now must be the one the run's configuration names."""
    if sha256 is not None and file.sha256 != sha256:
        raise ConfigError(f"{flag} {file.path} changed since the run was configured (SHA-256 differs); start the run again")
    return file
