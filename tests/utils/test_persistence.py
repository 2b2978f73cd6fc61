"""save/load of every explainer: identical values, and clear refusals of bad files."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import sklxai
from sklxai import (
    ExactShapley,
    FastSHAP,
    IntegratedGradients,
    KernelSHAP,
    PermutationSHAP,
    SimSHAP,
)
from sklxai.utils import persistence

AMORTIZED = {"hidden_sizes": (16,), "max_epochs": 2, "n_coalitions": 8, "train_batch_size": 64}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3, n_redundant=0,
                               random_state=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    return net.double(), LogisticRegression().fit(X, y), X


CASES = {
    "exact": lambda m: ExactShapley(m),
    "kernel": lambda m: KernelSHAP(m, n_coalitions=16),
    "permutation": lambda m: PermutationSHAP(m, n_coalitions=12),
    "simshap": lambda m: SimSHAP(m, **AMORTIZED),
    "fastshap": lambda m: FastSHAP(m, **AMORTIZED),
    "ig": lambda m: IntegratedGradients(m, n_steps=8, baseline=np.zeros(5)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_explainer_round_trips_to_identical_values(case, data, tmp_path):
    net, _, X = data
    est = CASES[case](net).set_params(n_background=20, device="cpu", random_state=0).fit(X)
    path = tmp_path / "est.pt"
    est.save(path)
    loaded = type(est).load(path, net, device="cpu")
    assert loaded.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    np.testing.assert_array_equal(loaded.background_, est.background_)
    np.testing.assert_array_equal(loaded.transform(X[:6]), est.transform(X[:6]))
    # pickling keeps working for scikit-learn users (it runs code on load: trusted files only)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(X[:6]), est.transform(X[:6]))


def test_feature_names_and_surrogate_game_survive(data, tmp_path, monkeypatch):
    _, clf, X = data
    frame = pd.DataFrame(X, columns=list("abcde"))
    est = KernelSHAP(clf, game="surrogate", n_coalitions=16, n_background=20, device="cpu",
                     random_state=0)
    est.surrogate_max_epochs = 2  # keep the surrogate's training short
    est.fit(frame)
    est.save(tmp_path / "k.pt")

    def no_training(*args, **kwargs):
        raise AssertionError("load must not retrain the surrogate")

    from sklxai.games.surrogate import SurrogateGame

    monkeypatch.setattr(SurrogateGame, "fit", no_training)
    loaded = KernelSHAP.load(tmp_path / "k.pt", clf, device="cpu")
    assert list(loaded.feature_names_in_) == list("abcde")
    np.testing.assert_array_equal(loaded.transform(frame[:4]), est.transform(frame[:4]))
    with pytest.raises(ValueError, match=r"missing columns \['b'\]"):
        loaded.transform(frame[["b", "a", "c", "d", "e"]].rename(columns={"b": "z"}))


@pytest.fixture
def saved(data, tmp_path):
    net, _, X = data
    est = KernelSHAP(net, n_coalitions=16, n_background=20, device="cpu",
                     random_state=0).fit(X)
    path = tmp_path / "k.pt"
    est.save(path)
    return path, est, net


def test_truncated_file_is_refused(saved):
    path, _, net = saved
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a readable sklxai explainer file"):
        KernelSHAP.load(path, net)


def test_changed_bytes_are_refused(saved):
    path, est, net = saved
    raw = bytearray(path.read_bytes())
    at = bytes(raw).find(est.background_.tobytes())
    assert at > 0  # the background's float64 bytes are stored as they are
    raw[at + 3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted"):
        KernelSHAP.load(path, net)


def test_other_version_wrong_class_and_not_a_file(saved, tmp_path, monkeypatch):
    path, est, net = saved
    with pytest.raises(ValueError, match="holds a KernelSHAP, not a ExactShapley"):
        ExactShapley.load(path, net)
    monkeypatch.setattr(sklxai, "__version__", "0.0.7")
    est.save(tmp_path / "old.pt")
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"written by sklxai 0\.0\.7.*refit"):
        KernelSHAP.load(tmp_path / "old.pt", net)
    # a patch release keeps the format
    monkeypatch.setattr(sklxai, "__version__", sklxai.__version__ + "9")
    KernelSHAP.load(path, net)
    monkeypatch.undo()
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable"):
        KernelSHAP.load(tmp_path / "junk.pt", net)
    torch.save({"x": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a readable"):
        KernelSHAP.load(tmp_path / "other.pt", net)
    with pytest.raises(FileNotFoundError):
        KernelSHAP.load(tmp_path / "missing.pt", net)


def test_model_with_other_outputs_is_refused(saved):
    path, _, _ = saved
    other = torch.nn.Linear(5, 3).double()
    with pytest.raises(ValueError, match="3 outputs but the saved explainer was fitted for 2"):
        KernelSHAP.load(path, other)


def test_unsaveable_parameters_and_raw_frames_are_refused(data, tmp_path):
    net, _clf, X = data
    est = SimSHAP(net, module=torch.nn.Linear(5, 10), **AMORTIZED, n_background=20,
                  device="cpu", random_state=0).fit(X)
    est.save(tmp_path / "s.pt")  # the module is code: not saved, asked for on load
    with pytest.raises(ValueError, match="custom module; pass it again"):
        SimSHAP.load(tmp_path / "s.pt", net)
    loaded = SimSHAP.load(tmp_path / "s.pt", net, module=torch.nn.Linear(5, 10), device="cpu")
    np.testing.assert_array_equal(loaded.transform(X[:3]), est.transform(X[:3]))

    bad = KernelSHAP(net, n_coalitions=16, n_background=20, device="cpu").fit(X)
    bad.batch_size = lambda: 1  # code, not a plain value
    with pytest.raises(ValueError, match="cannot store the parameter batch_size"):
        bad.save(tmp_path / "b.pt")

    # raw columns are explained through an encoder: saved with joblib instead
    raw = pd.DataFrame({"a": X[:, 0], "c": np.where(X[:, 1] > 0, "u", "v")})
    pipe = make_pipeline(make_column_transformer((OneHotEncoder(), ["c"]),
                                                 remainder="passthrough"),
                         LogisticRegression()).fit(raw, X[:, 2] > 0)
    est = ExactShapley(pipe, n_background=10, device="cpu").fit(raw)
    with pytest.raises(ValueError, match="joblib.dump"):
        est.save(tmp_path / "raw.pt")


def test_digest_covers_shape_and_dtype():
    a = torch.arange(6, dtype=torch.float32)
    assert persistence._digest(a) != persistence._digest(a.reshape(2, 3))
    assert persistence._digest(a) != persistence._digest(a.view(torch.int32))
    assert persistence._digest(torch.tensor(3)) == persistence._digest(torch.tensor(3))


def _fitted_attributes(est):
    return sorted(name for name in vars(est) if name.endswith("_") and not name.startswith("_"))


AMORTIZED_CASES = {
    "simshap": lambda X, models: (SimSHAP(models[0], **AMORTIZED), models[0]),
    "fastshap-no-budget": lambda X, models: (
        FastSHAP(models[0], **dict(AMORTIZED, max_time=None, background_samples=4)), models[0]),
    # a boosted classifier's probabilities: exact game targets for the rows a budget affords
    "simshap-exact-targets": lambda X, models: (
        SimSHAP(models[1], targets="exact", augment=None, **dict(AMORTIZED, max_time=0.05)),
        models[1]),
}


@pytest.mark.parametrize("case", list(AMORTIZED_CASES))
def test_amortized_load_restores_every_fitted_attribute(case, data, tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from skorch.history import History

    net, _, X = data
    boosted = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, X[:, 0] > 0)
    est, model = AMORTIZED_CASES[case](X, (net, boosted))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short trainings: their accuracy warnings
        est.set_params(n_background=20, device="cpu", random_state=0, verbose=0).fit(X)
    est.save(tmp_path / "a.pt")
    loaded = type(est).load(tmp_path / "a.pt", model, device="cpu")

    assert _fitted_attributes(loaded) == _fitted_attributes(est)
    plain = (str, bool, int, float, type(None), np.integer, np.floating)
    for name in _fitted_attributes(est):  # every plain one as it was, whatever fit adds
        value = getattr(est, name)
        if isinstance(value, plain):
            assert getattr(loaded, name) == value, name
    # the training's description, as fit resolved it
    for name in ("max_time_", "background_samples_", "validation_rows_", "targets_",
                 "exact_target_rows_", "max_epochs_", "n_synthetic_rows_", "refresh_every_",
                 "fit_time_", "tree_inputs_", "validation_error_", "n_features_in_",
                 "n_outputs_"):
        assert getattr(loaded, name) == getattr(est, name), name
    assert vars(loaded.validation_report_) == vars(est.validation_report_)
    if case == "simshap-exact-targets":
        assert loaded.targets_ == "exact" and isinstance(loaded.exact_target_rows_, int)
        assert loaded.max_time_ == 0.05
    else:
        assert loaded.exact_target_rows_ is None
    if case == "fastshap-no-budget":
        assert loaded.max_time_ is None and loaded.background_samples_ == 4
    # the losses per epoch, and the trainer around the loaded network
    assert isinstance(loaded.history_, History)
    assert list(loaded.history_) == list(est.history_)
    assert 1 <= len(loaded.history_) <= est.max_epochs_ == 2  # a budget may stop at epoch 1
    assert loaded.net_.history is loaded.history_
    assert loaded.net_.module_ is loaded.module_
    assert type(loaded.net_) is type(est.net_)
    for key, value in est.module_.state_dict().items():
        assert torch.equal(loaded.module_.state_dict()[key], value)
    np.testing.assert_array_equal(loaded.expected_value_, est.expected_value_)
    np.testing.assert_array_equal(loaded.transform(X[:5]), est.transform(X[:5]))


def test_files_without_the_training_attributes_still_load(data, tmp_path):
    net, _, X = data
    # the networks of those files saw the rows alone
    est = SimSHAP(net, **AMORTIZED, n_background=20, output_inputs=False, device="cpu",
                  random_state=0, verbose=0).fit(X)
    est.save(tmp_path / "new.pt")
    meta, tensors = persistence.read_state(tmp_path / "new.pt", "SimSHAP")
    for key in ("fitted", "history", "checksums", "format", "sklxai_version"):
        meta.pop(key)  # what files written before these were saved lack
    persistence.write_state(tmp_path / "old.pt", meta, tensors)
    loaded = SimSHAP.load(tmp_path / "old.pt", net, device="cpu")
    assert loaded.fit_time_ == est.fit_time_ and len(loaded.history_) == 0
    assert not hasattr(loaded, "max_time_") and not hasattr(loaded, "net_")
    np.testing.assert_array_equal(loaded.transform(X[:3]), est.transform(X[:3]))


@pytest.mark.parametrize("background_samples", ["auto", 4])
def test_files_without_the_validation_background_rows_get_the_former_rule(
        background_samples, data, tmp_path):
    # files written before validation_background_samples_ was saved: the validation averaged
    # the training's background rows where "auto" resolved them, else the whole background
    net, _, X = data
    est = SimSHAP(net, **AMORTIZED, n_background=20, background_samples=background_samples,
                  device="cpu", random_state=0, verbose=0).fit(X)
    est.save(tmp_path / "new.pt")
    meta, tensors = persistence.read_state(tmp_path / "new.pt", "SimSHAP")
    for key in ("checksums", "format", "sklxai_version"):
        meta.pop(key)
    del meta["fitted"]["validation_background_samples_"]
    meta["fitted"]["background_samples_"] = 3
    persistence.write_state(tmp_path / "old.pt", meta, tensors)
    loaded = SimSHAP.load(tmp_path / "old.pt", net, device="cpu")
    expected = 3 if background_samples == "auto" else None
    assert loaded.validation_background_samples_ == expected
    assert loaded.net_.valid_background_samples == expected
