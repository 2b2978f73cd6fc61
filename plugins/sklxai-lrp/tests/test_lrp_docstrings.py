"""The Examples sections of the plugin's docstrings run as written (zennit loaded first, see
``lrp_zennit_loader``)."""

import doctest

from lrp_zennit_loader import load_zennit

import sklxai_lrp.lrp


def test_docstring_examples():
    load_zennit()
    result = doctest.testmod(sklxai_lrp.lrp, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
