"""Known bots by user agent. Bot traffic is flagged, never dropped, and not counted in funnels."""

import re

BOT_PATTERN = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|headlesschrome|phantomjs|puppeteer|playwright|"
    r"curl/|wget/|python-requests|python-urllib|httpx|aiohttp|go-http-client|java/|okhttp|"
    r"libwww|scrapy|facebookexternalhit|preview|monitor|uptime|lighthouse|pingdom",
    re.IGNORECASE,
)


def is_bot(user_agent: str) -> bool:
    return not user_agent.strip() or bool(BOT_PATTERN.search(user_agent))
