"""The command line: run, validate, produce, stack."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Optional, Sequence

from pipeline.config import ConfigError, RunConfig, load_config, parse_duration
from pipeline.runner_check import RunnerPlan, plan_runner
from transforms.compat import descendants, is_process_running, runner_module_of

__all__ = ["main"]

_LOG = logging.getLogger("pipeline")
# How long past --duration a draining job may take before it is cancelled.
_DRAIN_GRACE_S = 120


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run config YAML file (see run_configs/)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set source.topics=[news] (repeatable)",
    )


def _parser() -> argparse.ArgumentParser:
    from pipeline.devtools import produce_command

    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log Beam's and the runner's progress")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the pipeline")
    _add_config_arguments(run)
    run.add_argument(
        "--duration", type=_duration, help="stop an unbounded read after this long (e.g. 30s), then finish the windows"
    )
    run.add_argument(
        "--live",
        action="store_true",
        help="one screen redrawn in place: latest windows, watermark, lag, counters (stdout a terminal)",
    )

    validate = commands.add_parser("validate", help="check a config and say which runner will execute it")
    _add_config_arguments(validate)

    produce = commands.add_parser("produce", help="send sample text to Kafka")
    produce_command.add_arguments(produce)

    demo = commands.add_parser("demo", help="the live demo on the local stack")
    demo.add_argument("--duration", type=_duration, default=45.0, help="how long the pipeline runs (default 45s)")
    demo.add_argument("--rate", type=float, default=20.0, help="messages per second (default 20)")

    from pipeline.devtools import nltk_data

    nltk = commands.add_parser("nltk-data", help="NLTK data: status, download")
    nltk_data.add_arguments(nltk)

    _add_config_arguments(
        commands.add_parser("lag", help="the consumer group's committed offset, end offset and lag per partition")
    )

    from pipeline import plot

    plot.add_arguments(commands.add_parser("plot", help="draw token counts per window from JSON-lines output"))

    commands.add_parser("schema", help="print the run config's JSON Schema (run_configs/run-config.schema.json)")

    stack = commands.add_parser("stack", help="local Kafka, Prism and (--flink) a Flink cluster: up, down, status")
    stack.add_argument("action", choices=("up", "down", "status"))
    stack.add_argument("--kafka-port", type=int, default=9092)
    stack.add_argument(
        "--flink", action="store_true", help="up: also start a Flink session cluster and Beam's Python worker pool"
    )
    stack.add_argument("--flink-port", type=int, default=8081, help="Flink's REST port (default 8081)")
    return parser


def _with_duration(config: RunConfig, duration_s: Optional[float]) -> RunConfig:
    """An unbounded read that stops after duration_s, so the run drains and ends."""
    if duration_s is None or config.source.stop.bounded:
        return config
    stop = dataclasses.replace(config.source.stop, max_read_time_s=duration_s)
    return dataclasses.replace(config, source=dataclasses.replace(config.source, stop=stop))


def _prepare(args) -> tuple:
    """Loads the config, plans the runner and builds the graph: everything but running."""
    from pipeline.graph import build_pipeline, pipeline_options

    config = _with_duration(load_config(args.config, tuple(args.set)), getattr(args, "duration", None))
    plan = plan_runner(config)
    prism_location = None
    if config.runner in ("DirectRunner", "PrismRunner") and "prism_location" not in config.options:
        from pipeline.stack import prism_binary
        from pipeline.stack.prism import prism_launcher

        prism_location = str(prism_launcher(prism_binary(progress=lambda m: print(m, file=sys.stderr))))
    quiet = not getattr(args, "verbose", False)
    pipeline = build_pipeline(config, pipeline_options(config, prism_location, quiet))
    return config, plan, pipeline


def _validate(args) -> int:
    config, plan, _ = _prepare(args)
    print(f"{config.path}: ok")
    print(plan.describe())
    for warning in plan.warnings:
        print(f"warning: {warning}")
    source = config.source
    print(f"source: {','.join(source.topics)} on {source.bootstrap_servers}, start {source.start}, stop {source.stop}")
    return 0


def _executing_runner(config: RunConfig, plan: RunnerPlan, result) -> str:
    """Names the runner that really executes, from the kind of result Beam returned."""
    module = runner_module_of(result)
    if module.endswith("portable_runner"):
        return "PrismRunner" if config.runner in ("DirectRunner", "PrismRunner") else config.runner
    if "fn_api_runner" in module:
        return plan.effective if plan.effective.startswith("FnApiRunner") else "FnApiRunner"
    if "runners.direct" in module:
        return "BundleBasedDirectRunner"
    return f"{module}.{type(result).__name__}"


class _JobFailed(Exception):
    """The job failed: the message is the one line that says what failed and why."""


# What `run` says last, however it ends (the --live rows file).
_CLOSING_LINES: list = []


def _start_and_wait(args, config: RunConfig, plan: RunnerPlan, display, pipeline) -> tuple:
    """Starts the job and waits for it: (result, state); a failed job raises _JobFailed with one line.

    Without -v the runner's error reports (one failure is 11 to 15 tracebacks from the SDK
    worker, Prism or the job service, and the worker's threads) are held back while the job
    runs (pipeline/runner_noise.py); the failure becomes one line (pipeline/console/job_failure.py).
    """
    from pipeline.console.job_failure import describe_failure
    from pipeline.runner_noise import RunnerErrors

    held = None if args.verbose else RunnerErrors(lambda text: describe_failure(text, config)).install()
    try:
        result = display.start(config, lambda: _run_shielding_services(pipeline))
        print(f"executing on: {_executing_runner(config, plan, result)}", file=sys.stderr)
        timeout_ms = None if args.duration is None else int((args.duration + _DRAIN_GRACE_S) * 1000)
        return result, _wait_or_stop(result, timeout_ms)
    except Exception as e:
        # Beam raises a failed job as RuntimeError (portable runners, worker processes) or, in-process,
        # as the worker's own error with the failed step appended. The stack's errors say it themselves.
        from pipeline.stack import StackError

        if isinstance(e, StackError) or not (isinstance(e, RuntimeError) or "[while running '" in str(e)):
            raise
        raise _JobFailed(describe_failure(str(e), config)) from e
    finally:
        if held is not None:
            held.job_ended()


def _run(args) -> int:
    from pipeline.console.run_display import RunDisplay
    from pipeline.preflight import check_kafka_source
    from pipeline.stack.flink import refuse_running_job

    display = RunDisplay(
        args
    )  # progress line or --live view (pipeline/console/run_display.py); may add --set overrides
    _CLOSING_LINES[:] = display.closing_lines()
    config, plan, pipeline = _prepare(args)
    check_kafka_source(config)
    # A job of this pipeline left running on a Flink cluster (its `run` was killed) would count twice.
    refuse_running_job(pipeline.options)
    # Two runs committing to one group would both count everything: one run per group at a time.
    lease = _group_lease(config)
    try:
        return _run_job(args, config, plan, display, pipeline)
    finally:
        if lease is not None:
            lease.release()


def _group_lease(config: RunConfig):
    """The held lease of the consumer group the run commits to (None when it commits nothing)."""
    from pipeline.group_lease import GroupLease

    source = config.source
    if not source.commits:
        return None
    lease = GroupLease(source.bootstrap_servers, source.group_id, source.topics, source.consumer_config)
    lease.acquire()
    return lease


def _run_job(args, config: RunConfig, plan: RunnerPlan, display, pipeline) -> int:
    from pipeline.metrics_report import account

    print(plan.describe(), file=sys.stderr)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    started = time.monotonic()
    result, state = _start_and_wait(args, config, plan, display, pipeline)
    if args.duration is not None and not _is_done(state):
        print("error: the job did not finish draining in time; cancelling", file=sys.stderr)
        result.cancel()
    print(f"finished in {time.monotonic() - started:.1f}s, state {result.state}", file=sys.stderr)
    done = _is_done(result.state)
    # Every run proves what it committed (docs/design.md, decision 10); a broken account fails the run.
    balance = account(result, commits=config.source.commits, ended=done)
    for line in balance.lines:
        print(line, file=sys.stderr)
    # The job is over: end the services it started now (Beam's exit hook gives each a second per try).
    _terminate_children()
    return 0 if done and balance.ok else 1


class _StopSignals:
    """SIGINT (Ctrl-C) and SIGTERM stop a run the same way on every runner.

    While `run` waits for a job it has a handle on (Prism, Flink), a signal cancels
    the job through the runner (`_stop_after_interrupt`). Before the runner hands
    the job back (the FnApiRunner with worker processes runs the whole job inside
    `pipeline.run()`; Prism and Flink while the job is submitted), or at a second
    signal, the run stops at once. Either way the processes the run started are
    ended and `run` exits with 128 + the signal number (130, 143).
    """

    def __init__(self):
        self.signum: Optional[int] = None
        self.waiting = False  # the main thread is in `_wait_or_stop` and acts on `signum`

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.signum is not None or not self.waiting:
            self.signum = self.signum or signum
            _stop_now(
                self.signum,
                "stopping the job and its processes (offsets of what was written are "
                "committed; a restart with source.start: committed resumes there)",
            )
        self.signum = signum


_STOP = _StopSignals()
# How long a cancelled job may take to confirm before `run` ends its processes anyway.
_CANCEL_WAIT_S = 30


def _run_shielding_services(pipeline):
    """Starts the job with `_STOP` in charge of SIGINT and SIGTERM.

    The services the runner starts (Prism, the Flink job server) run in their own
    process group (pipeline/stack launchers): a terminal's Ctrl-C reaches this process
    only, which cancels the job through them. The FnApiRunner's worker processes
    ignore SIGINT (pipeline/worker_site). Beam's job server wrapper installs its own
    SIGINT handler while the job starts (it stops the job server): `_STOP` takes over
    again once the job is handed back.
    """
    from pipeline.runner_noise import prepare_worker_processes

    prepare_worker_processes()
    _STOP.install()
    try:
        return pipeline.run()
    finally:
        _STOP.install()


def _wait_or_stop(result, timeout_ms: Optional[int]):
    """`result.wait_until_finish(timeout_ms)`, or a cancellation when SIGINT or SIGTERM comes.

    The wait runs in a thread: a signal never interrupts a gRPC call of Beam's (that
    is what printed "Internal gRPC call error"), the main thread polls for it.
    """
    finished = threading.Event()
    outcome: dict = {}

    def wait():
        try:
            outcome["state"] = result.wait_until_finish(duration=timeout_ms)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = e
        finally:
            finished.set()

    threading.Thread(target=wait, name="wait-until-finish", daemon=True).start()
    _STOP.waiting = True
    try:
        while not finished.wait(0.2):
            if _STOP.signum is not None:
                _stop_after_interrupt(result, finished)
    finally:
        _STOP.waiting = False
    if _STOP.signum is not None:
        _stop_after_interrupt(result, finished)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["state"]


def _terminate_children(timeout_s: float = 5.0) -> None:
    """Ends every process this run started (the whole tree): SIGTERM, then SIGKILL after `timeout_s`."""
    family = descendants(os.getpid())
    for pid in family:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        family = [pid for pid in family if _is_running(pid)]
        if not family:
            return
        time.sleep(0.1)
    for pid in family:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _is_running(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap a child that has exited
    return is_process_running(pid)


def _say_closing_lines() -> None:
    with contextlib.suppress(Exception):
        for line in _CLOSING_LINES:
            print(line, file=sys.stderr, flush=True)


def _stop_now(signum: int, what: str) -> None:
    """Ends the processes this run started and leaves with 128 + signum, without Beam's exit hooks.

    Beam's exit hooks would wait on the stopped job's gRPC channels and stop services
    that are gone already.
    """
    with contextlib.suppress(Exception):
        print(f"{signal.Signals(signum).name}: {what}...", file=sys.stderr, flush=True)
    _silence_runner()
    _terminate_children()
    _remove_private_tempdir()
    _say_closing_lines()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(128 + signum)


class _MainThreadOnly:
    """A stream that lets only the main thread write: the SDK worker prints tracebacks of cancelled bundles itself."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        if threading.current_thread() is threading.main_thread():
            return self._stream.write(text)
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _silence_runner() -> None:
    """The runner's threads see the job cancelled, its workers and services go: what they would log is not news."""
    logging.disable(logging.CRITICAL)
    threading.excepthook = lambda args: None
    sys.stderr = _MainThreadOnly(sys.stderr)


def _stop_after_interrupt(result, finished: threading.Event) -> None:
    """SIGINT or SIGTERM: cancels the job, waits for the runner to confirm, ends the run's processes."""
    signum = _STOP.signum
    print(f"{signal.Signals(signum).name}: cancelling the job...", file=sys.stderr, flush=True)
    if not logging.getLogger().isEnabledFor(logging.INFO):
        _silence_runner()  # bundles failing with "pipeline canceled" are the cancellation at work
    try:
        result.cancel()
        if not finished.wait(_CANCEL_WAIT_S):
            print(f"warning: the runner did not confirm the cancellation within {_CANCEL_WAIT_S}s", file=sys.stderr)
    except Exception as e:  # the job service may be gone already
        from pipeline.console.job_failure import innermost_error

        print(f"warning: the runner did not confirm the cancellation: {innermost_error(str(e))}", file=sys.stderr)
    with contextlib.suppress(Exception):
        state = result.state
        print(
            f"stopped, state {state}. Offsets of what was written are committed; a restart with "
            "source.start: committed resumes there (at-least-once). Use --duration for a drained stop.",
            file=sys.stderr,
        )
    _stop_now(signum, "ending the run's processes")


_PRIVATE_TEMPDIR: Optional[str] = None


def _use_private_tempdir() -> None:
    """This process's temporary files and directories (Beam's `beam-pipeline-temp*`, its staging
    directories) go to one directory of its own, removed when the process ends."""
    global _PRIVATE_TEMPDIR
    _PRIVATE_TEMPDIR = tempfile.mkdtemp(prefix="beam-token-counts-")
    tempfile.tempdir = _PRIVATE_TEMPDIR
    atexit.register(_remove_private_tempdir)  # registered first: runs after Beam's exit hooks


def _remove_private_tempdir() -> None:
    if _PRIVATE_TEMPDIR is not None:
        shutil.rmtree(_PRIVATE_TEMPDIR, ignore_errors=True)


def _is_done(state) -> bool:
    return str(state).rsplit(".", 1)[-1] == "DONE"


def _stack(args) -> int:
    from pipeline import stack

    if args.action == "up":
        stack.up(
            kafka_port=args.kafka_port,
            progress=lambda m: print(m, flush=True),
            flink=args.flink,
            flink_rest_port=args.flink_port,
        )
    elif args.action == "down":
        stack.down()
        print("stopped")
    for line in stack.status(flink=True):
        print(line)
    return 0


def _configure_logging(verbose: bool) -> None:
    from pipeline.runner_noise import quiet_passed_through_options

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True
    )
    # Not news with -v either: the options are read, by the Flink job server.
    quiet_passed_through_options()
    if not verbose:
        # The job service and Prism report every step at INFO; keep the terminal for results.
        logging.getLogger("apache_beam").setLevel(logging.WARNING)
        # It announces every start and stop of the Prism process at WARNING.
        logging.getLogger("apache_beam.utils.subprocess_server").setLevel(logging.ERROR)
        from pipeline.runner_noise import quiet_known_runner_noise

        quiet_known_runner_noise()


def main(argv: Optional[Sequence[str]] = None) -> int:
    from pipeline.secret_values import guard_output, redact

    guard_output()  # before logging is configured, so that log lines pass through it too
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    from pipeline.runner_noise import escape_log_lines
    from pipeline.stack.loopback import bind_grpc_servers_to_loopback

    escape_log_lines()
    bind_grpc_servers_to_loopback()
    _use_private_tempdir()
    from pipeline.group_lease import GroupInUse
    from pipeline.stack import StackError
    from transforms.text.tokenizers import MissingNltkData

    try:
        if args.command == "run":
            try:
                return _run(args)
            finally:
                _say_closing_lines()
        if args.command == "validate":
            return _validate(args)
        if args.command == "demo":
            from pipeline.devtools.demo import run_demo

            return run_demo(args.duration, args.rate)
        if args.command == "nltk-data":
            from pipeline.devtools import nltk_data

            return nltk_data.run(args)
        if args.command == "produce":
            from pipeline.devtools import produce_command

            return produce_command.run(args)
        if args.command == "lag":
            from pipeline import lag

            return lag.run(args)
        if args.command == "plot":
            from pipeline import plot

            return plot.run(args)
        if args.command == "schema":
            import json

            print(json.dumps(RunConfig.model_json_schema(), indent=2))
            return 0
        return _stack(args)
    except (ConfigError, MissingNltkData, StackError, GroupInUse) as e:
        print(f"error: {redact(str(e))}", file=sys.stderr)
        return 2
    except ValueError as e:
        # beam.Pipeline() raises this for options its validator refuses (load_config checks them
        # first; this catches what it cannot foresee), as one line naming the file.
        if not str(e).startswith("Pipeline has validations errors"):
            raise
        errors = "; ".join(" ".join(line.split()) for line in str(e).splitlines()[1:] if line.strip())
        print(f"error: {redact(f'{args.config}: options: refused by Beam: {errors}')}", file=sys.stderr)
        return 2
    except _JobFailed as e:
        print(f"error: {redact(str(e))}", file=sys.stderr)
        return 1
    except RuntimeError as e:
        # A failed job outside `run` (the demo): the runner has logged the worker's traceback already.
        from pipeline.console.job_failure import describe_failure

        print(f"error: {redact(describe_failure(str(e)))}", file=sys.stderr)
        return 1
