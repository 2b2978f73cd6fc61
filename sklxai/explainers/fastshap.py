"""FastSHAP: an amortized Shapley explainer trained with the weighted least-squares loss."""

from sklxai.explainers._amortized import AmortizedShapley


class FastSHAP(AmortizedShapley):
    """FastSHAP (Jethani et al. 2022): the KernelSHAP objective, amortized over rows.

    The explainer network's efficient prediction phi minimises
    E_S [(v(S) - v(empty) - sum_{i in S} phi_i)^2] with S from the Shapley kernel (drawn as
    SimSHAP's, with complements), whose minimiser under efficiency is the Shapley value.
    Predictions are made exactly efficient by the additive normalisation, as in the paper.
    The loss is a quadratic in phi, so a row's draws are kept as sums (C = sum w m m^T,
    b = sum w m v, sum w v^2) and reused by later epochs like SimSHAP's (``refresh_every``):
    the loss then averages every coalition drawn for the row so far.

    Parameters
    ----------
    model, background, n_background, target, game, feature_groups, surrogate_params, fast_path
        As in :class:`~sklxai.SimSHAP`.
    module, hidden_sizes, n_coalitions, background_samples, refresh_every, max_epochs, max_time
        As in :class:`~sklxai.SimSHAP`.
    lr, optimizer, train_batch_size, min_epoch_rows, validation_fraction, patience, callbacks
        As in :class:`~sklxai.SimSHAP`.
    rollback_factor, validation_coalitions
        As in :class:`~sklxai.SimSHAP`.
    targets, tree_inputs, output_inputs, augment, validation_reference, validation_rows
        As in :class:`~sklxai.SimSHAP`.
    tolerance, accelerator, device
        As in :class:`~sklxai.SimSHAP`.
    random_state, n_jobs, verbose, batch_size
        As in :class:`~sklxai.SimSHAP`.

    Attributes
    ----------
    module_, net_, history_, refresh_every_, fit_time_, expected_value_
        As in :class:`~sklxai.SimSHAP`.
    targets_, max_epochs_, n_synthetic_rows_, n_coalitions_, validation_error_, validation_report_
        As in :class:`~sklxai.SimSHAP`.
    max_time_, background_samples_, validation_rows_, validation_coalitions_
        As in :class:`~sklxai.SimSHAP` (the default time budget).
    validation_background_samples_, tree_inputs_, output_inputs_, output_log_odds_
        As in :class:`~sklxai.SimSHAP`.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn.neighbors import KNeighborsRegressor
    >>> from sklxai import FastSHAP
    >>> X, y = make_friedman1(n_samples=400, n_features=5, random_state=0)
    >>> knn = KNeighborsRegressor().fit(X, y)
    >>> est = FastSHAP(knn, n_background=20, max_epochs=2, augment=None, random_state=0)
    >>> est.fit(X).transform(X[:2]).shape
    (2, 5)
    """

    def _objective(self):
        return fastshap_loss


def fastshap_loss(phi, stats):
    """FastSHAP's objective: the Shapley kernel's expected squared residual of phi.

    The weights of a draw sum to 1, so ``stats.kernel_loss`` is that expectation, averaged over
    the rows' draws (see :meth:`~sklxai.explainers._targets.CoalitionStats.kernel_loss`).
    """
    return stats.kernel_loss(phi)
