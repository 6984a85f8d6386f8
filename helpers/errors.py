"""The course's errors: one base class, so a notebook cell or a TA's script can catch any of them.

Every error the course raises on purpose derives from :class:`CourseError` and from the built-in
class that says what went wrong: ``ValueError`` for a value out of range or of the wrong form,
``TypeError`` for an object of the wrong type, ``RuntimeError`` for a state of the machine
(missing assets, no sandbox, a hub that cannot be reached). The message says what to do.

    BackendError (RuntimeError)      helpers.errors       loading models, the hub, the device (raised by helpers.backend)
      NumericsError                  helpers.numerics     inf/NaN in float16 logits
    AssetError (RuntimeError)        helpers.assets       an offline asset missing or corrupt
    OutOfRangeError (IndexError, ValueError)  helpers.validation  a layer, feature or id out of range
    SubmissionError (RuntimeError)   helpers.handin       the hand-in zip cannot be built
    AnswerError (ValueError)         helpers.handin       an answer of the wrong form
    AuthoringError (ValueError)      helpers.coursework.authoring   solution markers
    ReleaseError (RuntimeError)      helpers.coursework.release     the student release
    GradingError (RuntimeError)      helpers.coursework.grading.course   spec, cases, arguments
    UnsafeZipError (ValueError)      helpers.coursework.grading.unpack   a submitted zip
    SandboxError (RuntimeError)      helpers.coursework.grading.sandbox  bubblewrap

The exercise checks (``helpers.checks``) raise ``AssertionError`` with a hint: a failed check is
a failed test of the student's function, not an error of the course.
"""
from __future__ import annotations


class CourseError(Exception):
    """Base of every error the course raises on purpose; the message says what to fix."""


class BackendError(CourseError, RuntimeError):
    """A model could not be loaded, or computed inf/NaN; the message says what to do (``helpers.backend``)."""
