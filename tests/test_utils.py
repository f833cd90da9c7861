"""Helpers shared by every layer."""

import importlib.util
import warnings

import tqdm.std

from vlab._utils import progress_bar


def test_progress_bar_without_ipywidgets_is_the_text_bar_and_does_not_warn(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ipywidgets" else real(name)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm.auto in a notebook would warn 'IProgress not found'
        with progress_bar(total=3, disable=True) as bar:
            bar.update(3)
    assert type(bar) is tqdm.std.tqdm
