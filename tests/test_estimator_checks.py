"""scikit-learn's estimator contract (check_estimator) for both estimators."""

import pytest
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data, parametrize_with_checks)

from fastbp import MLPClassifier, MLPRegressor

FLOAT32_ROUNDING = (
    "fastbp trains in float32 by default: fits with weights and with repeated "
    "samples agree to float32 rounding (~1e-7), not the 1e-7/1e-9 tolerance "
    "of this check. test_sample_weight_equivalence_float64 runs it in float64.")


def expected_failed_checks(estimator):
    if estimator.dtype == "float32":
        return {"check_sample_weight_equivalence_on_dense_data": FLOAT32_ROUNDING,
                "check_sample_weight_equivalence_on_sparse_data": FLOAT32_ROUNDING}
    return {}


# The default, an activation scikit-learn does not have, and a per-layer
# list (with scikit-learn's default single hidden layer of 100 units).
@parametrize_with_checks(
    [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100),
     MLPClassifier(max_iter=100, activation="gelu"),
     MLPRegressor(max_iter=100, activation=["silu"])],
    expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("check", [
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data])
def test_sample_weight_equivalence_float64(check):
    # The settings scikit-learn's own test suite uses for its MLPs.
    check("MLPClassifier", MLPClassifier(max_iter=100, solver="lbfgs",
                                         dtype="float64"))
    check("MLPRegressor", MLPRegressor(max_iter=100, solver="sgd", tol=1e-2,
                                       random_state=42, dtype="float64"))
