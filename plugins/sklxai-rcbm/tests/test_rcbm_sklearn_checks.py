"""scikit-learn's estimator checks, with tiny nets and few epochs.

Two configurations. With ``n_entities=1`` every column block is one entity, so any number of
columns is valid and every check applies (and passes). With ``n_entities=2`` the checks that
feed 3 or 5 columns cannot apply: the columns of a row must split into two equal entity
blocks, and the estimator refuses them with a ValueError naming the problem; those are the
expected failures below. Both use ``n_concepts`` so that ``fit(X, y)`` works without concept
labels, as scikit-learn's checks call it.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklxai_rcbm import RelationalCBMClassifier

TINY = {"n_concepts": 3, "hidden_size": 8, "embedding_size": 4, "max_epochs": 10,
        "batch_size": 64, "lr": 0.05, "random_state": 0}
ODD_COLUMNS = ("X has an odd number of columns (3 or 5), which does not split into "
               "n_entities=2 equal blocks")
TWO_ENTITY_XFAIL = {name: ODD_COLUMNS for name in [
    "check_fit_score_takes_y", "check_dont_overwrite_parameters", "check_estimators_dtypes",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_supervised_y_2d",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_dict_unchanged", "check_fit2d_predict1d",
]}


def _expected_failures(estimator):
    return TWO_ENTITY_XFAIL if estimator.n_entities == 2 else {}


@parametrize_with_checks(
    [RelationalCBMClassifier(n_entities=1, **TINY), RelationalCBMClassifier(n_entities=2, **TINY)],
    expected_failed_checks=_expected_failures, xfail_strict=True)
def test_sklearn_compatible(estimator, check):
    check(estimator)
