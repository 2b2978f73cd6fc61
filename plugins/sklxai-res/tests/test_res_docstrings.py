"""The Examples sections of the plugin's docstrings run as written (those of Grad-CAM, which
:mod:`sklxai_res.gradcam` takes from the sklxai-cam plugin, run with that plugin's tests)."""

import doctest

import pytest
import sklxai_res.datasets
import sklxai_res.losses
import sklxai_res.net


@pytest.mark.parametrize("module", [sklxai_res.losses, sklxai_res.net, sklxai_res.datasets],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
