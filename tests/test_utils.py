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


def test_setting_differences_name_each_changed_leaf_with_json_values():
    from vlab._utils import setting_differences

    before = {"params": {"seconds": 0.0, "mode": "a"}, "name": "x", "gone": [1]}
    now = {"params": {"seconds": 0.001, "mode": "a"}, "name": "x", "new": "y" * 80}
    assert setting_differences(before, now) == [
        "gone: [1] -> (none)",
        f'new: (none) -> "{"y" * 56}...',
        "params.seconds: 0.0 -> 0.001",
    ]
    assert setting_differences(before, before) == []
    assert setting_differences(1, 2) == ["settings: 1 -> 2"]
