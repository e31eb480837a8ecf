"""Known bots by user agent. Bot traffic is flagged, never dropped, and not counted in funnels."""

import re
from functools import lru_cache

BOT_PATTERN = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|headlesschrome|phantomjs|puppeteer|playwright|"
    r"curl/|wget/|python-requests|python-urllib|httpx|aiohttp|go-http-client|java/|okhttp|"
    r"libwww|scrapy|facebookexternalhit|preview|monitor|uptime|lighthouse|pingdom",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)  # a handful of agents send nearly all traffic
def is_bot(user_agent: str) -> bool:
    return not user_agent.strip() or bool(BOT_PATTERN.search(user_agent))
