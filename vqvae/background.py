"""Work a page starts and then polls: one job per key (a data set to download, a score to
compute) in a daemon thread, its state and its error as one line, kept in a registry that
forgets the oldest ended jobs beyond a bound, so a long-lived app does not grow."""

import atexit
import threading
from collections import OrderedDict
from typing import Callable, Hashable

RUNNING, DONE, FAILED = "running", "done", "failed"


class Job:
    """`work` running in a background thread; a page reads `state` ("running", "done",
    "failed" or a state an error class maps to, see `Jobs`) and `message` (why it did not
    end done, one line)."""

    def __init__(self, work: Callable[["Job"], None], name: str, outcomes: dict[type, str],
                 unexpected: str, cancel: threading.Event | None = None):
        self.state, self.message = RUNNING, None
        self.cancelled = cancel or threading.Event()  # `work` looks at it between its pieces
        self._work, self._outcomes, self._unexpected = work, outcomes, unexpected
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self._work(self)
        except Exception as exc:  # each class of error ends the job in its own state
            state = next((s for kind, s in self._outcomes.items() if isinstance(exc, kind)), None)
            if state is None:  # a bug: say so on the page rather than leave it "running" forever
                self.message, self.state = f"{self._unexpected} ({type(exc).__name__}: {exc})", FAILED
            else:
                self.message, self.state = str(exc), state
        else:
            self.state = DONE

    def start(self) -> "Job":
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancelled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the job has ended (within timeout seconds)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


class Jobs:
    """The jobs of one kind in this process, by key: at most one running per key, and at most
    `keep` ended ones remembered (the oldest forgotten first). At exit, running jobs are
    cancelled when `cancel_at_exit` (their work cleans up), then waited for, each up to
    `exit_wait_s`: a thread cut off inside torch or mid-write aborts the interpreter."""

    def __init__(self, keep: int = 32, cancel_at_exit: bool = False, exit_wait_s: float | None = None):
        self._jobs: OrderedDict[Hashable, Job] = OrderedDict()
        self._lock = threading.Lock()
        self.keep, self.cancel_at_exit, self.exit_wait_s = keep, cancel_at_exit, exit_wait_s
        atexit.register(self.finish)

    def get(self, key: Hashable) -> Job | None:
        """The latest job for `key` (running or ended), or None."""
        with self._lock:
            return self._jobs.get(key)

    def start(self, key: Hashable, make: Callable[[], Job]) -> Job:
        """The job running for `key`, or a new one made by `make` and started (a second click,
        a rerun or another tab starts nothing new)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.state != RUNNING:
                job = self._jobs[key] = make().start()
            self._jobs.move_to_end(key)
            ended = [k for k, j in self._jobs.items() if j.state != RUNNING]
            for old in ended[:max(0, len(ended) - self.keep)]:
                del self._jobs[old]
            return job

    def finish(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if self.cancel_at_exit:
                job.cancel()
        for job in jobs:
            job.wait(self.exit_wait_s)


class Bounded(OrderedDict):
    """A dict that keeps only its `size` most recently written entries."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

