"""Progress within a unit of work: reported fractions become whole units on the bar."""

from sklxai.utils.callbacks import AutoProgress
from sklxai.utils.progress import PartialProgress, report_progress, share_of_work


def _bar(total):
    return AutoProgress(total, verbose=0, desc="rows")


def test_reports_outside_a_unit_go_nowhere():
    bar = _bar(10)
    report_progress(1, 2)  # no unit runs: nothing listens, nothing fails
    with share_of_work(0, 1, 2):
        report_progress(1, 1)
    assert bar.done == 0


def test_a_unit_is_credited_in_whole_units_as_reported_and_finished():
    bar = _bar(30)
    partial = PartialProgress(bar)
    seen = []
    with partial.unit(10):
        for done in range(1, 5):  # 1/4 .. 4/4 of 10 units: 2, 5, 7, 10 (floors)
            report_progress(done, 4)
            seen.append(bar.done)
        report_progress(1, 4)  # a late, smaller report takes nothing back
        seen.append(bar.done)
    partial.finish()
    assert seen == [2, 5, 7, 10, 10]
    assert bar.done == 10
    with partial.unit(20):  # the next unit starts from 0 again
        report_progress(1, 2)
        assert bar.done == 20
    partial.finish()  # credits the other 10
    assert bar.done == 30


def test_a_unit_without_reports_is_credited_whole():
    bar = _bar(7)
    partial = PartialProgress(bar)
    with partial.unit(7):
        pass
    assert bar.done == 0
    partial.finish()
    assert bar.done == 7


def test_shares_nest_into_the_fraction_of_the_unit():
    bar = _bar(100)
    partial = PartialProgress(bar)
    with partial.unit(100):
        with share_of_work(2, 4, 4):  # the second half of the unit
            report_progress(0, 3)
            assert bar.done == 50
            with share_of_work(1, 2, 2):  # its second half: 75 .. 100
                report_progress(1, 2)  # half of it: 87.5 -> 87 whole units
                assert bar.done == 87
            report_progress(2, 3)  # 50 + 2/3 of 50 = 83.3: already passed, nothing back
            assert bar.done == 87
        report_progress(5, 4)  # over-reports are capped at the unit
        assert bar.done == 100
    partial.finish()
    assert bar.done == 100


def test_a_shown_bar_pickles_without_its_stream():
    import pickle

    with AutoProgress(4, verbose=1, desc="rows") as bar:
        bar.update(3)
    assert bar.bar is not None
    again = pickle.loads(pickle.dumps(bar))
    assert again.bar is None and again.done == 3 and again.total == 4
