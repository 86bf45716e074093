"""pytest plugin for the platform tests: collect the addon's folders as plain directories.

The repository root is an Odoo addon, so it is a Python package whose ``__init__.py``
imports Odoo. The platform tests need no Odoo: collecting folders as plain directories
(with ``--import-mode=importlib``) keeps pytest from importing the addon's ``__init__.py``,
and ``platforms`` is imported as a top-level package instead.
"""
import pytest


def pytest_collect_directory(path, parent):
    if (path / "__init__.py").is_file():
        return pytest.Dir.from_parent(parent, path=path)
    return None
