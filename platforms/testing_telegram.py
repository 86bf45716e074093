"""A fake Telegram Bot API on a :class:`~.testing.FakeStore` (real HTTP on 127.0.0.1), for
the platform tests and the Odoo tests.

It answers ``sendMessage`` and ``getMe`` of one bot as Telegram does, errors included: a
chat it does not know is ``400 Bad Request: chat not found``, another token is ``401
Unauthorized``, a chat put under flood control answers ``429`` with ``retry_after``, and a
text over 4096 characters is ``400 Bad Request: message is too long``.

    with FakeStore() as server:
        bot = FakeTelegram(server, chats={"-100200"})
        client = TelegramClient(bot.token, server.url, allow_private_addresses=True)
"""
from __future__ import annotations

from .telegram import MAX_TEXT, utf16_length
from .testing import FakeStore, Recorded


class FakeTelegram:
    def __init__(self, server: FakeStore, token: str = "123456:TEST-token", chats=("42",)):
        self.server = server
        self.token = token
        self.url = server.url
        self.chats = {str(chat) for chat in chats}
        #: chat id -> retry_after: the next messages to it answer 429 this many times.
        self.flood: dict[str, list[int]] = {}
        #: What each chat received: chat id -> texts.
        self.messages: dict[str, list[str]] = {}
        self._next_id = 1
        server.route("POST", f"/bot{token}/sendMessage", handler=self.send_message)
        server.route("POST", f"/bot{token}/getMe", json={
            "ok": True, "result": {"id": 123456, "is_bot": True, "first_name": "Inbox", "username": "inbox_bot"}})

    def refuse_token(self, token: str) -> None:
        """Answer the methods of another (wrong) token as Telegram does."""
        for method in ("sendMessage", "getMe"):
            self.server.route("POST", f"/bot{token}/{method}", status=401,
                              json={"ok": False, "error_code": 401, "description": "Unauthorized"})

    def flood_control(self, chat_id, retry_after: int, times: int = 1) -> None:
        self.flood.setdefault(str(chat_id), []).extend([retry_after] * times)

    def texts(self, chat_id) -> list[str]:
        return self.messages.get(str(chat_id), [])

    def send_message(self, request: Recorded) -> tuple:
        data = request.json() or {}
        chat = str(data.get("chat_id", ""))
        text = data.get("text") or ""
        if self.flood.get(chat):
            wait = self.flood[chat].pop(0)
            return 429, {}, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {wait}",
                             "parameters": {"retry_after": wait}}
        if chat not in self.chats:
            return 400, {}, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        if not text.strip():
            return 400, {}, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        if utf16_length(text) > MAX_TEXT:
            return 400, {}, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        self.messages.setdefault(chat, []).append(text)
        message_id, self._next_id = self._next_id, self._next_id + 1
        return 200, {}, {"ok": True, "result": {"message_id": message_id, "date": 0, "text": text,
                                                "chat": {"id": int(chat) if chat.lstrip("-").isdigit() else chat}}}
