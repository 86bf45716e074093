"""README.rst is read on code hosts that do not run ``.. include::``: it must carry the
fragments of readme/ itself (tools/readme.py writes it) and be valid reStructuredText."""
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("readme_generator", ROOT / "tools" / "readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_up_to_date_with_its_fragments():
    generator = load_generator()
    assert (ROOT / "README.rst").read_text(encoding="utf-8") == generator.render(ROOT), (
        "README.rst is not what readme/*.rst make: run tools/readme.py")


def test_readme_includes_nothing():
    lines = (ROOT / "README.rst").read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if line.lstrip().startswith(".. include::")]


def test_readme_generator_keeps_the_top_part_and_inlines_every_fragment(tmp_path):
    generator = load_generator()
    (tmp_path / "readme").mkdir()
    (tmp_path / "readme" / "USAGE.rst").write_text("Usage\n=====\n\nPress the button.\n")
    (tmp_path / "readme" / "DESCRIPTION.rst").write_text("What it does\n============\n\nThings.\n\n")
    (tmp_path / "readme" / "EXTRA.rst").write_text("Extra\n=====\n\nMore.\n")
    (tmp_path / "README.rst").write_text(f"Title\n=====\n\nOwn text.\n\n{generator.MARKER}\n\nStale part.\n")
    assert generator.render(tmp_path) == (
        f"Title\n=====\n\nOwn text.\n\n{generator.MARKER}\n\n"
        "What it does\n============\n\nThings.\n\n"
        "Usage\n=====\n\nPress the button.\n\n"
        "Extra\n=====\n\nMore.\n")


def test_readme_is_valid_restructuredtext():
    docutils_core = pytest.importorskip("docutils.core")
    docutils_utils = pytest.importorskip("docutils.utils")
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    try:
        # Warnings are errors: a code host shows a broken README instead of failing.
        docutils_core.publish_doctree(
            text, source_path=str(ROOT / "README.rst"),
            settings_overrides={"halt_level": 2, "report_level": 2, "warning_stream": False})
    except docutils_utils.SystemMessage as error:
        pytest.fail(f"README.rst is not valid reStructuredText: {error}")
