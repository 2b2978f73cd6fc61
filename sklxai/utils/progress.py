"""Progress within one unit of a job: the code doing the work reports the fraction it has done,
and the job's progress bar is credited with it as it goes.

A job's bar (:class:`~sklxai.utils.callbacks.AutoProgress`) counts units, e.g. explained rows,
but the work comes in blocks of many units (an explainer's rows go in fixed seeded blocks, each
one call), and a block can hold minutes of model calls. :class:`PartialProgress` lets the code
inside a block report how far it is (:func:`report_progress`, which the games call after each
batch of model calls) and credits the bar with that share of the block's units, so the bar
moves (and ``verbose="auto"`` measures the job's pace) within the first block already.

The reports reach the bar only from the thread that runs the block under
:meth:`PartialProgress.unit` (a context variable carries the target): work run elsewhere (a
joblib worker process) reports to nothing, and its block is credited whole when it is done.
Reporting changes nothing else: results do not depend on whether anyone listens.
"""

import contextlib
import contextvars

#: (report, low, high): where the running code's fractions go, and the share of the unit it
#: does (a fraction f it reports is passed on as low + f (high - low))
_CURRENT = contextvars.ContextVar("sklxai_progress_share", default=None)


def report_progress(done, total):
    """Report that ``done`` of ``total`` equal parts of the running code's work are done.

    A no-op unless the code runs inside :meth:`PartialProgress.unit` in this thread.
    """
    current = _CURRENT.get()
    if current is not None and total > 0:
        report, low, high = current
        report(low + (high - low) * min(done / total, 1.0))


@contextlib.contextmanager
def share_of_work(start, stop, total):
    """The code within does parts ``start`` to ``stop`` of ``total`` equal parts of the running
    work: the fractions it reports (of its own work) are scaled into that share."""
    current = _CURRENT.get()
    if current is None or total <= 0:
        yield
        return
    report, low, high = current
    width = (high - low) / total
    token = _CURRENT.set((report, low + start * width, low + stop * width))
    try:
        yield
    finally:
        _CURRENT.reset(token)


class PartialProgress:
    """Credits a progress bar with the reported share of each unit of work as it goes.

    Parameters
    ----------
    progress : AutoProgress
        The bar; whole units are credited to it (``progress.update``), never more than a
        unit holds, and never taken back.

    Examples
    --------
    >>> from sklxai.utils.callbacks import AutoProgress
    >>> with AutoProgress(10, verbose=0, desc="rows") as bar:
    ...     partial = PartialProgress(bar)
    ...     with partial.unit(10):
    ...         report_progress(1, 2)  # half of the block's 10 rows
    ...         half = bar.done
    ...     partial.finish()
    >>> half, bar.done
    (5, 10)
    """

    def __init__(self, progress):
        self.progress = progress
        self._units = self._credited = 0

    @contextlib.contextmanager
    def unit(self, units):
        """Run a block of ``units`` units: reports from within credit the bar."""
        self._units, self._credited = units, 0
        token = _CURRENT.set((self._report, 0.0, 1.0))
        try:
            yield
        finally:
            _CURRENT.reset(token)

    def _report(self, fraction):
        due = min(self._units, int(self._units * fraction))
        if due > self._credited:
            self.progress.update(due - self._credited)
            self._credited = due

    def finish(self):
        """Credit the rest of the last block run in :meth:`unit` (all of it when nothing was
        reported from within, e.g. when it ran in another process)."""
        rest = self._units - self._credited
        self._units = self._credited = 0
        if rest:
            self.progress.update(rest)
