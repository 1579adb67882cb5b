"""The package itself: ``import attnviz`` is light, and every public name is what it says it is."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import attnviz
from tests.helpers.paths import ROOT


def test_importing_the_package_loads_neither_torch_nor_transformers():
    """The app draws its first screen before torch loads (components/startup.py): the package and its model names
    must not pull torch in."""
    code = ("import sys, attnviz; from attnviz.catalog import DEFAULT_MODEL; print(attnviz.DEFAULT_MODEL == DEFAULT_MODEL, "
            "sorted(m for m in ('torch', 'transformers', 'plotly') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[0] == "True []", done.stdout + done.stderr


def test_every_public_name_resolves_to_its_object_after_every_module_is_imported():
    """Importing a submodule sets an attribute of the package: a submodule named like a public function would
    replace the function (``attnviz.capture`` was a module, once). Every module imported first, then each name."""
    for module in pkgutil.walk_packages(attnviz.__path__, "attnviz."):
        importlib.import_module(module.name)
    for name in attnviz.__all__:
        value = getattr(attnviz, name)
        assert not isinstance(value, types.ModuleType), f"attnviz.{name} is the module {value.__name__}"
    assert callable(attnviz.capture) and attnviz.capture.__module__ == "attnviz.capturing"
    assert set(attnviz.__all__) <= set(dir(attnviz))


def test_an_unknown_name_is_an_attribute_error():
    try:
        attnviz.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("attnviz.no_such_name did not raise AttributeError")
