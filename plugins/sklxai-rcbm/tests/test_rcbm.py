"""RelationalCBMClassifier: registration, shapes, concepts, interventions, explanations, errors."""

import pickle

import numpy as np
import pytest
import sklxai
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score

from sklxai_rcbm import RelationalCBMClassifier, make_rps_digits

SMALL = {"hidden_size": 16, "embedding_size": 8, "batch_size": 64, "lr": 0.02, "random_state": 0}


def _bits(n=300, n_entities=2, seed=0):
    """Entities with one hidden bit each, seen through 3 noisy columns.

    Concept ``on(e)`` is the bit; relation ``same(e_i, e_j)`` says two bits are equal; the
    task is the XOR of the first two bits (not linear in the concepts).
    """
    rng = np.random.RandomState(seed)
    bits = rng.randint(0, 2, size=(n, n_entities))
    X = np.repeat(2.0 * bits - 1, 3, axis=1) + 0.3 * rng.randn(n, 3 * n_entities)
    y = bits[:, 0] ^ bits[:, 1]
    concepts = bits[:, :, None].astype(float)
    same = (bits[:, :, None] == bits[:, None, :]).astype(float)[..., None]
    return X, y, concepts, same


@pytest.fixture(scope="module")
def bits_model():
    X, y, concepts, same = _bits()
    model = RelationalCBMClassifier(max_epochs=40, concept_names=["on"], relation_names=["same"],
                                    entity_names=["a", "b"], **SMALL)
    return model.fit(X, y, concepts=concepts, relation_concepts=same), (X, y, concepts, same)


@pytest.fixture(scope="module")
def rps():
    train = make_rps_digits(1500, subset="train", random_state=0)
    test = make_rps_digits(600, subset="test", random_state=0)
    model = RelationalCBMClassifier(max_epochs=15, concept_names=train.concept_names,
                                    entity_names=train.entity_names, **SMALL)
    return model.fit(train.data, train.target, concepts=train.concepts), test


# ---------------------------------------------------------------------- plugin
def test_registered_as_a_model_plugin():
    assert sklxai.get_model("rcbm") is RelationalCBMClassifier
    assert sklxai.get_model("sklxai-rcbm:rcbm") is RelationalCBMClassifier
    info = sklxai.list_models(refresh=True)["rcbm"]
    assert info.distribution == "sklxai-rcbm"
    assert info.value == "sklxai_rcbm.classifier:RelationalCBMClassifier"
    assert sklxai.list_models(validate=True)["rcbm"].status == "ok"


# ---------------------------------------------------------------------- shapes and names
def test_shapes_and_names(bits_model):
    model, (X, *_) = bits_model
    assert model.classes_.tolist() == [0, 1]
    assert (model.n_features_in_, model.n_entity_features_) == (6, 3)
    assert (model.n_concepts_, model.n_relations_) == (1, 1)
    assert model.atom_names_ == ["on(a)", "on(b)", "same(a,b)", "same(b,a)"]
    assert len(model.term_names_) == 4 + 6 and model.term_names_[4] == "on(a) & on(b)"
    assert model.head_weights_.shape == (2, 10) and model.head_bias_.shape == (2,)
    proba = model.predict_proba(X[:7])
    assert proba.shape == (7, 2) and np.allclose(proba.sum(axis=1), 1)
    c, r = model.predict_concepts(X[:7])
    assert c.shape == (7, 2, 1) and r.shape == (7, 2, 2, 1)
    assert np.isnan(r[:, [0, 1], [0, 1]]).all() and not np.isnan(r[:, [0, 1], [1, 0]]).any()
    assert ((c >= 0) & (c <= 1)).all()


def test_concepts_and_relations_are_learned(bits_model):
    model, _ = bits_model
    X_new, y_new, c_new, s_new = _bits(n=200, seed=1)
    c, r = model.predict_concepts(X_new)
    assert np.mean((c > 0.5) == c_new) > 0.97
    off = ~np.eye(2, dtype=bool)
    assert np.mean((r[:, off] > 0.5) == s_new[:, off]) > 0.95
    assert model.score(X_new, y_new) > 0.9


def test_explanation_is_exact_and_sliceable(bits_model):
    model, (X, *_) = bits_model
    exp = model.explain(X[:5])
    assert isinstance(exp, sklxai.Explanation) and exp.method == "rcbm"
    assert exp.values.shape == (5, 4, 2) and exp.base_values.shape == (5, 2)
    assert exp.feature_names == model.atom_names_ and exp.output_names == [0, 1]
    assert exp.efficiency_gap < 1e-10
    assert np.allclose(exp.output, np.log(model.predict_proba(X[:5]))
                       - np.log(model.predict_proba(X[:5]))[:, :1] + exp.output[:, :1])
    one = model.explain(X[:5], target=1)
    assert one.values.shape == (5, 4) and np.allclose(one.values, exp.values[:, :, 1])
    rows = model.explain(X[:5], target=np.array([0, 1, 0, 1, 0]))
    assert np.allclose(rows.values[1], exp.values[1, :, 1])
    assert rows.efficiency_gap < 1e-10
    assert exp[:, "on(a)"].values.shape == (5, 2)


def test_partial_concept_labels_and_cross_validation():
    X, y, concepts, _ = _bits(n=200)
    concepts = concepts.copy()
    concepts[::2] = np.nan  # half of the rows without concept labels
    model = RelationalCBMClassifier(max_epochs=5, **SMALL)
    scores = cross_val_score(model, X, y, cv=2, params={"concepts": concepts})
    assert scores.shape == (2,) and np.isfinite(scores).all()
    fitted = clone(model).fit(X, y, concepts=concepts)
    assert fitted.concepts_supervised_ and not fitted.relations_supervised_
    assert fitted.n_relations_ == 0 and fitted.atom_names_ == ["c0(e0)", "c0(e1)"]


def test_unsupervised_atoms_when_counts_are_given():
    X, y, _, _ = _bits(n=100)
    model = RelationalCBMClassifier(n_concepts=2, n_relations=1, max_epochs=2, **SMALL)
    model.fit(X, y)
    assert not model.concepts_supervised_ and model.n_concepts_ == 2
    assert model.predict_concepts(X)[1].shape == (100, 2, 2, 1)


def test_refit_is_reproducible_and_pickles(bits_model):
    model, (X, y, concepts, same) = bits_model
    again = clone(model).fit(X, y, concepts=concepts, relation_concepts=same)
    assert np.allclose(again.predict_proba(X), model.predict_proba(X))
    loaded = pickle.loads(pickle.dumps(model))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X))


# ---------------------------------------------------------------------- hand-built head
def _rps_rule_head(model, strength=10.0):
    """Set the head to the rock-paper-scissors rule table: the class of each gesture pair
    gets ``strength`` on its conjunction, every other weight and bias is 0."""
    import torch

    gestures = ["rock", "paper", "scissors"]
    outcome = {0: "tie", 1: "win", 2: "lose"}
    W = np.zeros_like(model.head_weights_)
    for ga, a in enumerate(gestures):
        for gb, b in enumerate(gestures):
            k = list(model.classes_).index(outcome[(ga - gb) % 3])
            W[k, model.term_names_.index(f"{a}(a) & {b}(b)")] = strength
    head = model.net_.module_.head
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(W))
        head.bias.zero_()
    return strength


def test_hand_built_head_explanation_and_rules():
    data = make_rps_digits(60, random_state=0)
    model = RelationalCBMClassifier(max_epochs=1, concept_names=data.concept_names,
                                    entity_names=data.entity_names, **SMALL)
    model.fit(data.data, data.target, concepts=data.concepts)
    w = _rps_rule_head(model)
    # with the true gestures set, the rule head is the game itself
    assert (model.intervene(data.data, concepts=data.concepts) == data.target).all()
    assert model.head_rules(1)["win"] in ([("paper(a) & rock(b)", w)],
                                          [("scissors(a) & paper(b)", w)],
                                          [("rock(a) & scissors(b)", w)])
    assert {t for t, _ in model.head_rules(3)["win"]} == {
        "paper(a) & rock(b)", "scissors(a) & paper(b)", "rock(a) & scissors(b)"}
    # paper (a) against rock (b): only that conjunction is on; its weight splits evenly
    paper_rock = np.zeros((1, 2, 3))
    paper_rock[0, 0, 1] = paper_rock[0, 1, 0] = 1
    exp = model.explain(data.data[:1], target="win", concepts=paper_rock)
    expected = dict.fromkeys(model.atom_names_, 0.0)
    expected.update({"paper(a)": w / 2, "rock(b)": w / 2})
    assert np.allclose(exp.values[0], [expected[a] for a in model.atom_names_])
    assert np.allclose(exp.base_values, 0) and np.allclose(exp.output, w)
    lose = model.explain(data.data[:1], target="lose", concepts=paper_rock)
    assert np.allclose(lose.values, 0)
    # swap: rock (a) against paper (b) loses
    rock_paper = paper_rock[:, ::-1]
    assert model.intervene(data.data[:1], concepts=rock_paper).tolist() == ["lose"]


# ---------------------------------------------------------------------- interventions
def test_rcbm_solves_rps_and_interventions_fix_errors(rps):
    model, test = rps
    c, _ = model.predict_concepts(test.data)
    assert np.mean(c.argmax(-1) == test.concepts.argmax(-1)) > 0.9
    pred = model.predict(test.data)
    assert np.mean(pred == test.target) > 0.85
    fixed = model.intervene(test.data, concepts=test.concepts)
    wrong = pred != test.target
    assert wrong.any() and np.mean(fixed[wrong] == test.target[wrong]) > 0.9
    assert np.mean(fixed == test.target) > np.mean(pred == test.target)


@pytest.mark.parametrize("a, b, outcome", [(1, 0, "win"), (0, 1, "lose"), (2, 2, "tie"),
                                           (0, 2, "win"), (2, 0, "lose")])
def test_interventions_move_predictions_the_right_way(rps, a, b, outcome):
    model, test = rps
    forced = np.zeros((len(test.data), 2, 3))
    forced[:, 0, a] = forced[:, 1, b] = 1
    assert np.mean(model.intervene(test.data, concepts=forced) == outcome) > 0.95
    proba = model.intervene_proba(test.data, concepts=forced)
    assert proba.argmax(axis=1).tolist() == [
        list(model.classes_).index(p) for p in model.intervene(test.data, concepts=forced)]


def test_nan_intervention_keeps_predictions(rps):
    model, test = rps
    keep = np.full((len(test.data), 2, 3), np.nan)
    assert np.allclose(model.intervene_proba(test.data, concepts=keep),
                       model.predict_proba(test.data))
    # setting only entity a's gesture leaves b's predicted concepts in place
    only_a = keep.copy()
    only_a[:, 0] = test.concepts[:, 0]
    exp = model.explain(test.data[:3], concepts=only_a[:3])
    c, _ = model.predict_concepts(test.data[:3])
    assert np.allclose(exp.data[:, :3], test.concepts[:3, 0])
    assert np.allclose(exp.data[:, 3:], c[:, 1])


def test_flat_cbm_is_the_linear_head():
    data = make_rps_digits(100, random_state=0)
    flat = RelationalCBMClassifier(head="linear", max_epochs=1, **SMALL)
    flat.fit(data.data, data.target, concepts=data.concepts)
    assert flat.term_names_ == flat.atom_names_ and flat.head_weights_.shape == (3, 6)
    exp = flat.explain(data.data[:4])
    assert np.allclose(exp.values, exp.data[:, :, None] * flat.head_weights_.T[None])


# ---------------------------------------------------------------------- hostile input
def test_missing_concepts_is_a_clear_error():
    X, y, _, _ = _bits(n=20)
    with pytest.raises(ValueError, match=r"needs concept labels: call fit\(X, y, concepts=C\)"):
        RelationalCBMClassifier(**SMALL).fit(X, y)


@pytest.mark.parametrize("make, match", [
    (lambda c: c[:, :, 0], r"concepts must have shape \(n_samples, n_entities, n_concepts\)"),
    (lambda c: c[:10], r"concepts must have shape"),
    (lambda c: c * 2, r"concepts must hold values in \[0, 1\]"),
    (lambda c: np.where(c > 0, "yes", "no"), "concepts must be a numeric array"),
])
def test_bad_concept_labels(make, match):
    X, y, concepts, _ = _bits(n=20)
    with pytest.raises(ValueError, match=match):
        RelationalCBMClassifier(**SMALL).fit(X, y, concepts=make(concepts))


def test_bad_relation_labels_and_counts():
    X, y, concepts, same = _bits(n=20)
    with pytest.raises(ValueError, match="relation_concepts must have shape"):
        RelationalCBMClassifier(**SMALL).fit(X, y, concepts=concepts, relation_concepts=same[:, 0])
    with pytest.raises(ValueError, match="n_concepts=2"):
        RelationalCBMClassifier(n_concepts=2, **SMALL).fit(X, y, concepts=concepts)
    with pytest.raises(ValueError, match="n_relations=3"):
        RelationalCBMClassifier(n_relations=3, **SMALL).fit(X, y, concepts=concepts,
                                                            relation_concepts=same)
    with pytest.raises(ValueError, match="no concept atoms"):
        RelationalCBMClassifier(n_entities=1, n_relations=1, **SMALL).fit(X, y)


@pytest.mark.parametrize("params, error, match", [
    ({"head": "deep"}, ValueError, "head must be one of"),
    ({"lr": -1.0}, ValueError, "lr must be"),
    ({"n_entities": 0}, ValueError, "n_entities must be >= 1"),
    ({"max_epochs": 2.5}, TypeError, "max_epochs must be an int"),
    ({"concept_weight": float("nan")}, ValueError, "concept_weight"),
    ({"device": "tpu"}, ValueError, "device"),
    ({"concept_names": ["x", "y"]}, ValueError, "concept_names must hold 1 distinct names"),
    ({"entity_names": "ab"}, TypeError, "entity_names must be a list of str"),
])
def test_bad_parameters_fail_in_fit(params, error, match):
    X, y, concepts, _ = _bits(n=20)
    model = RelationalCBMClassifier(**{**SMALL, **params})  # stored unchanged, checked in fit
    name, value = next(iter(params.items()))
    assert model.get_params()[name] is value
    with pytest.raises(error, match=match):
        model.fit(X, y, concepts=concepts)


def test_bad_rows():
    X, y, concepts, _ = _bits(n=20)
    with pytest.raises(ValueError, match="do not split into n_entities=2 equal blocks"):
        RelationalCBMClassifier(**SMALL).fit(X[:, :5], y, concepts=concepts)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RelationalCBMClassifier(**SMALL).fit(bad, y, concepts=concepts)
    with pytest.raises(ValueError, match="only one class"):
        RelationalCBMClassifier(**SMALL).fit(X, np.zeros(20), concepts=concepts)
    with pytest.raises(ValueError, match="Unknown label type"):
        RelationalCBMClassifier(**SMALL).fit(X, np.linspace(0, 1, 20), concepts=concepts)
    with pytest.raises(NotFittedError):
        RelationalCBMClassifier(**SMALL).predict(X)


def test_bad_inference_input(bits_model):
    model, (X, _, concepts, same) = bits_model
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :4])
    with pytest.raises(ValueError, match=r"concepts must have shape"):
        model.intervene(X[:3], concepts=concepts[:2])
    with pytest.raises(ValueError, match=r"concepts must have shape \(3, 2, 1\)"):
        model.intervene(X[:3], concepts=np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        model.intervene(X[:3], relation_concepts=same[:3] + 1)
    with pytest.raises(ValueError, match="out of range"):
        model.explain(X[:3], target=5)
    with pytest.raises(ValueError, match="one output index per row"):
        model.explain(X[:3], target=np.array([0, 1]))
    with pytest.raises(TypeError, match="n_terms must be an int"):
        model.head_rules(n_terms="all")
