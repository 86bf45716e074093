"""Platform tests need no Odoo: put the addon's folder on the path so that
``platforms`` imports as a plain package, whatever the checkout is called."""
import json
import pathlib
import sys

import pytest

ADDON_ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ADDON_ROOT) not in sys.path:
    sys.path.insert(0, str(ADDON_ROOT))

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture
def connect_order():
    return json.loads((DATA / "connect_order.json").read_text())
