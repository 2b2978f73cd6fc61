"""C3LT on problems small enough to check by hand: two Gaussian blobs and a linear classifier,
0-vs-1 digits as images; metrics against numpy; parameters and hostile input."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

import sklxai
from sklxai_c3lt import C3LT, counterfactual_scores, proximity, realism, validity
from sklxai_c3lt.networks import LatentMap

SMALL = {"latent_dim": 2, "hidden_size": 16, "autoencoder_steps": 150, "map_steps": 600,
         "train_batch_size": 32, "autoencoder_lr": 1e-2, "lr": 5e-2, "device": "cpu",
         "random_state": 0}


def _blobs(n=80, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(-1.5, 0.4, (n, d)), rng.normal(1.5, 0.4, (n, d))])
    return X, np.repeat([0, 1], n)


def _linear(d=4):
    clf = torch.nn.Linear(d, 2).double()
    with torch.no_grad():
        clf.weight.copy_(torch.tensor([[-1.0] * d, [1.0] * d]))
        clf.bias.zero_()
    return clf


@pytest.fixture(scope="module")
def blobs():
    X, y = _blobs()
    return X, y, C3LT(_linear(), **SMALL).fit(X, y)


def test_registered_under_its_name():
    assert sklxai.get_explainer("c3lt") is C3LT


def test_shapes_and_values_are_counterfactual_minus_query(blobs):
    X, y, est = blobs
    queries = X[y == 0][:7]
    exp = est.explain(queries)
    X_cf, classes = est.counterfactuals(queries)
    assert exp.values.shape == queries.shape == X_cf.shape
    assert exp.base_values.shape == exp.output.shape == (7,)
    assert exp.output_names == [1]
    np.testing.assert_allclose(exp.values, X_cf - queries, atol=1e-12)
    np.testing.assert_array_equal(exp.data, queries)
    assert est.transform(queries).shape == (7, 4)
    # base values: target probability at the query; output: at the counterfactual
    proba = lambda R: torch.softmax(_linear()(torch.as_tensor(R)), 1)[:, 1].detach().numpy()
    np.testing.assert_allclose(exp.base_values, proba(queries), atol=1e-6)
    np.testing.assert_allclose(exp.output, proba(X_cf), atol=1e-6)
    assert classes.dtype.kind == "i" and set(classes) <= {0, 1}


def test_valid_on_an_easy_problem_and_reported_on_held_out_rows(blobs):
    X, y, est = blobs
    assert est.validation_scores_["n"] == 16  # 20% of the 80 source rows
    # measured: 15 of the 16 held-out rows, 80 of 80 fresh ones (short training)
    assert est.validation_scores_["validity"] >= 0.9
    X_new, y_new = _blobs(seed=1)
    assert est.score(X_new[y_new == 0]) >= 0.9


def test_evaluate_matches_a_hand_computation(blobs):
    X, y, est = blobs
    queries = X[y == 0][:10]
    X_cf, classes = est.counterfactuals(queries)
    ref = est.reference_
    np.testing.assert_array_equal(ref, X[y == 1])
    nearest = np.sqrt(((X_cf[:, None, :] - ref[None]) ** 2).sum(-1)).min(axis=1)
    scores = est.evaluate(queries)
    assert scores["validity"] == np.mean(classes == 1)
    assert scores["l1"] == pytest.approx(np.abs(X_cf - queries).sum(1).mean())
    assert scores["l2"] == pytest.approx(np.sqrt(((X_cf - queries) ** 2).sum(1)).mean())
    assert scores["realism"] == pytest.approx(nearest.mean())


def test_metric_functions_by_hand():
    X = np.array([[0.0, 0.0], [1.0, 1.0]])
    X_cf = np.array([[3.0, 4.0], [1.0, 0.0]])
    np.testing.assert_allclose(proximity(X, X_cf, ord=1), [7.0, 1.0])
    np.testing.assert_allclose(proximity(X, X_cf, ord=2), [5.0, 1.0])
    np.testing.assert_allclose(realism(X_cf, [[3.0, 3.0], [0.0, 0.0]]), [1.0, 1.0])
    assert validity(["a", "b"], "a") == 0.5
    s = counterfactual_scores(X, X_cf, [1, 0], 1, [[1.0, 0.0]])
    assert (s["validity"], s["l1"], s["l2"], s["n"]) == (0.5, 4.0, 3.0, 2)
    assert s["realism"] == pytest.approx((np.sqrt(4 + 16) + 0.0) / 2)
    with pytest.raises(ValueError, match="same shape"):
        proximity(X, X_cf[:1])


def test_training_lowers_the_loss_and_makes_the_maps_cycle_consistent(blobs):
    X, y, est = blobs
    losses = est.maps_.history[:, "train_loss"]
    assert losses[-1] < 0.5 * losses[0]
    z = est.encoder_(torch.as_tensor(X[y == 0], dtype=torch.float32)).detach()
    trained = (est.h_(est.g_(z)) - z).abs().mean().item()
    torch.manual_seed(0)
    g, h = LatentMap(2), LatentMap(2)
    untrained = (h(g(z)) - z).abs().mean().item()
    assert trained < 0.5 * untrained
    assert trained < 0.2 * z.abs().mean().item()


def test_same_random_state_same_counterfactuals():
    X, y = _blobs(n=30)
    small = {**SMALL, "map_steps": 60, "autoencoder_steps": 60}
    a = C3LT(_linear(), **small).fit(X, y).transform(X[:5])
    b = C3LT(_linear(), **small).fit(X, y).transform(X[:5])
    np.testing.assert_array_equal(a, b)


class _Scale(torch.nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def test_user_encoder_and_decoder_are_used_frozen_and_copied():
    X, y = _blobs(n=40)
    enc, dec = _Scale(0.5), _Scale(2.0)
    est = C3LT(_linear(), encoder=enc, decoder=dec, map_steps=300, train_batch_size=32, lr=5e-2,
               device="cpu", random_state=0).fit(X, y)
    assert est.autoencoder_ is None
    assert est.encoder_ is not enc and isinstance(est.encoder_, _Scale)
    assert est.score(X[y == 0]) == 1.0
    with pytest.raises(ValueError, match="decoder\\(encoder\\(x\\)\\) must give"):
        C3LT(_linear(), encoder=_Scale(1.0), decoder=torch.nn.Linear(4, 3), map_steps=1,
             device="cpu").fit(X, y)


def test_images_keep_their_shape():
    from sklearn.datasets import load_digits

    digits = load_digits(n_class=2)
    X = (digits.images / 16.0)[:, None]
    y = digits.target
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(256, 2))
    opt = torch.optim.Adam(cnn.parameters(), lr=1e-2)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(cnn(Xt), yt).backward()
        opt.step()
    est = C3LT(cnn, source_class=0, target_class=1, latent_dim=4, hidden_size=32,
               autoencoder_steps=300, map_steps=300, autoencoder_lr=1e-2, lr=1e-2, device="cpu",
               random_state=0).fit(X, y)
    exp = est.explain(X[y == 0][:5])
    assert exp.values.shape == (5, 1, 8, 8)
    X_cf, classes = est.counterfactuals(X[y == 0][:5])
    assert X_cf.shape == (5, 1, 8, 8)
    assert est.validation_scores_["validity"] >= 0.9
    # decoded images stay in the data's range
    assert X_cf.min() >= 0.0 and X_cf.max() <= 1.0
    with pytest.raises(ValueError, match="X"):
        est.explain(X[:3, :, :4])


def test_get_params_and_clone():
    est = C3LT(_linear(), source_class=1, target_class=0, alpha=0.3, random_state=2)
    params = est.get_params()
    assert params["alpha"] == 0.3 and params["source_class"] == 1 and "target" not in params
    twin = clone(est)
    assert twin.get_params()["alpha"] == 0.3 and twin.model is est.model
    assert est.target == 0  # what sklxai's machinery explains


@pytest.mark.parametrize("params, error, match", [
    ({"target_class": 5}, ValueError, "target=5 is out of range"),
    ({"source_class": 7}, ValueError, "source_class: target=7 is out of range"),
    ({"source_class": 1, "target_class": 1}, ValueError, "are the same output"),
    ({"encoder": _Scale(1.0)}, ValueError, "encoder and decoder go together"),
    ({"alpha": -1.0}, ValueError, "alpha must be"),
    ({"latent_dim": 0}, ValueError, "latent_dim must be >= 1"),
    ({"validation_fraction": 1.0}, ValueError, "validation_fraction must be"),
    ({"target_class": [0, 1]}, ValueError, "target_class must be one output"),
])
def test_bad_parameters_are_refused_naming_them(params, error, match):
    X, y = _blobs(n=10)
    with pytest.raises(error, match=match):
        C3LT(_linear(), **{**SMALL, **params}).fit(X, y)


def test_hostile_data_is_refused_clearly():
    X, y = _blobs(n=10)
    with pytest.raises(ValueError, match="no rows of source_class 0 \\(labels from y\\)"):
        C3LT(_linear(), **SMALL).fit(X[y == 1], y[y == 1])
    with pytest.raises(ValueError, match="no rows of target_class 1 \\(labels predicted"):
        C3LT(_linear(), **SMALL).fit(X[y == 0])
    with pytest.raises(ValueError, match="y must hold one label per row"):
        C3LT(_linear(), **SMALL).fit(X, y[:3])
    with pytest.raises(TypeError, match="model must be a skorch net or a torch.nn.Module"):
        C3LT(LogisticRegression().fit(X, y), **SMALL).fit(X, y)
    est = C3LT(_linear(), **{**SMALL, "map_steps": 1, "autoencoder_steps": 1}).fit(X, y)
    with pytest.raises(ValueError, match="X"):
        est.explain(X[:, :3])
    with pytest.raises(ValueError, match="X has n_samples=1"):
        C3LT(_linear(), **SMALL).fit(X[:1])
    with pytest.raises(ValueError, match="X holds values up to .* torch.float32"):
        est.counterfactuals(X[:2] * 1e300)  # the networks compute in float32
    with pytest.raises(ValueError, match="encoder and decoder failed on float32 inputs"):
        C3LT(_linear(), encoder=torch.nn.Linear(4, 2).double(),
             decoder=torch.nn.Linear(2, 4).double(), **SMALL).fit(X, y)


def test_a_pipeline_is_refused_naming_the_model():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skorch import NeuralNetClassifier

    X, y = _blobs(n=10)
    net = NeuralNetClassifier(torch.nn.Linear(4, 2), criterion=torch.nn.CrossEntropyLoss,
                              max_epochs=1)
    pipe = make_pipeline(StandardScaler(), net).fit(X.astype(np.float32), y)
    with pytest.raises(TypeError, match="model must be a skorch net or a torch.nn.Module "
                                        "fitted on numeric inputs \\(not a Pipeline"):
        C3LT(pipe, **SMALL).fit(X, y)


# ------------------------------------------------------------------------------------ save/load
def test_save_and_load_give_the_same_counterfactuals_without_retraining(blobs, tmp_path,
                                                                         monkeypatch):
    X, y, est = blobs
    path = tmp_path / "c3lt.pt"
    est.save(path)
    import sklxai_c3lt.c3lt as module

    def no_training(*args, **kwargs):
        raise AssertionError("load trained a network")

    monkeypatch.setattr(module, "fit_autoencoder", no_training)
    monkeypatch.setattr(module, "fit_maps", no_training)
    model = _linear()
    state = torch.get_rng_state()
    loaded = C3LT.load(path, model, device="cpu")
    assert torch.equal(torch.get_rng_state(), state)  # the caller's torch seed is untouched
    queries = X[y == 0][:10]
    np.testing.assert_array_equal(loaded.counterfactuals(queries)[0],
                                  est.counterfactuals(queries)[0])
    a, b = est.explain(queries), loaded.explain(queries)
    for field in ("values", "base_values", "output", "data"):
        np.testing.assert_array_equal(getattr(b, field), getattr(a, field))
    np.testing.assert_array_equal(loaded.reference_, est.reference_)
    assert loaded.validation_scores_ == est.validation_scores_
    assert loaded.evaluate(queries) == est.evaluate(queries)
    assert loaded.get_params()["alpha"] == est.alpha and loaded.target == 1
    assert loaded.autoencoder_ is not None
    np.testing.assert_array_equal(loaded.maps_.history[:, "train_loss"],
                                  est.maps_.history[:, "train_loss"])
    np.testing.assert_array_equal(loaded.autoencoder_.history[:, "train_loss"],
                                  est.autoencoder_.history[:, "train_loss"])


def test_load_refuses_a_model_that_does_not_match(blobs, tmp_path):
    est = blobs[2]
    path = tmp_path / "c3lt.pt"
    est.save(path)
    with pytest.raises(ValueError, match="failed on rows of X with 4 features"):
        C3LT.load(path, _linear(d=3), device="cpu")
    three = torch.nn.Linear(4, 3).double()
    with pytest.raises(ValueError, match="3 outputs but the saved explainer was fitted for 2"):
        C3LT.load(path, three, device="cpu")
    with pytest.raises(ValueError, match="do not pass encoder and decoder"):
        C3LT.load(path, _linear(), device="cpu", encoder=_Scale(1.0), decoder=_Scale(1.0))


def test_save_and_load_with_a_users_encoder_and_decoder(tmp_path):
    X, y = _blobs(n=40)
    enc, dec = torch.nn.Linear(4, 3), torch.nn.Linear(3, 4)
    with torch.no_grad():  # a lossy but invertible-enough generative model
        enc.weight.copy_(torch.eye(3, 4)), dec.weight.copy_(torch.eye(4, 3))
        enc.bias.zero_(), dec.bias.zero_()
    est = C3LT(_linear(), encoder=enc, decoder=dec, map_steps=20, train_batch_size=32,
               lr=5e-2, device="cpu", random_state=0).fit(X, y)
    path = tmp_path / "c3lt.pt"
    est.save(path)  # the modules are not parameters it saves
    with pytest.raises(ValueError, match="pass them again"):
        C3LT.load(path, _linear(), device="cpu")
    loaded = C3LT.load(path, _linear(), device="cpu", encoder=enc, decoder=dec)
    assert loaded.autoencoder_ is None and loaded.encoder is enc
    np.testing.assert_array_equal(loaded.transform(X[:6]), est.transform(X[:6]))
    with pytest.raises(ValueError, match="the encoder passed to load does not match"):
        C3LT.load(path, _linear(), device="cpu", encoder=torch.nn.Linear(4, 2),
                  decoder=torch.nn.Linear(2, 4))
