"""The telegram spider on every recorded t.me response, served on loopback as t.me would serve it.

`page_example.html` is a whole t.me/s page; the any2feed files are single message widgets (or parts of one)
served as the page body as they are; the snscrape files are the contact pages t.me redirects `/s/<name>`
to when there is no preview. Expected values were read from the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.crawling import VigieProject
from tests.support.replay import Reply, ReplayServer
from vigie.models import CrawlRun, Post

TELEGRAM = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
PREVIEW = TELEGRAM / "any2feed_telegram_preview"

MESSAGES = {
    "page_example.html": 7,
    **{f"any2feed_telegram_preview/{path.name}": 1 for path in sorted(PREVIEW.glob("message_*.html"))},
}
"""Message widgets (`tgme_widget_message` with a `data-post`) in each recorded page."""

NOT_PAGES = [f"any2feed_telegram_preview/{path.name}" for path in sorted(PREVIEW.glob("*.html")) if not path.name.startswith("message_")]
"""Pieces of a widget (a photo, a poll block, a link preview) with no message in them."""

CONTACT_PAGES = {
    "tastyhouse95": ("snscrape_fork/deleted-page.html", "t.me/tastyhouse95: no such channel (deleted or never created"),
    "besplatnowb": ("snscrape_fork/group-page.html", "t.me/besplatnowb is a group (Кешбек за отзыв | кэшбэк за выкуп | Скидки, 56 054 members, 12 326 online)"),
    "alyatrend": ("snscrape_fork/channel-page.html", "t.me/alyatrend (Аля про AliExpress, 217 094 subscribers) has no public web preview"),
}
"""t.me/<name> contact pages, with the error line each must give."""


def channel_of(index: int) -> str:
    return f"chan{index:03d}"


class Crawled:
    def __init__(self, project: VigieProject, runs: dict[str, CrawlRun], sources: dict[str, str]) -> None:
        self.project, self.runs, self.sources = project, runs, sources

    def run(self, file_name: str) -> CrawlRun:
        return self.runs[self.sources[file_name]]

    def posts(self, file_name: str) -> list[Post]:
        return self.project.posts(self.sources[file_name])

    def post(self, file_name: str, native_id: str) -> Post:
        return next(post for post in self.posts(file_name) if post.native_id == native_id)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    with ReplayServer() as server:
        sources, by_file = [], {}
        for index, name in enumerate([*MESSAGES, *NOT_PAGES]):
            channel = channel_of(index)
            server.add(f"/s/{channel}", TELEGRAM / name, content_type="text/html; charset=utf-8")
            by_file[name] = f"tg-{channel}"
            sources.append({"id": f"tg-{channel}", "platform": "telegram", "channel": channel, "base_url": server.base_url})
        for channel, (name, _) in CONTACT_PAGES.items():
            server.add(f"/s/{channel}", Reply(status=302, headers={"Location": f"/{channel}"}))
            server.add(f"/{channel}", TELEGRAM / name, content_type="text/html; charset=utf-8")
            by_file[name] = f"tg-{channel}"
            sources.append({"id": f"tg-{channel}", "platform": "telegram", "channel": channel, "base_url": server.base_url})
        project = VigieProject(tmp_path_factory.mktemp("telegram"))
        project.configure(sources)
        yield Crawled(project, project.crawl(), by_file)


@pytest.mark.parametrize("file_name", MESSAGES)
def test_every_message_of_every_recorded_page_is_stored(crawled: Crawled, file_name: str) -> None:
    run = crawled.run(file_name)
    assert (run.status, run.pages, run.new_posts, run.dropped_items, run.errors) == ("ok", 1, MESSAGES[file_name], 0, [])
    posts = crawled.posts(file_name)
    assert len(posts) == MESSAGES[file_name]
    assert all(post.url == f"https://t.me/{post.native_id}" for post in posts)


@pytest.mark.parametrize("file_name", NOT_PAGES)
def test_a_page_without_messages_is_one_error(crawled: Crawled, file_name: str) -> None:
    run = crawled.run(file_name)
    assert (run.status, run.new_posts, len(run.errors)) == ("failed", 0, 1)
    assert "not a Telegram channel page (no message widgets)" in run.errors[0].message


@pytest.mark.parametrize("channel", CONTACT_PAGES)
def test_contact_page_instead_of_preview_says_why(crawled: Crawled, channel: str) -> None:
    name, expected = CONTACT_PAGES[channel]
    run = crawled.run(name)
    assert (run.status, run.new_posts, len(run.errors)) == ("failed", 0, 1)
    assert expected in run.errors[0].message


def test_page_example_messages(crawled: Crawled) -> None:
    posts = {post.native_id: post for post in crawled.posts("page_example.html")}
    assert sorted(posts, key=lambda n: int(n.split("/")[1])) == [f"feedjam/{n}" for n in range(1, 8)]

    created = posts["feedjam/1"]  # the service message: no view counter
    assert (created.text, created.engagement.views) == ("Channel created", None)
    assert created.published_at == datetime(2023, 7, 29, 8, 50, 3, tzinfo=UTC)

    photo = posts["feedjam/3"]
    assert (photo.text, photo.media, photo.engagement.views) == ("test with images", ["photo"], 2)

    lorem = posts["feedjam/6"]
    assert lorem.url == "https://t.me/feedjam/6"
    assert lorem.id == "telegram:feedjam/6"
    assert lorem.published_at == datetime(2023, 7, 29, 8, 51, 51, tzinfo=UTC)
    assert lorem.author.model_dump() == {"id": "feedjam", "handle": "feedjam", "name": "feedjam"}
    assert lorem.engagement.views == 2
    assert lorem.text.startswith('The standard Lorem Ipsum passage, used since the 1500s\n"Lorem ipsum dolor sit amet, consectetur adipiscing elit,')
    assert '\n\nSection 1.10.32 of "de Finibus Bonorum et Malorum", written by Cicero in 45 BC\n"Sed ut perspiciatis' in lorem.text  # <br/><br/>
    assert (lorem.media, lorem.forwarded_from, lorem.reply_to) == ([], None, None)


def test_forwarded_photo_message(crawled: Crawled) -> None:
    post = crawled.post("any2feed_telegram_preview/message_media_forwarded_from.html", "oper_goblin/22358")
    assert post.text == "Британская разведка выяснила, почему Ким Чен Ын начал выводить дочку в свет"  # source line breaks are not <br>
    assert post.forwarded_from == "Пул N3"
    assert post.repost_of == "telegram:dimsmirnov175/44604"
    assert post.engagement.views == 214_400  # "214.4K"
    assert post.media == ["photo"]
    assert post.published_at == datetime(2023, 2, 27, 7, 20, 50, tzinfo=UTC)
    assert post.author.name == "Tynu40k Goblina (oper.ru)"
    assert post.language == "ru"


def test_album_with_hashtags_and_mention(crawled: Crawled) -> None:
    post = crawled.post("any2feed_telegram_preview/message_media_photo_and_video.html", "anna_news/46908")
    assert post.text == (
        "Ночью над Белгородом сбили 3 беспилотника\n\nОни упали на улицы города.\n\n"
        "Сообщается, что на себе БПЛА несли взрывчатку из пластида.\n\n#Белгород #Беспилотники\n\n@anna_news"
    )
    assert post.hashtags == ["белгород", "беспилотники"]
    assert "anna_news" in post.mentions
    assert post.media == ["photo", "video"]
    assert post.engagement.views == 59_500
    assert not any("?q=" in link for link in post.links)  # hashtag searches are not outbound links


def test_signature_voice_poll_and_document(crawled: Crawled) -> None:
    signed = crawled.post("any2feed_telegram_preview/message_with_from_author.html", "channel/4")
    assert (signed.author.name, signed.text, signed.engagement.views) == ("🅰️rkadiy Ivanov", "test", 1)

    voice = crawled.post("any2feed_telegram_preview/message_voice.html", "oper_goblin/939")
    assert voice.media == ["voice"]
    assert voice.forwarded_from == "Спортивный Екб"
    assert voice.repost_of is None  # the forward names a channel without a message link
    assert voice.text == "Обсудили:\n\n- Сталина не забыть\n- Плохие фильмы\n- Смешные переводы\nможно, матерные - нет\n\nСлушайте: @kakberadio\nПишите нам: @kakberadiobot"
    assert voice.engagement.views == 746
    assert voice.published_at == datetime(2018, 4, 24, 15, 28, 46, tzinfo=UTC)

    poll = crawled.post("any2feed_telegram_preview/message_poll.html", "it_begin/488")
    assert poll.text == "Как лучше?\n- Несколько постов в день\n- Один пост в несколько дней\n- Свой вариант в комментарии"
    assert (poll.media, poll.engagement.views) == (["poll"], 1_100)

    document = crawled.post("any2feed_telegram_preview/message_media_file.html", "oper_goblin/16936")
    assert document.media == ["document"]
    assert document.forwarded_from == "Кремлёвская прачка"
    assert document.repost_of == "telegram:kremlinprachka/20294"


def test_media_only_messages_and_link_previews(crawled: Crawled) -> None:
    round_video = crawled.post("any2feed_telegram_preview/message_media_round_video.html", "bolshiepushki/3495")
    assert (round_video.text, round_video.media, round_video.engagement.views) == ("", ["round_video"], 54_200)
    sticker = crawled.post("any2feed_telegram_preview/message_sticker.html", "channel/5")
    assert (sticker.text, sticker.media) == ("", ["sticker"])
    preview = crawled.post("any2feed_telegram_preview/message_link_preview.html", "oper_goblin/22360")
    assert preview.media == ["link_preview"]
    assert preview.links == ["https://vnnews.ru/georgiy-zotov-okkupaciya-volosatym-kr/"]
    assert preview.engagement.views == 226_200
