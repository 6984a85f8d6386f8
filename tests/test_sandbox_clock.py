"""The sandbox's clock: start-up has its own allowance, the job's seconds count from the harness's first line."""
import sys

from helpers.coursework.grading import sandbox

SLOW_START = '''import os, sys, time
time.sleep({start})                       # a slow interpreter start / imports
os.write(int(sys.argv[1]), b'{{"ready": true}}\\n')
time.sleep({work})                        # the job itself
os.write(int(sys.argv[1]), b'{{"done": true}}\\n')
'''


def run(start, work, limits):
    code = SLOW_START.format(start=start, work=work)
    return sandbox._run(lambda fd: [sys.executable, "-c", code, str(fd)], limits)


def test_start_up_is_not_taken_from_the_jobs_time():
    outcome = run(1.0, 0.2, sandbox.Limits(seconds=0.8, startup_seconds=10))
    assert not outcome.timed_out and outcome.returncode == 0
    assert outcome.results == b'{"ready": true}\n{"done": true}\n'


def test_a_job_past_its_time_is_stopped_after_the_ready_line():
    outcome = run(0.0, 30, sandbox.Limits(seconds=0.5, startup_seconds=10))
    assert outcome.timed_out and outcome.results == b'{"ready": true}\n' and outcome.seconds < 10


def test_a_start_that_never_gets_ready_is_stopped_by_its_own_allowance():
    outcome = run(30, 0, sandbox.Limits(seconds=100, startup_seconds=0.5))
    assert outcome.timed_out and outcome.results == b"" and outcome.seconds < 10


def test_without_a_start_up_allowance_the_seconds_count_from_the_start():
    outcome = run(1.0, 0.0, sandbox.Limits(seconds=0.5))
    assert outcome.timed_out and outcome.results == b""
