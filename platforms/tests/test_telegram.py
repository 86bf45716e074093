"""The Telegram client against a fake Bot API on 127.0.0.1 (real HTTP)."""
import pytest

from platforms.telegram import (
    MAX_TEXT,
    TelegramAuthError,
    TelegramClient,
    TelegramError,
    split_text,
    utf16_length,
)
from platforms.testing import ALLOW_LOCAL, FakeStore
from platforms.testing_telegram import FakeTelegram

CHAT = "-1002003004"


@pytest.fixture
def server():
    with FakeStore() as fake:
        yield fake


@pytest.fixture
def bot(server):
    return FakeTelegram(server, chats={CHAT})


def client(bot, token=None):
    return TelegramClient(token or bot.token, bot.url, **ALLOW_LOCAL)


def test_a_message_reaches_the_chat(bot):
    sent = client(bot).send_message(CHAT, "New order #1001 in Test shop: 69.58 EUR")
    assert [message.message_id for message in sent] == [1]
    assert bot.texts(CHAT) == ["New order #1001 in Test shop: 69.58 EUR"]
    request = bot.server.calls("POST", f"/bot{bot.token}/sendMessage")[0]
    assert request.json()["chat_id"] == CHAT


def test_429_gives_telegrams_retry_after_and_waits_for_nothing(bot):
    bot.flood_control(CHAT, 17)
    with pytest.raises(TelegramError) as caught:
        client(bot).send_message(CHAT, "hello")
    assert caught.value.error_code == 429
    assert caught.value.retry_after == 17
    assert not caught.value.permanent
    assert "wait 17 s" in str(caught.value)
    # One request: the caller retries later, the client does not sleep in a job.
    assert len(bot.server.calls("POST", f"/bot{bot.token}/sendMessage")) == 1
    client(bot).send_message(CHAT, "hello")
    assert bot.texts(CHAT) == ["hello"]


def test_400_chat_not_found_is_permanent_and_says_what_to_check(bot):
    with pytest.raises(TelegramError) as caught:
        client(bot).send_message("999", "hello")
    assert caught.value.error_code == 400
    assert caught.value.permanent
    assert "chat not found" in str(caught.value)
    assert "chat id" in str(caught.value)


def test_401_bad_token_never_shows_the_token(bot):
    wrong = "654321:WRONG-secret-token"
    bot.refuse_token(wrong)
    with pytest.raises(TelegramAuthError) as caught:
        client(bot, token=wrong).send_message(CHAT, "hello")
    assert caught.value.error_code == 401
    assert caught.value.permanent
    assert "WRONG-secret" not in str(caught.value)
    assert "token" in str(caught.value)


def test_no_connection_is_retryable_and_hides_the_token(server):
    url = server.url
    server.stop()
    with pytest.raises(TelegramError) as caught:
        TelegramClient("111:SECRET-x", url, **ALLOW_LOCAL).send_message(CHAT, "hello")
    assert not caught.value.permanent
    assert "SECRET-x" not in str(caught.value)


def test_private_addresses_are_refused_unless_allowed(bot):
    with pytest.raises(TelegramError) as caught:
        TelegramClient(bot.token, bot.url).send_message(CHAT, "hello")
    assert caught.value.permanent
    assert bot.token not in str(caught.value)
    assert bot.texts(CHAT) == []


def test_a_malformed_token_is_refused_before_any_request(bot):
    for token in ("", "12 34", "1/../2"):
        with pytest.raises(TelegramAuthError):
            TelegramClient(token, bot.url, **ALLOW_LOCAL)
    assert bot.server.requests == []


def test_a_long_text_is_sent_in_parts_that_telegram_takes(bot):
    lines = [f"Order #{n}: unknown SKU ABC-{n} — link it to a product" for n in range(300)]
    text = "\n".join(lines)
    assert utf16_length(text) > 2 * MAX_TEXT
    sent = client(bot).send_message(CHAT, text)
    received = bot.texts(CHAT)
    assert len(sent) == len(received) >= 3
    assert all(utf16_length(part) <= MAX_TEXT for part in received)
    # Split at line breaks: every line arrives whole, in order.
    assert "\n".join(received).splitlines() == lines


def test_split_counts_as_telegram_does_and_cuts_endless_words():
    emoji = "\N{PACKAGE}"  # two UTF-16 units
    parts = split_text(emoji * 3000)
    assert all(utf16_length(part) <= MAX_TEXT for part in parts)
    assert parts[0].endswith("…")
    assert "".join(part.rstrip("…") for part in parts) == emoji * 3000
    assert split_text("  \n ") == []
    assert split_text("short") == ["short"]
    words = split_text("word " * 2000, limit=100)
    assert all(len(part) <= 100 and not part.endswith(" ") for part in words)


def test_a_failing_part_says_how_many_went_and_the_retry_goes_on_from_there(bot):
    parts = ["one", "two", "three"]
    telegram = client(bot)
    telegram.send_parts(CHAT, parts[:1])
    bot.flood_control(CHAT, 3)
    with pytest.raises(TelegramError) as caught:
        telegram.send_parts(CHAT, parts, start=1)
    assert caught.value.sent == 1
    bot.flood.clear()
    telegram.send_parts(CHAT, parts, start=caught.value.sent)
    assert bot.texts(CHAT) == ["one", "two", "three"]


def test_an_answer_that_is_not_telegrams_envelope(server, bot):
    server.route("POST", f"/bot{bot.token}/sendMessage", status=200, headers={"Content-Type": "text/html"},
                 json="<html>proxy login</html>")
    with pytest.raises(TelegramError) as caught:
        client(bot).send_message(CHAT, "hello")
    assert "not its JSON envelope" in str(caught.value)
