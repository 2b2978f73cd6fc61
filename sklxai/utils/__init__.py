"""Helpers that explainers and plugins share: input validation, parameter constraints, seeding,
persistence and training callbacks. The names below are public (the plugin contract)."""

from sklxai.utils.validation import (
    check_images,
    check_numeric,
    check_positive_int,
    check_tabular,
    check_target,
    column_names,
    is_dataframe,
    resolve_device,
    seed_from,
)

__all__ = [
    "check_images",
    "check_numeric",
    "check_positive_int",
    "check_tabular",
    "check_target",
    "column_names",
    "is_dataframe",
    "resolve_device",
    "seed_from",
]
