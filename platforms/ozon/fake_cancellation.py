"""The fake Ozon's cancellation methods (see ``fake``): a mixin of FakeOzon."""
from __future__ import annotations


class FakeOzonCancellation:
    """Adds its routes in ``handlers`` (calling super()) and its limits in ``limits``."""
