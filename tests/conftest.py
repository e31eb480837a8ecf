import copy

import pytest
import yaml

from yesladder.funnels.spec import parse_spec

CLEAN_FUNNEL = {
    "funnel": "clean",
    "name": "A clean ladder",
    "steps": [
        {
            "key": "guide",
            "kind": "content",
            "title": "Guide",
            "value": "A short read",
            "cta": "Get the checklist",
            "body": "# Guide\n\nUseful words.",
        },
        {
            "key": "checklist",
            "kind": "magnet",
            "title": "Checklist",
            "value": "A checklist",
            "cta": "Send me the checklist",
            "ask": {"fields": ["email"]},
            "asset": {"name": "Checklist", "url": "https://example.com/checklist.pdf"},
        },
        {
            "key": "score",
            "kind": "quiz",
            "title": "Score",
            "value": "Your score",
            "cta": "Show my score",
            "questions": [
                {
                    "key": "q1",
                    "text": "Question?",
                    "options": [
                        {"key": "a", "label": "A", "scores": {"high": 1}},
                        {"key": "b", "label": "B", "scores": {"low": 1}},
                    ],
                }
            ],
            "outcomes": [
                {"key": "high", "title": "High", "body": "You score high."},
                {"key": "low", "title": "Low", "body": "You score low."},
            ],
        },
        {
            "key": "call",
            "kind": "booking",
            "title": "Call",
            "value": "A plan in 15 minutes",
            "cta": "Pick a slot",
            "timezone": "Europe/Berlin",
            "availability": {"mon": ["09:00-12:00"]},
            "agenda": {"will": ["Review your score"], "will_not": ["No pitch"]},
            "hosts": [{"name": "Ann", "email": "ann@example.com"}],
        },
        {
            "key": "program",
            "kind": "offer",
            "title": "Program",
            "value": "The program",
            "cta": "Start the program",
            "price": 290,
            "guarantee": {"days": 30},
            "macro": True,
        },
    ],
}


def funnel_dict() -> dict:
    return copy.deepcopy(CLEAN_FUNNEL)


def sourced_from(data: dict, file: str = "funnel.yaml"):
    return parse_spec(yaml.safe_dump(data, sort_keys=False), file)


@pytest.fixture
def clean():
    return funnel_dict()
