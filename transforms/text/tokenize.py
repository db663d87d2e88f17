"""TokenizeText: messages to their NLTK tokens, normalised, one list per message."""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.decode import DEAD_LETTER
from transforms.records import KafkaRecord, Message, dead_letter_row
from transforms.text.nltk_resources import (
    NLTK_DATA_MODES,
    CorpusArchive,
    add_search_dirs,
    load_stopwords,
    open_wordnet,
    wordnet_lemmatizer,
)
from transforms.text.normalize import Normalization, is_punctuation, make_normalizer
from transforms.text.tokenizers import make_tokenizer, needs_punkt, punkt_parameters

__all__ = ["TokenizeText", "TokenizedMessage", "is_punctuation", "TOKENS", "TOKENIZER_DEAD_LETTERS"]

# Counters (namespace, name), for whoever reads the job's metrics.
TOKENS = ("TokenizeText", "tokens")
TOKENIZER_DEAD_LETTERS = ("TokenizeText", "dead_letters")

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


# At most this many characters are tokenized per message (0.5 s of Punkt at its worst, measured
# on 20,000 characters of ". "); longer messages become dead letters, and the output one
# huge token can cause is bounded by it too.
DEFAULT_MAX_CHARS = 20_000


class _TokenizeFn(beam.DoFn):
    """Message -> TokenizedMessage(key, normalised tokens); a message NLTK fails on -> dead letter."""

    def __init__(
        self,
        tokenizer: str,
        tokenizer_options: dict,
        normalization: Normalization,
        wordnet: Optional[CorpusArchive],
        nltk_data_path: tuple,
        max_chars: int = DEFAULT_MAX_CHARS,
    ):
        self._max_chars = max_chars
        self._tokenizer_name = tokenizer
        self._tokenizer_options = tokenizer_options
        self._normalization = normalization
        self._wordnet = wordnet
        self._nltk_data_path = nltk_data_path
        self._tokens = Metrics.counter(*TOKENS)
        self._failures = Metrics.counter(*TOKENIZER_DEAD_LETTERS)

    def setup(self):
        # Loading Punkt and WordNet and compiling NLTK's patterns is the expensive part: once per worker.
        add_search_dirs(self._nltk_data_path)
        self._tokenize = make_tokenizer(self._tokenizer_name, **self._tokenizer_options)
        lemmatizer = None
        if self._normalization.lemmatize:
            reader = open_wordnet(self._wordnet.unpack() if self._wordnet else None)
            lemmatizer = wordnet_lemmatizer(reader, self._normalization.lemma_pos)
        self._normalize = make_normalizer(self._normalization, lemmatizer)
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
        yield TokenizedMessage(message.key, tuple(tokens), message.topic, message.partition, message.offset)

    def _dead_letter(self, message: Message, reason: str):
        self._failures.inc()
        record = KafkaRecord(
            message.topic, message.partition, message.offset, -1, None, message.text.encode("utf-8", "surrogatepass")
        )
        return beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter_row(record, reason[:500]))


class TokenizeText(beam.PTransform):
    """Tokenizes Messages with an NLTK tokenizer, then normalises the tokens.

    The tokenizer options are those of `transforms.text.tokenizers.make_tokenizer`
    (`language`, `punkt`, `preserve_line`, `pattern`, `gaps`, `strip_handles`,
    `reduce_len`, `engine`: `fast` runs NLTK's fixed patterns on `re` where the
    tokens are proven identical, `guarded` is stock NLTK); the normalisation options those of
    `transforms.text.normalize.Normalization`, with `stopwords` given as an NLTK list
    name, `file:PATH` or a list of words.

    With `nltk_data="ship"` the NLTK data the options need is read here, where
    the pipeline is built (a missing resource raises MissingNltkData now, not on
    a worker), and travels inside the job; with `"workers"` each worker reads
    its own. `nltk_data_path` directories are searched first, here and on workers.

    Returns a DoOutputsTuple: TokenizedMessages (`tokens`) and `dead_letter` rows.
    """

    def __init__(
        self,
        tokenizer: str = "word",
        *,
        lowercase: bool = True,
        drop_punctuation: bool = True,
        casefold: bool = False,
        nfkc: bool = False,
        drop_numbers: bool = False,
        min_length: int = 1,
        stopwords=None,
        stem: Optional[str] = None,
        stem_language: Optional[str] = None,
        lemmatize: Optional[str] = None,
        lemma_pos: str = "n",
        ngrams: int = 1,
        nltk_data: str = "ship",
        nltk_data_path: Sequence[str] = (),
        max_chars: int = None,
        **tokenizer_options,
    ):
        super().__init__()
        if nltk_data not in NLTK_DATA_MODES:
            raise ValueError(f"nltk_data must be one of {', '.join(NLTK_DATA_MODES)}, got {nltk_data!r}")
        nltk_data_path = (nltk_data_path,) if isinstance(nltk_data_path, str) else tuple(nltk_data_path)
        add_search_dirs(nltk_data_path)
        ship = nltk_data == "ship"
        options = dict(tokenizer_options)
        if ship and needs_punkt(tokenizer, options.get("preserve_line", False)):
            parameters = punkt_parameters(options.get("language", "english"), options.get("punkt", "auto"))
            options.update(punkt="untrained" if parameters is None else "installed", punkt_parameters=parameters)
        # Fails here, not on a worker; a worker loads its own Punkt in `workers` mode.
        make_tokenizer(tokenizer, **(options if ship else {**options, "punkt": "untrained"}))
        normalization = Normalization(
            nfkc=nfkc,
            lowercase=lowercase,
            casefold=casefold,
            drop_punctuation=drop_punctuation,
            drop_numbers=drop_numbers,
            min_length=min_length,
            stopwords=load_stopwords(stopwords),
            stem=stem,
            stem_language=stem_language or options.get("language", "english"),
            lemmatize=lemmatize,
            lemma_pos=lemma_pos,
            ngrams=ngrams,
        )
        wordnet = None
        if lemmatize and ship:
            wordnet = CorpusArchive.pack("corpora/wordnet", "wordnet", "or use tokenize.stem instead of lemmatize")
        self._fn = _TokenizeFn(
            tokenizer,
            options,
            normalization,
            wordnet,
            nltk_data_path,
            DEFAULT_MAX_CHARS if max_chars is None else max_chars,
        )

    def expand(self, messages):
        return messages | "Tokenize" >> beam.ParDo(self._fn).with_outputs(DEAD_LETTER, main="tokens")
