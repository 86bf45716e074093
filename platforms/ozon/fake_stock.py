"""The fake Ozon's stock methods (see ``fake``): a mixin of FakeOzon."""
from __future__ import annotations


class FakeOzonStock:
    """Adds its routes in ``handlers`` (calling super()) and its limits in ``limits``."""
