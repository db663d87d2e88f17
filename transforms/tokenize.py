"""TokenizeText: messages to their NLTK tokens, normalised, one list per message."""

from __future__ import annotations

import string
import unicodedata
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.decode import DEAD_LETTER
from transforms.records import KafkaRecord, Message, dead_letter_row
from transforms.tokenizers import make_tokenizer

__all__ = ["TokenizeText", "TokenizedMessage", "is_punctuation"]

_ASCII_PUNCTUATION = frozenset(string.punctuation)


class TokenizedMessage(NamedTuple):
    """The tokens of one message, kept together so that they cross a shuffle as one."""

    key: Optional[str]
    tokens: tuple


def is_punctuation(token: str) -> bool:
    """True for a token made only of punctuation (Unicode P* or ASCII punctuation)."""
    return all(ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P") for ch in token)


class _TokenizeFn(beam.DoFn):
    """Message -> TokenizedMessage; a message the tokenizer rejects -> dead letter."""

    def __init__(self, tokenizer: str, tokenizer_options: dict, lowercase: bool, drop_punctuation: bool):
        self._tokenizer_name = tokenizer
        self._tokenizer_options = tokenizer_options
        self._lowercase = lowercase
        self._drop_punctuation = drop_punctuation
        self._tokens = Metrics.counter("TokenizeText", "tokens")
        self._failures = Metrics.counter("TokenizeText", "dead_letters")

    def setup(self):
        # Loading Punkt and compiling NLTK's patterns is the expensive part: once per worker.
        self._tokenize = make_tokenizer(self._tokenizer_name, **self._tokenizer_options)

    def process(self, message: Message):
        try:
            tokens = self._tokenize(message.text)
        except (TimeoutError, RecursionError, ValueError) as e:
            # NLTK's ReDoS guard raises TimeoutError: the message is set aside, the stream goes on.
            self._failures.inc()
            record = KafkaRecord(message.topic, message.partition, message.offset, -1,
                                 None, message.text.encode("utf-8"))
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter_row(record, f"tokenizer failed: {e!r}"[:500]))
            return
        if self._lowercase:
            tokens = [token.lower() for token in tokens]
        if self._drop_punctuation:
            tokens = [token for token in tokens if not is_punctuation(token)]
        self._tokens.inc(len(tokens))
        yield TokenizedMessage(message.key, tuple(tokens))


class TokenizeText(beam.PTransform):
    """Tokenizes Messages with an NLTK tokenizer, then lowercases and drops punctuation.

    Returns a DoOutputsTuple: TokenizedMessages (main) and `dead_letter` rows.
    """

    def __init__(self, tokenizer: str = "word", *, lowercase: bool = True, drop_punctuation: bool = True,
                 **tokenizer_options):
        super().__init__()
        make_tokenizer(tokenizer, **tokenizer_options)  # fail at construction, not on a worker
        self._fn = _TokenizeFn(tokenizer, tokenizer_options, lowercase, drop_punctuation)

    def expand(self, messages):
        return messages | "Tokenize" >> beam.ParDo(self._fn).with_outputs(DEAD_LETTER, main="tokens")
