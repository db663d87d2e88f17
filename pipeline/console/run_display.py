"""What a run shows while the job runs: the progress line of a bounded read (stderr), or the live
view of `run --live` (stdout). The CLI hands the start of the job to `RunDisplay.start`.

- `--live` with stdout on a terminal: pipeline/console/live_view.py (the stdout and log sinks are
  switched to a new JSON-lines file in the current directory that the view reads, named on
  stderr when the run starts and by `closing_lines` when it ends: offsets are committed behind
  those rows, so the file stays); stdout not a terminal: the plain output of today, and one
  line on stderr that says so.
- otherwise, a bounded read: pipeline/console/progress.py on stderr.

Both draw from a thread of this process and stop when the job ends: this module wraps
the result's `wait_until_finish` (on the instance, so the result keeps its type, which
the CLI reads to name the runner) so that the last frame is drawn before the run's
closing lines. A runner whose `pipeline.run()` returns only when the job is done
(Beam's FnApiRunner) has its display stopped as soon as it returns.
"""

from __future__ import annotations

import sys
from typing import Callable

from pipeline.config import RunConfig
from pipeline.console.terminal import is_terminal, printable
from transforms.compat import result_runs_on_job_service

__all__ = ["RunDisplay"]


class RunDisplay:
    """Made from the parsed `run` arguments before the config is loaded (--live may add --set overrides)."""

    def __init__(self, args):
        self._view = None
        self._display = None
        if getattr(args, "live", False):
            if is_terminal(sys.stdout):
                from pipeline.console.live_view import LiveView

                self._view = LiveView.prepare(args)
                if self._view.rows_file:
                    print(f"--live: {self._rows_line()}", file=sys.stderr)
            else:
                print("--live: stdout is not a terminal, so the panes are printed as they come", file=sys.stderr)

    def _rows_line(self) -> str:
        return f"rows written to {printable(self._view.rows_file, 300)}"

    def closing_lines(self) -> list[str]:
        """What the run says last, whatever its end: where the --live rows are."""
        return [self._rows_line()] if self._view is not None and self._view.rows_file else []

    def start(self, config: RunConfig, run_job: Callable):
        """Starts the display, then the job (`run_job()` returns the PipelineResult); returns the result."""
        from pipeline.console.progress import ProgressReporter, progress_wanted
        from pipeline.runner_check import plan_runner

        if self._view is not None:
            self._display = self._view
            self._view.start(config)
        elif progress_wanted(config):
            self._display = ProgressReporter(config)
            if plan_runner(config).effective.startswith("FnApiRunner"):
                self._display.runner_blocks()
            self._display.start()
        else:
            return run_job()
        try:
            result = run_job()
        except BaseException:
            self._stop(finished=False)
            raise
        self._display.attach(result)
        if not result_runs_on_job_service(result):
            self._stop()  # run_job() returned with the job done
            return result
        wait = result.wait_until_finish

        def wait_until_finish(duration=None):
            finished = False
            try:
                state = wait(duration) if duration is not None else wait()
                finished = str(state).rsplit(".", 1)[-1] in ("DONE", "FAILED", "CANCELLED", "UPDATED", "DRAINED")
                return state
            finally:
                self._stop(finished=finished)

        result.wait_until_finish = wait_until_finish
        return result

    def _stop(self, finished: bool = True) -> None:
        if self._display is None:
            return
        display, self._display = self._display, None
        try:
            if display is self._view:
                display.stop(finished=finished)
            else:
                display.stop()
        except Exception as e:  # the display never fails the run
            print(
                f"warning: the {'live view' if display is self._view else 'progress line'} stopped: {e}",
                file=sys.stderr,
            )
