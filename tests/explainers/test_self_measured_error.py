"""Amortized explainers measure their own error at fit, and warn when it is too high."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestRegressor
from sklxai_reference import marginal_reference, tanh_classifier_task

from sklxai import FastSHAP, SimSHAP
from sklxai.exceptions import AccuracyWarning
from sklxai.metrics import relative_error

FAST = dict(n_background=20, hidden_sizes=(32,), train_batch_size=64, device="cpu",
            random_state=0)


def _fit(est, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    return [w for w in caught if issubclass(w.category, AccuracyWarning)]


def _held_out(est, X):
    _, valid = est.net_.get_split_datasets(X.astype(np.float32))
    return np.sort(np.asarray(valid.indices))[: est.validation_rows]


def test_the_measured_error_is_the_brute_force_error_on_the_held_out_rows():
    X, model = tanh_classifier_task(300, 5, 3, 16, seed=1)
    est = SimSHAP(model, max_epochs=3, **FAST)
    _fit(est, X)
    rows = X[_held_out(est, X)]
    predict = lambda Z: model(torch.as_tensor(Z, dtype=torch.float32)).detach().numpy()  # noqa: E731
    truth = np.stack([marginal_reference(predict, x, est.background_) for x in rows])
    report = est.validation_report_
    assert report.reference == "exact" and report.noise == 0.0 and report.n_rows == len(rows)
    expected = relative_error(est.explain(rows).values, truth)
    assert est.validation_error_ == report.error
    assert report.error == pytest.approx(expected, rel=1e-4)  # float32 network
    lo, hi = report.interval
    assert lo <= report.error <= hi
    assert f"{report.error:.1%}" in report.describe() and "exact values" in report.describe()
    assert str(report) == report.describe() and repr(report).startswith("ErrorReport(")
    assert not any(hasattr(est, f"validation_{name}_")
                   for name in ("interval", "reference", "noise", "time"))


def test_the_warning_fires_when_the_error_is_high_and_not_when_it_is_low():
    X, model = tanh_classifier_task(400, 5, 3, 16, seed=2)
    caught = _fit(SimSHAP(model, max_epochs=1, tolerance=0.10, **FAST), X)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "above tolerance=10%" in message and "TreeShapley" in message
    relaxed = SimSHAP(model, max_epochs=1, tolerance=10.0, **FAST)
    assert _fit(relaxed, X) == [] and relaxed.validation_error_ > 0.10


def test_a_kernel_reference_measures_its_own_noise_and_tracks_the_true_error():
    X, model = tanh_classifier_task(300, 14, 6, 16, seed=3)  # 14 players: no enumeration
    est = FastSHAP(model, max_epochs=2, n_background=8, hidden_sizes=(32,), device="cpu",
                   random_state=0, validation_rows=12)
    _fit(est, X)
    assert est.validation_report_.reference == "kernel" and est.validation_report_.noise > 0
    rows = X[_held_out(est, X)]
    predict = lambda Z: model(torch.as_tensor(Z, dtype=torch.float32)).detach().numpy()  # noqa: E731
    truth = np.stack([marginal_reference(predict, x, est.background_) for x in rows[:4]])
    true_error = relative_error(est.explain(rows[:4]).values, truth)
    assert true_error / 1.5 < est.validation_error_ < true_error * 1.5
    # the reference's noise, from its own standard errors, is its actual error's size
    from sklxai.explainers._validation import game_reference

    Xt = est.game_.as_tensor(est._model_rows(rows[:4]))
    reference, noise = game_reference(est.game_, est._null, Xt, 14, "kernel", seed=0)
    actual = relative_error(reference.cpu().numpy().reshape(truth.shape), truth)
    assert noise / 2 < actual < noise * 2


def test_tree_models_are_checked_against_tree_shapley_and_no_check_costs_nothing(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    model = RandomForestRegressor(10, max_depth=4, random_state=0).fit(X, X[:, 0] * X[:, 1])
    est = SimSHAP(model, max_epochs=2, **FAST)
    _fit(est, X)
    assert est.validation_report_.reference == "tree" and est.validation_report_.seconds > 0
    est.save(tmp_path / "s.pt")
    loaded = SimSHAP.load(tmp_path / "s.pt", model, device="cpu")
    assert loaded.validation_error_ == est.validation_error_
    assert vars(loaded.validation_report_) == vars(est.validation_report_)
    assert loaded.validation_report_.describe() == est.validation_report_.describe()
    off = SimSHAP(model, max_epochs=2, validation_reference=None, **FAST)
    assert _fit(off, X) == [] and off.validation_error_ is None
    assert off.validation_report_ is None
    off.save(tmp_path / "off.pt")
    assert SimSHAP.load(tmp_path / "off.pt", model, device="cpu").validation_report_ is None


def test_the_report_shows_the_measured_error():
    from sklxai import make_report

    X, model = tanh_classifier_task(300, 5, 3, 16, seed=1)
    est = SimSHAP(model, max_epochs=1, **FAST)
    _fit(est, X)
    html = make_report(est.explain(X[:20]), explainer=est)
    assert "self-measured error (validation_error_)" in html
    assert f"{est.validation_error_:.1%}" in html


def test_tree_models_train_on_exact_tree_shapley_targets():
    from sklxai import TreeShapley

    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 5))
    model = RandomForestRegressor(20, max_depth=5, random_state=0).fit(
        X, X[:, 0] * (X[:, 1] > 0) + X[:, 2])
    kw = dict(FAST, max_epochs=20, validation_reference=None, min_epoch_rows=1)
    exact = SimSHAP(model, targets="auto", **kw)
    sampled = SimSHAP(model, targets="sampled", **kw)
    _fit(exact, X[:500])
    _fit(sampled, X[:500])
    assert exact.targets_ == "tree" and sampled.targets_ == "sampled"
    truth = TreeShapley(model, background=exact.background_, device="cpu").fit(X).explain(
        X[500:]).values
    assert relative_error(exact.explain(X[500:]).values, truth) < \
        relative_error(sampled.explain(X[500:]).values, truth)
    X6, torch_model = tanh_classifier_task(100, 5, 3, 8, seed=0)
    with pytest.raises(ValueError, match="targets='tree' needs a tree model"):
        SimSHAP(torch_model, targets="tree", **kw).fit(X6)


def test_small_fit_sets_are_completed_with_hybrid_rows_and_validated_on_real_ones():
    X, model = tanh_classifier_task(200, 5, 3, 16, seed=4)
    est = SimSHAP(model, max_epochs=1, augment=600, min_epoch_rows=1, **FAST)
    _fit(est, X)
    assert est.n_synthetic_rows_ == 600 - 180  # 180 training rows, completed to 600
    train, valid = (np.asarray(s.indices) for s in est.net_.get_split_datasets(
        np.zeros((len(X) + est.n_synthetic_rows_, 1), dtype=np.float32)))
    assert len(train) == 600 and valid.max() < len(X)  # validation: real rows only
    from sklxai.explainers._amortized import resolve_max_epochs

    assert resolve_max_epochs("auto", 5.0) == 10**6  # the time budget decides
    assert resolve_max_epochs("auto", None) == 100 and resolve_max_epochs(7, 5.0) == 7


def test_the_network_sees_a_tree_models_splits_and_keeps_them_when_saved(tmp_path):
    from sklxai import TreeShapley

    rng = np.random.default_rng(2)
    X = rng.normal(size=(800, 4))
    model = RandomForestRegressor(10, max_depth=4, random_state=0).fit(
        X, (X[:, 0] > 0.3) * 2.0 + (X[:, 1] < -0.5) * X[:, 2])
    kw = dict(FAST, max_epochs=15, validation_reference=None, min_epoch_rows=1, augment=None)
    splits = SimSHAP(model, **kw)
    plain = SimSHAP(model, tree_inputs=False, **kw)
    _fit(splits, X[:600])
    _fit(plain, X[:600])
    assert splits.tree_inputs_ and not plain.tree_inputs_
    truth = TreeShapley(model, background=splits.background_, device="cpu").fit(X).explain(
        X[600:]).values
    assert relative_error(splits.explain(X[600:]).values, truth) < \
        relative_error(plain.explain(X[600:]).values, truth)
    splits.save(tmp_path / "s.pt")
    loaded = SimSHAP.load(tmp_path / "s.pt", model, device="cpu")
    np.testing.assert_array_equal(loaded.explain(X[600:]).values, splits.explain(X[600:]).values)
