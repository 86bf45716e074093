"""The channel form's live progress widget, in Chromium (static/tests/tours)."""
import unittest

from odoo import http
from odoo.tests import HttpCase, tagged

from .common import InboxFixtures


@tagged("post_install", "-at_install")
class TestLiveProgressTour(InboxFixtures, HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_inbox()
        # Read every manifest once, in one thread (see test_tours.py).
        http.root.statics  # noqa: B018 (a lazy property: reading it is the point)

    def browser_js(self, *args, **kwargs):
        # Odoo skips a browser test silently without Chromium: here that is a failure.
        try:
            return super().browser_js(*args, **kwargs)
        except unittest.SkipTest as exc:
            self.fail(f"The browser tour could not run: {exc}")

    def test_the_channel_form_shows_progress_as_it_comes(self):
        self.start_tour(f"/odoo/action-sale_inbox.sale_channel_action/{self.channel.id}",
                        "sale_inbox_channel_progress", login="admin")
