"""The Examples sections of the plugin's docstrings run as written."""

import doctest

import pytest
import sklxai_res.datasets
import sklxai_res.gradcam
import sklxai_res.losses
import sklxai_res.net


@pytest.mark.parametrize("module", [sklxai_res.gradcam, sklxai_res.losses, sklxai_res.net,
                                    sklxai_res.datasets], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
