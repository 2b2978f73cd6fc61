"""The progress bar over explained rows moves within a chunk of rows, and never changes values."""

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from sklxai import KernelSHAP, PermutationSHAP, ShapleySampler
from sklxai.explainers import _shapley
from sklxai.utils.callbacks import AutoProgress


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, n_redundant=0,
                               random_state=0)
    return X, LogisticRegression().fit(X, y)


@pytest.fixture
def updates(monkeypatch):
    """The units of every update of a progress bar over explained rows, in order."""
    seen = []
    update = AutoProgress.update

    def recording(self, n=1, **postfix):
        if self.unit == "rows":
            seen.append(n)
        return update(self, n, **postfix)

    monkeypatch.setattr(AutoProgress, "update", recording)
    return seen


CASES = {
    "kernel": lambda m, **kw: KernelSHAP(m, n_coalitions=64, **kw),
    "permutation": lambda m, **kw: PermutationSHAP(m, n_coalitions=50, **kw),
    "sampler": lambda m, **kw: ShapleySampler(m, n_coalitions=64, **kw),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bar_advances_within_one_chunk_and_values_do_not_change(case, data, updates, capsys):
    X, clf = data
    rows = X[:40]
    # 40 rows fit in one chunk; batch_size=32 model rows per call: many calls in that chunk
    assert len(rows) * 64 * 2 <= _shapley._VALUES_PER_CHUNK
    values = {}
    for verbose in (1, 0):
        est = CASES[case](clf, n_background=10, batch_size=32, device="cpu", random_state=0,
                          verbose=verbose).fit(X)
        updates.clear()
        values[verbose] = est.explain(rows).values
        counts = list(updates)
        assert sum(counts) == len(rows)
        assert len(counts) >= 10  # not one update at the chunk's end: many within it
        if verbose:
            err = capsys.readouterr().err
            assert f"{type(est).__name__}:" in err and f"/{len(rows)} [" in err  # a bar shown
    np.testing.assert_array_equal(values[1], values[0])  # bitwise, verbose or not


def test_tree_game_reports_within_a_chunk(data, updates, monkeypatch):
    from sklxai.games.trees import game as tree_game

    X, _ = data
    # coalition tables of 8 rows at a time (2**6 coalitions x 10 background rows each): the
    # 40 rows' values come in 5 parts
    y = X @ np.arange(6.0)
    gbr = GradientBoostingRegressor(n_estimators=5, max_depth=2, random_state=0).fit(X, y)
    est = KernelSHAP(gbr, n_coalitions=64, n_background=10, device="cpu", random_state=0,
                     verbose=0).fit(X)
    updates.clear()
    monkeypatch.setattr(tree_game, "_TABLE_ELEMENTS", 2**6 * 10 * 8)
    est.explain(X[:40])
    assert est.game_.from_trees_  # the values came from the trees' tables, not model calls
    assert updates == [8] * 5


def test_several_chunks_each_credited_in_full(data, updates, monkeypatch):
    X, clf = data
    monkeypatch.setattr(_shapley, "_MAX_ROWS_PER_CHUNK", 16)  # 40 rows: chunks 16, 16, 8
    est = KernelSHAP(clf, n_coalitions=64, n_background=10, batch_size=32, device="cpu",
                     random_state=0, verbose=0).fit(X)
    updates.clear()
    est.explain(X[:40])
    done = np.cumsum(updates)
    assert done[-1] == 40
    assert {16, 32, 40} <= set(done)  # each chunk ends credited whole, never past its rows
    assert len(updates) > 3


def test_chunks_run_in_other_threads_are_credited_when_done(data, updates):
    X, clf = data
    est = KernelSHAP(clf, n_coalitions=64, n_background=10, batch_size=32, device="cpu",
                     random_state=0, verbose=0).fit(X)
    expected = est.explain(X[:40]).values
    updates.clear()
    with parallel_config(backend="threading", n_jobs=2):
        got = est.explain(X[:40]).values
    assert updates == [40]  # the chunk's reports stay in its worker; the whole chunk at its end
    np.testing.assert_array_equal(got, expected)


def test_auto_opens_the_bar_within_the_first_chunk(data, monkeypatch, capsys):
    from sklxai.utils import callbacks

    X, clf = data
    opened_at = []
    update = AutoProgress.update

    def recording(self, n=1, **postfix):
        update(self, n, **postfix)
        if self.unit == "rows" and self.bar is not None and not opened_at:
            opened_at.append(self.done)

    monkeypatch.setattr(AutoProgress, "update", recording)
    # every job "expected" to take longer than the threshold: the bar opens at the first
    # report, which is within the chunk, before its 40 rows are done
    monkeypatch.setattr(callbacks, "PROGRESS_SECONDS", 0.0)
    est = KernelSHAP(clf, n_coalitions=64, n_background=10, batch_size=32, device="cpu",
                     random_state=0).fit(X)
    assert est.verbose == "auto"
    est.explain(X[:40])
    assert len(opened_at) == 1 and 0 < opened_at[0] < 40
    assert "KernelSHAP:" in capsys.readouterr().err
