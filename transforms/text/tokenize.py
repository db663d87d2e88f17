"""TokenizeText: messages to their NLTK tokens, normalised, one list per message."""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.decode import DEAD_LETTER
from transforms.records import KafkaRecord, Message, dead_letter_row
from transforms.spec import build
from transforms.text.nltk_resources import (
    CorpusArchive,
    add_search_dirs,
    load_stopwords,
    open_wordnet,
    wordnet_lemmatizer,
)
from transforms.text.normalize import is_punctuation, make_normalizer
from transforms.text.spec import TokenizeSpec
from transforms.text.tokenizers import make_tokenizer, needs_punkt, punkt_parameters

__all__ = [
    "TokenizeSpec",
    "TokenizeText",
    "TokenizedMessage",
    "is_punctuation",
    "TOKENS",
    "TOKENIZER_DEAD_LETTERS",
    "TOKENIZER_DEAD_LETTER_WINDOWS",
]

# Counters (namespace, name), for whoever reads the job's metrics.
TOKENS = ("TokenizeText", "tokens")
TOKENIZER_DEAD_LETTERS = ("TokenizeText", "dead_letters")
# The open windows of those messages (the account of windows: pipeline/metrics_report.py).
TOKENIZER_DEAD_LETTER_WINDOWS = ("TokenizeText", "dead_letter_windows")

# Tokenizing this once in setup() compiles the patterns NLTK compiles lazily.
_WARM_UP_TEXT = "Warm up: Dr. Smith's 2 cats. @beam :-)"


class TokenizedMessage(NamedTuple):
    """The tokens of one message, kept together so that they cross a shuffle as one.

    `topic`, `partition` and `offset` say where the message came from, so that
    its offset can be committed once its panes are written; `windows` is how many
    windows it belongs to (more than one for sliding windows; see WindowTokens).
    """

    key: Optional[str]
    tokens: tuple
    topic: Optional[str] = None
    partition: Optional[int] = None
    offset: Optional[int] = None
    windows: int = 1
    late_windows: int = 0


class _TokenizeFn(beam.DoFn):
    """Message -> TokenizedMessage(key, normalised tokens); a message NLTK fails on -> dead letter."""

    def __init__(
        self, spec: TokenizeSpec, tokenizer_options: dict, stopwords: frozenset, wordnet: Optional[CorpusArchive]
    ):
        self._spec = spec
        self._max_chars = spec.max_chars
        self._tokenizer_options = tokenizer_options
        self._stopwords = stopwords
        self._wordnet = wordnet
        self._tokens = Metrics.counter(*TOKENS)
        self._failures = Metrics.counter(*TOKENIZER_DEAD_LETTERS)
        self._failed_windows = Metrics.counter(*TOKENIZER_DEAD_LETTER_WINDOWS)

    def setup(self):
        # Loading Punkt and WordNet and compiling NLTK's patterns is the expensive part: once per worker.
        spec = self._spec
        add_search_dirs(spec.nltk_data_path)
        self._tokenize = make_tokenizer(spec.tokenizer, **self._tokenizer_options)
        lemmatizer = None
        if spec.lemmatize:
            reader = open_wordnet(self._wordnet.unpack() if self._wordnet else None)
            lemmatizer = wordnet_lemmatizer(reader, spec.lemma_pos)
        self._normalize = make_normalizer(spec, self._stopwords, lemmatizer)
        try:
            self._tokenize(_WARM_UP_TEXT)
        except Exception:  # a pattern that fails here fails per message, as a dead letter
            pass

    def process(self, message: Message):
        if len(message.text) > self._max_chars:
            # The CPU budget of one message: NLTK's Punkt alone spends seconds on a few hundred kilobytes.
            yield self._dead_letter(
                message,
                f"message too long to tokenize: {len(message.text):,} characters "
                f"(tokenize.max_chars {self._max_chars:,})",
            )
            return
        try:
            tokens = self._tokenize(message.text)
        except Exception as e:
            # NLTK's ReDoS guard raises TimeoutError: the message is set aside, the stream goes on.
            yield self._dead_letter(message, f"tokenizer failed: {e!r}")
            return
        try:
            tokens = self._normalize(tokens)
        except Exception as e:
            yield self._dead_letter(message, f"normalisation failed: {e!r}")
            return
        self._tokens.inc(len(tokens))
        yield TokenizedMessage(
            message.key,
            tuple(tokens),
            message.topic,
            message.partition,
            message.offset,
            message.windows,
            message.late_windows,
        )

    def _dead_letter(self, message: Message, reason: str):
        self._failures.inc()
        self._failed_windows.inc(message.windows)
        record = KafkaRecord(
            message.topic, message.partition, message.offset, -1, None, message.text.encode("utf-8", "surrogatepass")
        )
        return beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter_row(record, reason[:500]))


class TokenizeText(beam.PTransform):
    """Tokenizes Messages with an NLTK tokenizer, then normalises the tokens, as a TokenizeSpec says.

    Takes a TokenizeSpec, or its fields: TokenizeText("word", lowercase=False).

    With `nltk_data="ship"` the NLTK data the spec needs is read here, where
    the pipeline is built (a missing resource raises MissingNltkData now, not on
    a worker), and travels inside the job; with `"workers"` each worker reads
    its own. `nltk_data_path` directories are searched first, here and on workers.

    Returns a DoOutputsTuple: TokenizedMessages (`tokens`) and `dead_letter` rows.
    """

    def __init__(self, spec: Union[TokenizeSpec, str, None] = None, **fields):
        super().__init__()
        if not isinstance(spec, TokenizeSpec):
            spec = build(TokenizeSpec, **({"tokenizer": spec} if spec else {}), **fields)
        add_search_dirs(spec.nltk_data_path)
        ship = spec.nltk_data == "ship"
        options = spec.tokenizer_options()
        if ship and needs_punkt(spec.tokenizer, spec.preserve_line):
            parameters = punkt_parameters(spec.language, spec.punkt)
            options.update(punkt="untrained" if parameters is None else "installed", punkt_parameters=parameters)
        # Fails here, not on a worker; a worker loads its own Punkt in `workers` mode.
        make_tokenizer(spec.tokenizer, **(options if ship else {**options, "punkt": "untrained"}))
        wordnet = None
        if spec.lemmatize and ship:
            wordnet = CorpusArchive.pack("corpora/wordnet", "wordnet", "or use tokenize.stem instead of lemmatize")
        self._fn = _TokenizeFn(spec, options, load_stopwords(spec.stopwords), wordnet)

    def expand(self, messages):
        return messages | "Tokenize" >> beam.ParDo(self._fn).with_outputs(DEAD_LETTER, main="tokens")
