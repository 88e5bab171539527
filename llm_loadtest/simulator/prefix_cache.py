"""A prefix cache as vLLM keeps one: prompts cut into blocks of `BLOCK_TOKENS`, each block
known by the hash of itself and every block before it, so a hit is always a shared start.

Cached tokens skip the prefill cost, and /metrics counts queries and hits under vLLM's names
(what telemetry turns into the server's prefix-cache hit rate). The chunk log carries the
first blocks' hashes, so a test can check which requests really began alike.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

BLOCK_TOKENS = 16
MAX_BLOCKS = 65_536  # least recently used blocks are evicted past this
LOGGED_BLOCKS = 32  # the chunk log carries the hashes of a prompt's first blocks only


class PrefixCache:
    def __init__(self, max_blocks: int = MAX_BLOCKS):
        self._blocks: OrderedDict[str, None] = OrderedDict()
        self._max_blocks = max_blocks

    def lookup(self, ids: list[int]) -> tuple[int, list[str]]:
        """Tokens of `ids` found cached (whole leading blocks), and every full block's hash;
        the blocks are cached from now on."""
        hashes = block_hashes(ids)
        cached = 0
        for h in hashes:
            if h not in self._blocks:
                break
            cached += BLOCK_TOKENS
        for h in hashes:
            self._blocks[h] = None
            self._blocks.move_to_end(h)
        while len(self._blocks) > self._max_blocks:
            self._blocks.popitem(last=False)
        return cached, hashes


def block_hashes(ids: list[int]) -> list[str]:
    """The chained hash of each full block of `ids`, 16 hex digits each."""
    hashes = []
    previous = b""
    for start in range(0, len(ids) - BLOCK_TOKENS + 1, BLOCK_TOKENS):
        block = ",".join(map(str, ids[start : start + BLOCK_TOKENS])).encode()
        previous = hashlib.blake2b(previous + b"|" + block, digest_size=8).digest()
        hashes.append(previous.hex())
    return hashes
