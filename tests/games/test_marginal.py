"""Marginal and baseline games against a by-hand numpy computation of mean_b f(where(S, x, b))."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from sklxai.games import BaselineGame, MarginalGame
from sklxai.models import make_adapter

D = 4


def _hand_values(predict, X, masks, background):
    """v_x(S) = mean over b of predict(where(S, x, b)), one (row, mask) at a time."""
    X = np.asarray(X, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    n = len(X)
    per_row = masks.ndim == 3
    m = masks.shape[-2]
    out = []
    for i in range(n):
        row = []
        for j in range(m):
            mask = masks[i, j] if per_row else masks[j]
            Z = np.where(mask[None, :], X[i][None, :], background)
            row.append(np.asarray(predict(Z), dtype=np.float64).reshape(len(Z), -1).mean(0))
        out.append(row)
    return np.asarray(out)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X, y = make_classification(
        n_samples=80, n_features=D, n_informative=3, n_redundant=0, n_classes=3,
        random_state=0,
    )
    model = LogisticRegression().fit(X, y)
    rows = X[:3]
    background = X[10:15]
    masks = rng.rand(6, D) < 0.5
    masks[0] = False  # empty coalition
    masks[1] = True  # grand coalition
    per_row = rng.rand(3, 5, D) < 0.5
    return model, rows, background, masks, per_row


@pytest.fixture(scope="module")
def linear():
    torch.manual_seed(0)
    lin = torch.nn.Linear(D, 2)
    W = lin.weight.detach().double().numpy()
    b = lin.bias.detach().double().numpy()
    return lin, (lambda Z: Z @ W.T + b)


def test_sklearn_shared_masks_match_hand_computation(data):
    model, X, bg, masks, _ = data
    game = MarginalGame(make_adapter(model), bg)
    values = game.values(X, torch.as_tensor(masks))
    assert values.shape == (3, 6, 3)
    expected = _hand_values(model.predict_proba, X, masks, bg)
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-12, atol=1e-12)
    # the empty coalition is the background mean, the grand coalition the model at x
    np.testing.assert_allclose(values[:, 0].numpy(),
                               np.tile(model.predict_proba(bg).mean(0), (3, 1)), atol=1e-12)
    np.testing.assert_allclose(values[:, 1].numpy(), model.predict_proba(X), atol=1e-12)


def test_sklearn_per_row_masks_match_hand_computation(data):
    model, X, bg, _, per_row = data
    game = MarginalGame(make_adapter(model), bg)
    values = game.values(X, per_row)  # numpy masks are accepted
    assert values.shape == (3, 5, 3)
    expected = _hand_values(model.predict_proba, X, per_row, bg)
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-12, atol=1e-12)
    # per-row masks are really used per row: row 1 with row 0's masks differs
    shared0 = _hand_values(model.predict_proba, X[1:2], per_row[0], bg)[0]
    assert not np.allclose(values[1].numpy(), shared0)


@pytest.mark.parametrize("per_row_masks", [False, True], ids=["shared", "per-row"])
def test_torch_linear_matches_hand_computation(data, linear, per_row_masks):
    _, X, bg, masks, per_row = data
    lin, f = linear
    M = per_row if per_row_masks else masks
    game = MarginalGame(make_adapter(lin, device="cpu"), bg)
    values = game.values(X, torch.as_tensor(M))
    assert values.dtype == torch.float32
    np.testing.assert_allclose(values.numpy(), _hand_values(f, X, M, bg), atol=1e-5)
    # for a linear model, v(S) is f at x_S with absent features at their background mean
    masks2 = M if per_row_masks else np.broadcast_to(M, (len(X),) + M.shape)
    at_mean = np.where(masks2, X[:, None, :], bg.mean(0))
    np.testing.assert_allclose(values.numpy(), f(at_mean), atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 7, 11])
def test_small_batches_chunk_and_agree(data, batch_size):
    model, X, bg, masks, per_row = data
    calls = []

    class Counting:
        def __init__(self, est):
            self.est = est
            self.classes_ = est.classes_

        def predict_proba(self, Z):
            calls.append(len(Z))
            return self.est.predict_proba(Z)

    small = MarginalGame(make_adapter(Counting(model)), bg[:2], batch_size=batch_size)
    large = MarginalGame(make_adapter(model), bg[:2], batch_size=10**6)
    for M in (masks, per_row):
        calls.clear()
        v_small = small.values(X, M).numpy()
        # every model call holds at most max(batch_size, one row's background) rows
        assert max(calls) <= max(batch_size, 2)
        assert sum(calls) == len(X) * M.shape[-2] * 2
        assert len(calls) > 1
        np.testing.assert_allclose(v_small, large.values(X, M).numpy(), rtol=1e-12, atol=0)
        np.testing.assert_allclose(v_small, _hand_values(model.predict_proba, X, M, bg[:2]),
                                   atol=1e-12)


def test_full_and_null(data, linear):
    model, X, bg, _, _ = data
    game = MarginalGame(make_adapter(model), bg, batch_size=2)
    np.testing.assert_allclose(game.full(X).numpy(), model.predict_proba(X), atol=1e-12)
    null = game.null(X).numpy()
    assert null.shape == (3, 3)
    np.testing.assert_allclose(null, np.tile(model.predict_proba(bg).mean(0), (3, 1)),
                               atol=1e-12)

    lin, f = linear
    tgame = MarginalGame(make_adapter(lin, device="cpu"), bg)
    np.testing.assert_allclose(tgame.full(X).numpy(), f(X), atol=1e-5)
    np.testing.assert_allclose(tgame.null(X).numpy(), np.tile(f(bg).mean(0), (3, 1)),
                               atol=1e-5)


@pytest.mark.parametrize("as_row", [False, True], ids=["(d,)", "(1,d)"])
def test_baseline_game(data, as_row):
    model, X, bg, masks, per_row = data
    z = bg.mean(0) + 0.3
    game = BaselineGame(make_adapter(model), z[None, :] if as_row else z)
    values = game.values(X, masks).numpy()
    expected = np.stack([
        model.predict_proba(np.where(masks, x[None, :], z[None, :])) for x in X
    ])
    np.testing.assert_allclose(values, expected, atol=1e-12)
    np.testing.assert_allclose(game.null(X).numpy(),
                               np.tile(model.predict_proba(z[None, :]), (3, 1)), atol=1e-12)
    expected_pr = np.stack([
        model.predict_proba(np.where(per_row[i], X[i][None, :], z[None, :]))
        for i in range(len(X))
    ])
    np.testing.assert_allclose(game.values(X, per_row).numpy(), expected_pr, atol=1e-12)


def test_baseline_must_be_one_row(data):
    model, _, bg, _, _ = data
    with pytest.raises(ValueError, match="one row"):
        BaselineGame(make_adapter(model), bg[:2])


@pytest.mark.parametrize("shape", [(D,), (0, D), (2, 3, D)])
def test_bad_background_shape(data, shape):
    model = data[0]
    with pytest.raises(ValueError, match="background"):
        MarginalGame(make_adapter(model), np.zeros(shape))


def test_bad_masks_and_rows(data):
    model, X, bg, masks, per_row = data
    game = MarginalGame(make_adapter(model), bg)
    with pytest.raises(ValueError, match="features"):
        game.values(X, masks[:, :3])  # wrong mask width
    with pytest.raises(ValueError, match="features"):
        game.values(X[:, :3], masks[:, :3])  # rows narrower than the background
    with pytest.raises(ValueError, match="rows"):
        game.values(X[:2], per_row)  # one set of masks per row, 3 sets for 2 rows
    with pytest.raises(ValueError, match="masks"):
        game.values(X, masks[0])  # 1-D masks


def test_no_masks_or_no_rows_give_empty_values(data):
    model, X, bg, masks, _ = data
    game = MarginalGame(make_adapter(model), bg)
    assert tuple(game.values(X, np.zeros((0, D), dtype=bool)).shape) == (3, 0, 3)
    assert tuple(game.values(X[:0], masks).shape) == (0, 6, 3)


class _CountingMLP(torch.nn.Module):
    """A small nonlinear model that counts the rows it is asked to evaluate."""

    def __init__(self, d):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.Tanh(),
                                       torch.nn.Linear(8, 2))
        self.rows = 0

    def forward(self, X):
        self.rows += len(X)
        return self.net(X)


def test_dedupe_gives_identical_values_with_fewer_model_rows():
    # integer-valued (categorical-like) data: x and background rows often agree on a feature
    rng = np.random.default_rng(0)
    d = 6
    X = rng.integers(0, 3, size=(5, d)).astype(np.float32)
    bg = rng.integers(0, 3, size=(7, d)).astype(np.float32)
    masks = torch.as_tensor(rng.random((40, d)) < 0.5)
    model = _CountingMLP(d)
    plain = MarginalGame(make_adapter(model, device="cpu"), bg, dedupe=False)
    expected = plain.values(X, masks)
    rows_plain, model.rows = model.rows, 0
    deduped = MarginalGame(make_adapter(model, device="cpu"), bg, dedupe=True).values(X, masks)
    torch.testing.assert_close(deduped, expected, rtol=0, atol=1e-6)
    assert rows_plain == 5 * 40 * 7
    assert model.rows < 0.6 * rows_plain
    # the hand computation agrees too
    hand = _hand_values(lambda Z: model.net(torch.as_tensor(Z, dtype=torch.float32))
                        .detach().numpy(), X, masks.numpy(), bg)
    np.testing.assert_allclose(deduped.numpy(), hand, atol=1e-5)


def test_dedupe_auto_skips_continuous_data_and_validates():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 4)).astype(np.float32)
    bg = rng.normal(size=(5, 4)).astype(np.float32)
    model = _CountingMLP(4)
    masks = torch.as_tensor(rng.random((10, 4)) < 0.5)
    MarginalGame(make_adapter(model, device="cpu"), bg).values(X, masks)
    assert model.rows == 3 * 10 * 5  # nothing to dedupe: every input is evaluated once
    with pytest.raises(ValueError, match="dedupe"):
        MarginalGame(make_adapter(model, device="cpu"), bg, dedupe="yes")


def test_out_of_memory_halves_the_batch_and_continues():
    from sklxai.models._base import ModelAdapter

    class Fragile(ModelAdapter):
        """A linear model that 'runs out of memory' on batches over 16 rows."""

        def forward(self, X):
            if len(X) > 16:
                raise torch.OutOfMemoryError("simulated")
            return X.sum(dim=1, keepdim=True)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 4)).astype(np.float32)
    bg = rng.normal(size=(5, 4)).astype(np.float32)
    masks = torch.as_tensor(rng.random((6, 4)) < 0.5)
    game = MarginalGame(Fragile(), bg, batch_size=64, dedupe=False)
    with pytest.warns(UserWarning, match="Out of device memory with batch_size=") as caught:
        values = game.values(X, masks)
    assert game.batch_size == 16
    assert [str(w.message).split("batch_size=")[1][:2] for w in caught] == ["64", "32"]
    hand = _hand_values(lambda Z: Z.sum(axis=1), X, masks.numpy(), bg)
    np.testing.assert_allclose(values.numpy(), hand, atol=1e-5)


def _hand_strata(own, h):
    """The documented strata of a background with outputs ``own`` (B, k) for h draws: rows
    ordered (stably) by the output that varies most (the first within a relative 1e-4 of the
    largest variance), cut at floor(j B / h)."""
    B = len(own)
    spread = own.var(axis=0)
    order = np.argsort(own[:, np.flatnonzero(spread >= spread.max() * (1 - 1e-4))[0]],
                       kind="stable")
    bounds = [(j * B) // h for j in range(h + 1)]
    return [order[bounds[j]:bounds[j + 1]] for j in range(h)]


def test_sampled_values_are_the_stratified_control_variate_estimate(data):
    """Each estimate is sum over strata of (n_h / n) (f(x_S, b_-S) - c_S (f(b) - mean of f over
    the stratum)), c_S = 1 - |S| / d, b drawn uniformly in each stratum, recomputed here by
    hand from the same uniforms; S empty gives v(empty)."""
    model, rows, background, _, per_row = data
    masks = torch.tensor(per_row)  # a copy: the fixture is shared
    masks[:, 0] = False
    masks[:, 1] = True
    game = MarginalGame(make_adapter(model, device="cpu"), background)
    values = game.sampled_values(rows, masks, 3, generator=torch.Generator().manual_seed(5))
    own = model.predict_proba(background)
    strata = _hand_strata(own, 3)
    assert [len(h) for h in strata] == [1, 2, 2]  # 5 rows in 3 strata
    pick = torch.rand(3, 5, 3, generator=torch.Generator().manual_seed(5)).numpy()
    hand = np.zeros(values.shape)
    for i in range(3):
        for j in range(5):
            mask = per_row[i, j] if j > 1 else np.full(D, j == 1)
            share = 1 - mask.mean()
            for stratum, u in zip(strata, pick[i, j]):
                b = stratum[min(int(u * len(stratum)), len(stratum) - 1)]
                z = np.where(mask, rows[i], background[b])[None]
                cv = share * (own[b] - own[stratum].mean(0))
                hand[i, j] += len(stratum) / len(background) * (model.predict_proba(z)[0] - cv)
    np.testing.assert_allclose(values.numpy(), hand, atol=1e-12)
    np.testing.assert_allclose(values[:, 0].numpy(), np.tile(own.mean(0), (3, 1)), atol=1e-12)
    np.testing.assert_allclose(values[:, 1].numpy(), model.predict_proba(rows), atol=1e-12)


def test_strata_of_complementary_outputs_follow_the_first():
    """A two-class model's probabilities vary alike: the strata order by the first, whichever
    variance rounding makes larger."""
    lin = torch.nn.Linear(D, 2).double()
    model = torch.nn.Sequential(lin, torch.nn.Softmax(dim=-1))
    background = np.random.default_rng(0).normal(size=(7, D))
    game = MarginalGame(make_adapter(model, device="cpu"), background)
    order = game._strata(3)[0].numpy()
    with torch.no_grad():
        own = model(torch.as_tensor(background)).numpy()
    np.testing.assert_array_equal(order, np.argsort(own[:, 0], kind="stable"))


def test_sampled_values_with_as_many_draws_as_rows_are_exact(data):
    model, rows, background, _, per_row = data
    game = MarginalGame(make_adapter(model, device="cpu"), background)
    exact = _hand_values(model.predict_proba, rows, per_row, background)
    for n_samples in (len(background), 3 * len(background)):
        values = game.sampled_values(rows, torch.tensor(per_row), n_samples,
                                     generator=torch.Generator().manual_seed(0))
        np.testing.assert_allclose(values.numpy(), exact, atol=1e-12)


def test_sampled_values_are_unbiased_and_less_noisy_than_plain_sampling(data):
    """Averaged over many draws the estimates reach the exact values; on this model the
    stratified control-variate estimate's squared error is below that of the plain mean of
    f(x_S, b_-S) over as many rows drawn independently."""
    model, rows, _, _, per_row = data
    rng = np.random.RandomState(1)
    big = rng.normal(size=(60, D))
    game = MarginalGame(make_adapter(model, device="cpu"), big)
    exact = _hand_values(model.predict_proba, rows, per_row, big)
    reps, k = 2000, 4  # each (row, coalition) estimated reps times from k rows
    masks = torch.tensor(np.repeat(per_row, reps, axis=1))
    est = game.sampled_values(rows, masks, k, generator=torch.Generator().manual_seed(1))
    est = est.numpy().reshape(3, 5, reps, -1)
    # within 4.5 standard errors of the mean, every (row, coalition, output)
    error_of_mean = est.std(axis=2) / np.sqrt(reps)
    assert (np.abs(est.mean(axis=2) - exact) <= 4.5 * error_of_mean + 1e-12).all()
    idx = np.random.default_rng(2).integers(0, len(big), (3, 5 * reps, k))
    z = np.where(masks.numpy()[:, :, None, :], rows[:, None, None, :], big[idx])
    plain = model.predict_proba(z.reshape(-1, D)).reshape(3, 5, reps, k, -1).mean(axis=3)
    truth = exact[:, :, None, :]
    assert ((est - truth) ** 2).mean() < 0.8 * ((plain - truth) ** 2).mean()
