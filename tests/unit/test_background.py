"""The background-job helper behind downloads and scores: one running job per key, errors as
one line in the job's own states, and a bounded memory of ended jobs."""

from __future__ import annotations

import threading

from vqvae.background import Bounded, Job, Jobs
from vqvae.errors import VQVAEError


class Refused(VQVAEError):
    pass


def job(work, **kwargs) -> Job:
    return Job(work, "test-job", {Refused: "cancelled", VQVAEError: "failed"}, "it broke", **kwargs)


def test_a_job_ends_done_failed_or_in_the_state_its_error_maps_to():
    def fails(j):
        raise VQVAEError("no data here: place it in data/")

    done, failed = job(lambda j: None).start(), job(fails).start()
    refused, bug = job(lambda j: (_ for _ in ()).throw(Refused("stopped"))).start(), job(lambda j: 1 / 0).start()
    assert all(j.wait(5) for j in (done, failed, refused, bug))
    assert (done.state, done.message) == ("done", None)
    assert (failed.state, failed.message) == ("failed", "no data here: place it in data/")
    assert (refused.state, refused.message) == ("cancelled", "stopped")
    assert bug.state == "failed" and bug.message.startswith("it broke (ZeroDivisionError")


def test_one_job_runs_per_key_and_only_the_newest_ended_jobs_are_remembered():
    jobs, release = Jobs(keep=2), threading.Event()
    running = jobs.start("a", lambda: job(lambda j: release.wait(5)))
    assert jobs.start("a", lambda: job(lambda j: None)) is running  # a second click starts nothing
    ended = [jobs.start(key, lambda: job(lambda j: None)) for key in "bcd"]
    assert all(j.wait(5) for j in ended)
    jobs.start("e", lambda: job(lambda j: None)).wait(5)
    jobs.start("f", lambda: job(lambda j: None)).wait(5)
    assert jobs.get("a") is running  # running jobs are never forgotten
    remembered = [key for key in "bcdef" if jobs.get(key) is not None]
    assert len(remembered) <= 3 and "b" not in remembered
    release.set()
    assert running.wait(5) and running.state == "done"
    assert jobs.start("a", lambda: job(lambda j: None)) is not running  # ended: a new click starts another


def test_finish_cancels_when_asked_and_waits_for_running_jobs():
    jobs = Jobs(cancel_at_exit=True, exit_wait_s=5)
    waiting = jobs.start("x", lambda: job(lambda j: j.cancelled.wait(5) and None))
    jobs.finish()
    assert waiting.cancelled.is_set() and waiting.wait(0) and waiting.state == "done"


def test_a_bounded_dict_keeps_the_most_recently_written():
    seen = Bounded(2)
    for key in "abc":
        seen[key] = key.upper()
    seen["b"] = "B"
    seen["d"] = "D"
    assert list(seen) == ["b", "d"]
