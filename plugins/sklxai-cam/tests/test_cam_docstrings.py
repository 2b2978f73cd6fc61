"""The Examples sections of the plugin's docstrings run as written."""

import doctest

import pytest
import sklxai_cam.cam
import sklxai_cam.layers
import sklxai_cam.rules


@pytest.mark.parametrize("module", [sklxai_cam.cam, sklxai_cam.layers, sklxai_cam.rules],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
