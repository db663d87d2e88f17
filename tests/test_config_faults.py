"""The config faults table: each fault is one line naming the file and the key, before any job starts.

Every row goes through load_config, the one entry point of `validate` and `run`;
a handful also go through the real CLI (`python -m pipeline validate`), which must
exit 2 with exactly that line on stderr and no traceback. `FILE` stands for the
config file the row uses, `DIR` for a scratch directory. The NLTK rows see a
fixed NLTK data directory: an `english` Punkt model and the test stopword lists.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config
from tests.integration_helpers import DIRECT_CONFIG, REPO, run_cli
from tests.nltk_data_helpers import write_stopwords

DEEP_BLOCK = ("a:\n" + "".join("  " * i + "k:\n" for i in range(1, 5000))).encode()
DEEP_FLOW = ("a: " + "[" * 5000 + "]" * 5000 + "\n").encode()
# Seven levels of ten aliases each: 10**8 values once expanded, from eight short lines.
BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh"))
).encode()

# (what, the config: file bytes or --set overrides of run_configs/direct.yaml, the expected line)
FAULTS = [
    (
        "latin-1 file",
        b"runner: DirectRunner\n# caf\xe9\n",
        "FILE: (file): not UTF-8 text: byte 0xe9 at line 2 (invalid continuation byte); save the file as UTF-8",
    ),
    (
        "utf-16 file",
        b"\xff\xfer\x00u\x00n\x00n\x00e\x00r\x00:\x00 \x00D\x00i\x00r\x00e\x00c\x00t\x00R\x00u\x00n\x00n\x00e\x00r\x00\n\x00",
        "FILE: (file): not UTF-8 text: byte 0xff at line 1 (invalid start byte); save the file as UTF-8",
    ),
    (
        "5000-deep block YAML",
        DEEP_BLOCK,
        "FILE: a.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k....: nested deeper than 50 levels at line 50",
    ),
    (
        "5000-deep flow YAML",
        DEEP_FLOW,
        "FILE: a[0][0][0][0][0][0][0][0][0][0][0][0][0]...: nested deeper than 50 levels at line 1",
    ),
    ("alias bomb", BOMB, "FILE: e[7][8][8][8][9]: more than 100000 values (YAML aliases nested in aliases?)"),
    (
        "duplicate top-level key",
        b"runner: DirectRunner\ncount: {top_k: 3}\nrunner: PrismRunner\n",
        "FILE: runner: duplicate key at line 3 (first at line 1): remove one of them",
    ),
    (
        "duplicate nested key",
        b"source:\n  group_id: a\n  topics: [x]\n  group_id: b\n",
        "FILE: source.group_id: duplicate key at line 4 (first at line 2): remove one of them",
    ),
    (
        "duplicate flow key",
        b"window: {size: 10s, size: 20s}\n",
        "FILE: window.size: duplicate key at line 1 (first at line 1): remove one of them",
    ),
    (
        "duplicate client setting",
        b"source:\n  consumer_config:\n    client.id: a\n    client.id: b\n",
        "FILE: source.consumer_config.client.id: duplicate key at line 4 (first at line 3): remove one of them",
    ),
    (
        "YAML syntax error",
        b"window: {size: 10s\ncount: 3\n",
        "FILE: not valid YAML at line 2: expected ',' or '}', but got ':'",
    ),
    (
        "NUL byte",
        b"runner: Direct\x00Runner\n",
        "FILE: not valid YAML at line 1: character #x0000 is not allowed (control characters must be escaped in a double-quoted string)",
    ),
    ("top level is a list", b"- runner\n", "FILE: (top level): expected a mapping of settings"),
    ("top level is a string", b"just text\n", "FILE: (top level): expected a mapping of settings"),
    ("extends a missing file", b"extends: nowhere.yaml\n", "FILE: extends: DIR/nowhere.yaml is not a file"),
    ("extends is not a name", b"extends: [a, b]\n", "FILE: extends: expected a file name, got ['a', 'b']"),
    (
        "unset env in a file",
        b"source: {bootstrap_servers: '${FAULTS_UNSET_HOST}:9092'}\n",
        "FILE: source.bootstrap_servers: environment variable FAULTS_UNSET_HOST is not set",
    ),
    (
        "unset env in sink path",
        b"sink: {type: jsonl, path: '${FAULTS_UNSET_X}'}\n",
        "FILE: sink.path: environment variable FAULTS_UNSET_X is not set",
    ),
    (
        "unterminated ${",
        b"sink: {type: jsonl, path: '/tmp/${X'}\n",
        "FILE: sink.path: '${' starts no ${NAME} reference (write $${ for a literal ${)",
    ),
    (
        "unset env in producer_config",
        b"sink: {type: kafka, topic: t, producer_config: {sasl.password: '${FAULTS_UNSET_PW}'}}\n",
        "FILE: sink.producer_config.sasl.password: environment variable FAULTS_UNSET_PW is not set",
    ),
    (
        "unset env in options",
        b"options: {project: '${FAULTS_UNSET_PROJECT}'}\n",
        "FILE: options.project: environment variable FAULTS_UNSET_PROJECT is not set",
    ),
    (
        "unset env in a list",
        b"source: {topics: [a, '${FAULTS_UNSET_TOPIC}']}\n",
        "FILE: source.topics[1]: environment variable FAULTS_UNSET_TOPIC is not set",
    ),
    ("window.size .nan", ("window.size=.nan",), "FILE: window.size: expected a finite number, got nan"),
    ("window.size .inf", ("window.size=.inf",), "FILE: window.size: expected a finite number, got inf"),
    ("window.size -.inf", ("window.size=-.inf",), "FILE: window.size: expected a finite number, got -inf"),
    ("window.size 1.0e+400", ("window.size=1.0e+400",), "FILE: window.size: expected a finite number, got inf"),
    (
        "sliding period .nan",
        ("window={type: sliding, size: 1m, period: .nan}",),
        "FILE: window.period: expected a finite number, got nan",
    ),
    (
        "allowed_lateness .nan",
        ("trigger.allowed_lateness=.nan",),
        "FILE: trigger.allowed_lateness: expected a finite number, got nan",
    ),
    ("early firing .inf", ("trigger.early=.inf",), "FILE: trigger.early: expected a finite number, got inf"),
    (
        "max_out_of_orderness .nan",
        ("source.max_out_of_orderness=.nan",),
        "FILE: source.max_out_of_orderness: expected a finite number, got nan",
    ),
    (
        "max_read_time .inf",
        ("source.stop={max_read_time: .inf}",),
        "FILE: source.stop.max_read_time: expected a finite number, got inf",
    ),
    ("top_k .nan", ("count.top_k=.nan",), "FILE: count.top_k: expected a finite number, got nan"),
    ("min_length .inf", ("tokenize.min_length=.inf",), "FILE: tokenize.min_length: expected a finite number, got inf"),
    ("option .inf", ("options.num_workers=.inf",), "FILE: options.num_workers: expected a finite number, got inf"),
    (
        "client setting .nan",
        ('source.consumer_config."fetch.max.bytes"=.nan',),
        "FILE: source.consumer_config.fetch.max.bytes: expected a finite number, got nan",
    ),
    ("window.size negative", ("window.size=-5",), "FILE: window.size: a duration cannot be negative, got -5"),
    (
        "empty bootstrap_servers",
        ("source.bootstrap_servers=''",),
        "FILE: source.bootstrap_servers: must not be empty: give host:port[,host:port...]",
    ),
    (
        "blank bootstrap_servers",
        ("source.bootstrap_servers='  '",),
        "FILE: source.bootstrap_servers: must not be empty: give host:port[,host:port...]",
    ),
    (
        "empty bootstrap entry",
        ("source.bootstrap_servers=',127.0.0.1:9092'",),
        "FILE: source.bootstrap_servers: expected host:port[,host:port...] without spaces or empty entries",
    ),
    (
        "bootstrap with a space",
        ("source.bootstrap_servers='a b:9092'",),
        "FILE: source.bootstrap_servers: expected host:port[,host:port...] without spaces or empty entries",
    ),
    (
        "bootstrap port not a number",
        ("source.bootstrap_servers=host:nine",),
        "FILE: source.bootstrap_servers: 'host:nine': the port must be a number from 1 to 65535",
    ),
    (
        "bootstrap port 0",
        ("source.bootstrap_servers=host:0",),
        "FILE: source.bootstrap_servers: 'host:0': the port must be a number from 1 to 65535",
    ),
    (
        "bootstrap port too big",
        ("source.bootstrap_servers=host:70000",),
        "FILE: source.bootstrap_servers: 'host:70000': the port must be a number from 1 to 65535",
    ),
    (
        "bootstrap a list",
        ("source.bootstrap_servers=[a, b]",),
        "FILE: source.bootstrap_servers: expected str, got list ['a', 'b']",
    ),
    ("no topics", ("source.topics=[]",), "FILE: source.topics: expected a non-empty list of topic names, got []"),
    (
        "topic with a space",
        ("source.topics=['a b']",),
        "FILE: source.topics: 'a b' is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)",
    ),
    (
        "topic with a slash",
        ("source.topics=[a/b]",),
        "FILE: source.topics: 'a/b' is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)",
    ),
    (
        "topic too long",
        (
            "source.topics=[tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt]",
        ),
        "FILE: source.topics: 'tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt' is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)",
    ),
    (
        "empty group_id",
        ("source.group_id=''",),
        "FILE: source.group_id: must not be empty: give a name, or null for no consumer group",
    ),
    (
        "start unknown",
        ("source.start=yesterday",),
        "FILE: source.start: expected earliest, latest, committed or an ISO-8601 time, got 'yesterday'",
    ),
    (
        "timestamp field without json",
        ("source.timestamp=field:ts",),
        "FILE: source.timestamp: field:ts reads a JSON field: set format.type: json",
    ),
    ("shards 0", ("source.shards=0",), "FILE: source.shards: must be at least 1, got 0"),
    (
        "consumer unknown property",
        ('source.consumer_config."foo.bar"=1',),
        'FILE: source.consumer_config.foo.bar: refused by the Kafka client (librdkafka): No such configuration property: "foo.bar"',
    ),
    (
        "auto.offset.reset bogus",
        ('source.consumer_config."auto.offset.reset"=bogus',),
        'FILE: source.consumer_config.auto.offset.reset: refused by the Kafka client (librdkafka): Invalid value "bogus" for configuration property "auto.offset.reset"',
    ),
    (
        "session.timeout.ms not a number",
        ('source.consumer_config."session.timeout.ms"=abc',),
        'FILE: source.consumer_config.session.timeout.ms: refused by the Kafka client (librdkafka): Invalid value for configuration property "session.timeout.ms"',
    ),
    (
        "session.timeout.ms out of range",
        ('source.consumer_config."session.timeout.ms"=-5',),
        'FILE: source.consumer_config.session.timeout.ms: refused by the Kafka client (librdkafka): Configuration property "session.timeout.ms" value -5 is outside allowed range 1..3600000',
    ),
    (
        "enable.auto.commit maybe",
        ('source.consumer_config."enable.auto.commit"=maybe',),
        'FILE: source.consumer_config.enable.auto.commit: refused by the Kafka client (librdkafka): Expected bool value for "enable.auto.commit": true or false',
    ),
    (
        "security.protocol bogus",
        ('source.consumer_config."security.protocol"=bogus',),
        'FILE: source.consumer_config.security.protocol: refused by the Kafka client (librdkafka): Invalid value "bogus" for configuration property "security.protocol"',
    ),
    (
        "debug bogus",
        ("source.consumer_config.debug=bogus",),
        'FILE: source.consumer_config.debug: refused by the Kafka client (librdkafka): Invalid value "bogus" for configuration property "debug"',
    ),
    (
        "assignment strategy bogus",
        ('source.consumer_config."partition.assignment.strategy"=bogus',),
        "FILE: source.consumer_config.partition.assignment.strategy: refused by the Kafka client (librdkafka): Unsupported partition.assignment.strategy: bogus",
    ),
    (
        "ssl.ca.location missing file",
        ("source.consumer_config={security.protocol: SSL, ssl.ca.location: /nonexistent/ca.pem}",),
        "FILE: source.consumer_config.ssl.ca.location: refused by the Kafka client (librdkafka): ssl.ca.location failed: error:05880020:x509 certificate routines::BIO lib",
    ),
    (
        "on_commit not callable",
        ("source.consumer_config.on_commit=x",),
        "FILE: source.consumer_config.on_commit: refused by the Kafka client (librdkafka): on_commit requires a callable object",
    ),
    (
        "consumer group.id empty",
        ('source.consumer_config."group.id"=""',),
        "FILE: source.consumer_config.group.id: must not be empty",
    ),
    (
        "client setting a list",
        ('source.consumer_config."client.id"=[a, b]',),
        "FILE: source.consumer_config.client.id: expected a string, number or boolean, got a list",
    ),
    (
        "client setting null",
        ('source.consumer_config."client.id"=null',),
        "FILE: source.consumer_config.client.id: expected a string, number or boolean, got null",
    ),
    (
        "dotted key without quotes",
        ("source.consumer_config.client.id=x",),
        'FILE: source.consumer_config.client: expected a string, number or boolean, got a mapping (a key with dots is quoted in --set: source.consumer_config."client.id"=x)',
    ),
    (
        "consumer_config a string",
        ("source.consumer_config=client.id",),
        "FILE: source.consumer_config: expected a mapping, got str",
    ),
    (
        "producer unknown property",
        ("sink={type: kafka, topic: t, producer_config: {foo: 1}}",),
        'FILE: sink.producer_config.foo: refused by the Kafka client (librdkafka): No such configuration property: "foo"',
    ),
    (
        "producer acks bogus",
        ("sink={type: kafka, topic: t, producer_config: {acks: bogus}}",),
        'FILE: sink.producer_config.acks: refused by the Kafka client (librdkafka): Invalid value for configuration property "request.required.acks"',
    ),
    (
        "producer idempotence with acks 1",
        ("sink={type: kafka, topic: t, producer_config: {enable.idempotence: true, acks: 1}}",),
        "FILE: sink.producer_config.acks: refused by the Kafka client (librdkafka): `acks` must be set to `all` when `enable.idempotence` is true",
    ),
    (
        "producer linger.ms negative",
        ("dead_letter={type: kafka, topic: t, producer_config: {linger.ms: -1}}",),
        'FILE: dead_letter.producer_config.linger.ms: refused by the Kafka client (librdkafka): Configuration property "queue.buffering.max.ms" value -1 is outside allowed range 0..900000',
    ),
    (
        "producer_config a list",
        ("sink={type: kafka, topic: t, producer_config: [a]}",),
        "FILE: sink.producer_config: expected a mapping, got list",
    ),
    (
        "sink.path a directory",
        ("sink={type: jsonl, path: /tmp}",),
        "FILE: sink.path: /tmp is a directory: give a file, such as /tmp/out.jsonl",
    ),
    (
        "sink.path in an unwritable place",
        ("sink={type: jsonl, path: /proc/counts/out.jsonl}",),
        "FILE: sink.path: cannot write in /proc: No such file or directory",
    ),
    (
        "sink.path under a file",
        ("sink={type: jsonl, path: DIR/a-file/out.jsonl}",),
        "FILE: sink.path: DIR/a-file is not a directory",
    ),
    (
        "dead_letter.path a directory",
        ("dead_letter={type: jsonl, path: /tmp}",),
        "FILE: dead_letter.path: /tmp is a directory: give a file, such as /tmp/out.jsonl",
    ),
    (
        "late_records.path unwritable",
        ("late_records={type: jsonl, path: /proc/late.jsonl}",),
        "FILE: late_records.path: cannot write in /proc: No such file or directory",
    ),
    ("jsonl sink without path", ("sink.type=jsonl",), "FILE: sink.path: the jsonl sink needs a path"),
    ("kafka sink without topic", ("sink.type=kafka",), "FILE: sink.topic: the kafka sink needs a topic"),
    ("sink type unknown", ("sink.type=s3",), "FILE: sink.type: must be one of stdout, jsonl, kafka, log, got 's3'"),
    (
        "sliding 1h / 1ms",
        ("window={type: sliding, size: 1h, period: 1ms}",),
        "FILE: window.period: size 3600s / period 0.001s puts each element into 3600000 windows; at most 1000 are allowed",
    ),
    (
        "sliding 1001 windows",
        ("window={type: sliding, size: 1001s, period: 1s}",),
        "FILE: window.period: size 1001s / period 1s puts each element into 1001 windows; at most 1000 are allowed",
    ),
    (
        "sliding period over size",
        ("window={type: sliding, size: 10s, period: 20s}",),
        "FILE: window.period: must not exceed size (10s)",
    ),
    ("session without gap", ("window.type=session",), "FILE: window.gap: a session window needs a gap greater than 0"),
    ("window size 0", ("window.size=0",), "FILE: window.size: must be greater than 0"),
    (
        "unknown language",
        ("tokenize.language=klingon",),
        "FILE: tokenize.language: NLTK knows no language 'klingon': NLTK's Snowball stemmer has arabic, danish, dutch, english, finnish, french, german, hungarian, italian, norwegian, portuguese, romanian, russian, spanish, swedish; installed Punkt models: english",
    ),
    (
        "language in capitals",
        ("tokenize.language=English",),
        "FILE: tokenize.language: NLTK knows no language 'English': NLTK's Snowball stemmer has arabic, danish, dutch, english, finnish, french, german, hungarian, italian, norwegian, portuguese, romanian, russian, spanish, swedish; installed Punkt models: english",
    ),
    (
        "porter is no language",
        ("tokenize.language=porter",),
        "FILE: tokenize.language: NLTK knows no language 'porter': NLTK's Snowball stemmer has arabic, danish, dutch, english, finnish, french, german, hungarian, italian, norwegian, portuguese, romanian, russian, spanish, swedish; installed Punkt models: english",
    ),
    (
        "unknown stopwords list",
        ("tokenize.stopwords=klingon",),
        "FILE: tokenize.stopwords: no NLTK stopwords list 'klingon'; installed lists: english, english-extended, german; accepted: an installed NLTK list name, file:PATH (one word per line) or a list of words [a, the]",
    ),
    (
        "snowball without the language",
        ("tokenize.stem=snowball", "tokenize.language=estonian"),
        "FILE: tokenize.language: the snowball stemmer has no language 'estonian'; choose one of arabic, danish, dutch, english, finnish, french, german, hungarian, italian, norwegian, porter, portuguese, romanian, russian, spanish, swedish",
    ),
    (
        "stopwords file missing",
        ("tokenize.stopwords=file:/nonexistent/stop.txt",),
        "FILE: tokenize.stopwords: no such file: '/nonexistent/stop.txt'",
    ),
    (
        "regexp with a group",
        ("tokenize.tokenizer=regexp", "tokenize.pattern='(\\w+)'"),
        "FILE: tokenize.pattern: the pattern has capturing groups, which make NLTK return groups instead of tokens: use non-capturing groups (?:...)",
    ),
    (
        "catastrophic regexp",
        ("tokenize.tokenizer=regexp", "tokenize.pattern='(?:a|a)*$'"),
        "FILE: tokenize.pattern: the pattern backtracks catastrophically: on 2000 x 'a' it runs past 0.2s (every such message would stall a worker): avoid nested or overlapping repetition such as (a|a)* or (a+)+",
    ),
    (
        "CPU budget of zero",
        ("tokenize.max_chars=0",),
        "FILE: tokenize.max_chars: must be at least 1, got 0",
    ),
    (
        "unknown option",
        ("options.kafka_password=hunter2-not-printed",),
        "FILE: options.kafka_password: unknown Beam pipeline option",
    ),
    (
        "option typo",
        ("options.streming=true",),
        "FILE: options.streming: unknown Beam pipeline option: did you mean streaming?",
    ),
    (
        "option typo 2",
        ("options.direct_num_worker=2",),
        "FILE: options.direct_num_worker: unknown Beam pipeline option: did you mean direct_num_workers?",
    ),
    (
        "option not a number",
        ("options.direct_num_workers=two",),
        "FILE: options.direct_num_workers: expected a whole number, got 'two'",
    ),
    (
        "option int given a float",
        ("options.num_workers=1.5",),
        "FILE: options.num_workers: expected a whole number, got '1.5'",
    ),
    ("flag given a string", ("options.streaming=maybe",), "FILE: options.streaming: a flag: give true or false"),
    ("option null", ("options.project=null",), "FILE: options.project: no value: give one, or leave the option out"),
    (
        "options a list",
        ("options=[streaming]",),
        "FILE: options: expected a mapping of Beam pipeline options, got ['streaming']",
    ),
    (
        "Flink option typo",
        ("runner=FlinkRunner", "options.checkpointing_intervall=5000"),
        "FILE: options.checkpointing_intervall: unknown Beam pipeline option: did you mean checkpointing_interval?",
    ),
    (
        "Flink-only option on Prism",
        ("options.checkpointing_interval=5000",),
        "FILE: options.checkpointing_interval: unknown Beam pipeline option",
    ),
    (
        "Dataflow without options",
        ("runner=DataflowRunner",),
        "FILE: options.temp_location: refused by Beam: Missing GCS path option: temp_location. (and 3 more: Missing GCS path option: staging_location.; Missing required option: project.; Missing required option: region.)",
    ),
    (
        "Dataflow bad bucket",
        (
            "runner=DataflowRunner",
            "options={project: my-project-1, region: europe-west1, temp_location: 'gs://b/tmp', staging_location: 'gs://bucket-ok/staging'}",
        ),
        "FILE: options.temp_location: refused by Beam: Invalid GCS bucket (gs://b/tmp), given for the option: temp_location. See https://developers.google.com/storage/docs/bucketnaming for more details.",
    ),
    (
        "Dataflow bad project",
        ("runner=DataflowRunner", "options={project: P, region: europe-west1, temp_location: 'gs://bucket-ok/tmp'}"),
        "FILE: options.project: refused by Beam: Invalid Project ID (P). Please make sure you specified the Project ID, not project description.",
    ),
    (
        "Dataflow negative workers",
        (
            "runner=DataflowRunner",
            "options={project: my-project-1, region: europe-west1, temp_location: 'gs://bucket-ok/tmp', num_workers: -1}",
        ),
        "FILE: options.num_workers: refused by Beam: Invalid value (-1) for option: num_workers. Value needs to be positive.",
    ),
    (
        "--set without =",
        ("window.size",),
        "FILE: --set 'window.size': expected dotted.key=value (quote a part that holds dots: source.consumer_config.\"client.id\"=x)",
    ),
    (
        "--set empty key part",
        ("window..size=1s",),
        "FILE: --set 'window..size=1s': expected dotted.key=value (quote a part that holds dots: source.consumer_config.\"client.id\"=x)",
    ),
    (
        "--set unterminated quote",
        ('source.consumer_config."client.id=x',),
        'FILE: --set \'source.consumer_config."client.id=x\': expected dotted.key=value (quote a part that holds dots: source.consumer_config."client.id"=x)',
    ),
    (
        "--set text after a quote",
        ('source.consumer_config."client"id=x',),
        'FILE: --set \'source.consumer_config."client"id=x\': expected dotted.key=value (quote a part that holds dots: source.consumer_config."client.id"=x)',
    ),
    ("--set through a scalar", ("window.size.x=1",), "FILE: --set window.size.x: size is not a mapping"),
    (
        "--set duplicate keys in the value",
        ("window={size: 1s, size: 2s}",),
        "FILE: --set window: size: duplicate key at line 1 (first at line 1): remove one of them",
    ),
    (
        "--set bare ${",
        ("sink={type: jsonl, path: 'out-${'}",),
        "FILE: sink.path: '${' starts no ${NAME} reference (write $${ for a literal ${)",
    ),
    (
        "--set bad env name",
        ("source.group_id=${1X}",),
        "FILE: source.group_id: '${' starts no ${NAME} reference (write $${ for a literal ${)",
    ),
    ("unknown top-level key", ("runnr=x",), "FILE: runnr: unknown key"),
    ("unknown nested key", ("window.sise=10s",), "FILE: window.sise: unknown key"),
    (
        "runner unknown",
        ("runner=SparkRunner",),
        "FILE: runner: must be one of DirectRunner, PrismRunner, FlinkRunner, DataflowRunner, got 'SparkRunner'",
    ),
    ("top_k 0", ("count.top_k=0",), "FILE: count.top_k: must be at least 1, got 0"),
    (
        "late without lateness",
        ("trigger.late={every_n: 2}",),
        "FILE: trigger.late: late firings need trigger.allowed_lateness greater than 0",
    ),
]


@pytest.fixture
def nltk_data_fixed(tmp_path_factory, monkeypatch):
    import nltk

    root = tmp_path_factory.mktemp("faults_nltk_data")
    write_stopwords(root)
    (root / "tokenizers" / "punkt_tab" / "english").mkdir(parents=True)
    monkeypatch.setattr(nltk.data, "path", [str(root)])


def test_the_table_has_at_least_80_faults():
    assert len(FAULTS) >= 80
    assert len({what for what, _, _ in FAULTS}) == len(FAULTS)


@pytest.mark.parametrize("what, config, expected", FAULTS, ids=[what for what, _, _ in FAULTS])
def test_each_fault_is_one_line_naming_the_file_and_the_key(
    what, config, expected, tmp_path, nltk_data_fixed, monkeypatch
):
    for name in [n for n in os.environ if n.startswith("FAULTS_UNSET_")]:
        monkeypatch.delenv(name)
    (tmp_path / "a-file").write_text("not a directory", encoding="utf-8")
    if isinstance(config, bytes):
        path = tmp_path / "config.yaml"
        path.write_bytes(config)
        path, overrides = str(path), ()
    else:
        path, overrides = DIRECT_CONFIG, tuple(o.replace("DIR", str(tmp_path)) for o in config)
    with pytest.raises(ConfigError) as raised:
        load_config(path, overrides)
    message = str(raised.value)
    assert "\n" not in message
    assert message == expected.replace("FILE", path).replace("DIR", str(tmp_path))


# The CLI: exit 2, exactly one line on stderr, nothing on stdout, no traceback.
CLI_FAULTS = [
    "latin-1 file",
    "5000-deep block YAML",
    "duplicate nested key",
    "window.size .nan",
    "auto.offset.reset bogus",
    "producer acks bogus",
    "dotted key without quotes",
    "sink.path a directory",
    "sliding 1h / 1ms",
    "option typo",
    "Dataflow bad bucket",
    "empty bootstrap_servers",
    "unset env in sink path",
]


@pytest.mark.parametrize("what", CLI_FAULTS)
def test_the_cli_prints_the_same_one_line_and_exits_2(what, tmp_path):
    (row,) = [row for row in FAULTS if row[0] == what]
    _, config, expected = row
    if isinstance(config, bytes):
        path = tmp_path / "config.yaml"
        path.write_bytes(config)
        args = ["validate", "--config", str(path)]
    else:
        path = Path(DIRECT_CONFIG)
        args = ["validate", "--config", DIRECT_CONFIG]
        for override in config:
            args += ["--set", override.replace("DIR", str(tmp_path))]
    result = run_cli(*args, timeout=120)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == ["error: " + expected.replace("FILE", str(path)).replace("DIR", str(tmp_path))]
    assert "Traceback" not in result.stderr


def test_a_key_with_dots_is_quoted_in_set():
    config = load_config(
        DIRECT_CONFIG, ('source.consumer_config."client.id"=counts-1', 'source.consumer_config."fetch.min.bytes"=1')
    )
    assert config.source.consumer_config == {"client.id": "counts-1", "fetch.min.bytes": 1}


def test_env_references_inside_strings_and_the_escape(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTS_HOST", "broker-7")
    path = tmp_path / "env.yaml"
    path.write_text(
        "source: {bootstrap_servers: '${FAULTS_HOST}:9092,${FAULTS_HOST}:9093'}\n"
        f"sink: {{type: jsonl, path: '{tmp_path}/$${{FAULTS_HOST}}-${{FAULTS_HOST}}.jsonl'}}\n",
        encoding="utf-8",
    )
    config = load_config(str(path))
    assert config.source.bootstrap_servers == "broker-7:9092,broker-7:9093"
    assert config.sink.path == f"{tmp_path}/${{FAULTS_HOST}}-broker-7.jsonl"


def test_sane_values_next_to_the_faults_are_accepted(tmp_path):
    config = load_config(
        DIRECT_CONFIG,
        (
            "window={type: sliding, size: 1000s, period: 1s}",
            f"sink={{type: jsonl, path: {tmp_path}/new/dir/o.jsonl}}",
            "source.bootstrap_servers='a:9092,[::1]:9093'",
            "options.checkpointing_interval=5000",
            "runner=FlinkRunner",
            "source.consumer_config={auto.offset.reset: earliest, enable.auto.commit: false, fetch.max.bytes: 1048576}",
            "sink.producer_config={acks: all, linger.ms: 5}",
        ),
    )
    assert (config.window.period_s, config.runner, config.options) == (
        1.0,
        "FlinkRunner",
        {"checkpointing_interval": 5000},
    )
    assert not (tmp_path / "new").exists()  # checking a path creates nothing


def test_anchors_and_merge_keys_are_still_yaml(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "source:\n  consumer_config: &kafka {security.protocol: PLAINTEXT, client.id: a}\n"
        "sink:\n  type: kafka\n  topic: out\n  producer_config:\n    <<: *kafka\n    client.id: b\n",
        encoding="utf-8",
    )
    config = load_config(str(path))
    assert config.sink.producer_config == {"security.protocol": "PLAINTEXT", "client.id": "b"}


def test_the_repository_run_configs_still_load(monkeypatch):
    from tests.test_dataflow import DATAFLOW_ENV

    for name, value in DATAFLOW_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("direct.yaml", "prism.yaml", "flink-local.yaml", "flink-cluster.yaml", "dataflow.yaml"):
        load_config(str(REPO / "run_configs" / name))
