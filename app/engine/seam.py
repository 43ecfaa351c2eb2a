"""Joining a continuation to the partial answer it continues, without repeating text.

Asked to go on from a partial answer, a model often starts by repeating the last words it
already sent. ``SeamJoiner`` holds back the start of the continuation until it can tell,
then drops the longest overlap between the end of the partial and the start of the
continuation. Pure: text in, text out.
"""

from __future__ import annotations

MAX_OVERLAP_CHARS = 200
MIN_OVERLAP_CHARS = 4  # shorter echoes ("a ", "the") are too likely to be real text


def overlap_chars(prefix: str, continuation: str, max_chars: int = MAX_OVERLAP_CHARS) -> int:
    """Length of the longest suffix of ``prefix`` that ``continuation`` starts with."""
    for size in range(min(len(prefix), len(continuation), max_chars), MIN_OVERLAP_CHARS - 1, -1):
        if continuation.startswith(prefix[-size:]):
            return size
    return 0


class SeamJoiner:
    def __init__(self, prefix: str, max_chars: int = MAX_OVERLAP_CHARS) -> None:
        self._tail = prefix[-max_chars:]
        self._held: list[str] = []
        self._held_chars = 0
        self._decided = not prefix
        self.removed_chars = 0

    def feed(self, text: str) -> str:
        """The part of ``text`` that can be shown now."""
        if self._decided:
            return text
        self._held.append(text)
        self._held_chars += len(text)
        if self._held_chars < len(self._tail):
            return ""
        return self._release()

    def flush(self) -> str:
        """At the end of the continuation: whatever is still held back."""
        return "" if self._decided else self._release()

    def _release(self) -> str:
        held = "".join(self._held)
        self._held, self._decided = [], True
        self.removed_chars = overlap_chars(self._tail, held)
        return held[self.removed_chars :]
