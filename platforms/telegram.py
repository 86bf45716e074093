"""A small client of the Telegram Bot API: ``sendMessage`` to one chat, on the shared HTTP
client (public addresses only, no redirect followed: the URL carries the bot's token).

Telegram answers with an envelope, ``{"ok": true, "result": …}`` or ``{"ok": false,
"error_code": …, "description": …, "parameters": {"retry_after": …}}``. A text may be 4096
characters long at most (counted as Telegram counts them, in UTF-16 code units); a longer
one is sent as several messages, split at line breaks where possible.

Nothing here retries or waits: the caller (a queue with its own back-off) decides when to
try again, and is told how long Telegram asked it to wait (``TelegramError.retry_after``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .http import ApiError, ApiUnavailable, HttpClient, RetryPolicy

#: Where the Bot API is, unless a test or a local Bot API server says otherwise.
TELEGRAM_API_URL = "https://api.telegram.org"
#: The longest text of one message.
MAX_TEXT = 4096
#: Marks a text cut where it had to be (no line break, no space to split at).
_CUT_MARK = "…"


class TelegramError(ApiError):
    """Telegram refused a message, or could not be reached.

    ``error_code`` and ``description`` are Telegram's own (``None``/"" when no answer came);
    ``retry_after`` the seconds it asked to wait (flood control, 429); ``sent`` how many
    parts of a long text were delivered before this one failed; ``permanent`` whether sending
    the same thing again cannot help before a person changes something (a wrong chat id, a
    bot blocked or not in the group), as opposed to a rate limit, an outage or no connection.
    """

    def __init__(self, message: str, error_code: int | None = None, description: str = "",
                 retry_after: int | None = None, sent: int = 0, permanent: bool = False):
        super().__init__(message, error_code)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.sent = sent
        self.permanent = permanent


class TelegramAuthError(TelegramError):
    """401 (or 404 for a token Telegram cannot even read): the bot token is wrong or revoked."""


@dataclass(frozen=True)
class SentMessage:
    chat_id: Any
    message_id: int


def utf16_length(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` in parts of at most ``limit`` UTF-16 units: cut at the last line break that
    fits (in the part's second half), else at the last space, else (one endless word) where the limit falls,
    never inside a character. Blank text gives no part (Telegram refuses an empty message)."""
    text = text.strip()
    parts = []
    while text:
        if utf16_length(text) <= limit:
            parts.append(text)
            break
        head = _fit(text, limit)
        # A line break in the second half of the part, rather than a space after it: lines
        # (an order, an error) stay whole.
        cut = head.rfind("\n")
        if cut <= len(head) // 2:
            cut = max(cut, head.rfind(" "))
        if cut <= 0:
            head = _fit(text, limit - utf16_length(_CUT_MARK))
            parts.append(head + _CUT_MARK)
            text = text[len(head):].lstrip()
            continue
        parts.append(head[:cut].rstrip())
        text = text[cut:].lstrip()
    return [part for part in parts if part]


def _fit(text: str, limit: int) -> str:
    """The longest start of ``text`` of at most ``limit`` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def redact(text: str, token: str) -> str:
    """``text`` without the bot token (request URLs carry it: errors and logs must not)."""
    return text.replace(token, "<token>") if token else text


class TelegramClient:
    """One bot: ``send_message(chat_id, text)``."""

    def __init__(self, token: str, base_url: str = TELEGRAM_API_URL, *, timeout: float | tuple = (5, 20),
                 allow_private_addresses: bool = False, session=None):
        token = (token or "").strip()
        if not token or any(char.isspace() or char == "/" for char in token):
            raise TelegramAuthError("The bot token is missing or malformed (BotFather gives it as "
                                    "123456789:AA…, without spaces).", permanent=True)
        self.token = token
        # One attempt: a rate limit or an outage is the caller's to retry, later, with its own
        # back-off, not a wait inside a job.
        self.http = HttpClient((base_url or TELEGRAM_API_URL).rstrip("/") + f"/bot{token}",
                               timeout=timeout, retry=RetryPolicy(attempts=1),
                               allow_private_addresses=allow_private_addresses, session=session)

    def send_message(self, chat_id: str | int, text: str) -> list[SentMessage]:
        """Send ``text`` (split when longer than a message may be); the messages made.

        Raises TelegramError at the first part that fails, with ``sent`` parts delivered."""
        parts = split_text(text)
        if not parts:
            raise TelegramError("Nothing to send: the text is empty.", permanent=True)
        return self.send_parts(chat_id, parts)

    def send_parts(self, chat_id: str | int, parts: list[str], start: int = 0) -> list[SentMessage]:
        """Send ``parts[start:]`` in order (a retry goes on after the parts delivered before)."""
        sent = []
        for index in range(start, len(parts)):
            try:
                result = self.call("sendMessage", {"chat_id": chat_id, "text": parts[index],
                                                   "link_preview_options": {"is_disabled": True}})
            except TelegramError as exc:
                exc.sent = index
                raise
            sent.append(SentMessage(chat_id, int((result or {}).get("message_id") or 0)))
        return sent

    def get_me(self) -> dict:
        """The bot itself: whether the token works."""
        return self.call("getMe", {})

    def call(self, method: str, params: dict) -> Any:
        """One Bot API method; its ``result``, or a TelegramError in Telegram's words."""
        try:
            response = self.http.request("POST", method, json=params)
        except ApiError as exc:
            if exc.status is not None:
                raise self._refusal(exc.status, exc.body) from None
            if isinstance(exc, ApiUnavailable):
                raise TelegramError(f"Telegram did not answer ({redact(str(exc), self.token)})") from None
            # No request was made (an address refused, a URL that is none): a setting to mend.
            raise TelegramError(redact(str(exc), self.token), permanent=True) from None
        try:
            data = response.json()
        except ValueError:
            raise TelegramError(f"Telegram answered HTTP {response.status_code} with something that is "
                                "not its JSON envelope") from None
        if not isinstance(data, dict) or not data.get("ok"):
            raise self._refusal(response.status_code, response.text[:2000], data)
        return data.get("result")

    def _refusal(self, status: int, body: str, data: Any = None) -> TelegramError:
        """The error an answer with ``ok: false`` (or an HTTP error) stands for."""
        if data is None:
            try:
                data = json.loads(body or "null")
            except ValueError:
                data = None
        data = data if isinstance(data, dict) else {}
        code = data.get("error_code") if isinstance(data.get("error_code"), int) else status
        description = " ".join(redact(str(data.get("description") or ""), self.token).split())[:300]
        parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
        retry_after = parameters.get("retry_after")
        retry_after = retry_after if isinstance(retry_after, int) and retry_after >= 0 else None
        words = description or f"HTTP {status}"
        if code == 429:
            wait = retry_after if retry_after is not None else 0
            return TelegramError(f"Telegram: {words} (flood control: wait {wait} s)", code, description,
                                 retry_after=retry_after)
        if code in (401, 404):
            return TelegramAuthError(f"Telegram: {words}: the bot token is wrong or was revoked", code,
                                     description, permanent=True)
        if code >= 500:
            return TelegramError(f"Telegram: {words}", code, description)
        hint = ""
        lowered = description.lower()
        if "chat not found" in lowered:
            hint = ": check the chat id, and that the chat has written to the bot (or added it) first"
        elif code == 403:
            hint = ": the bot was blocked, or removed from the chat"
        elif "migrate" in lowered and parameters.get("migrate_to_chat_id"):
            hint = f": the group is now a supergroup, chat id {parameters['migrate_to_chat_id']}"
        return TelegramError(f"Telegram: {words}{hint}", code, description, permanent=True)
