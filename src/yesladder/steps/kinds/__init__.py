"""What each step kind shows and what it does with a visitor's answer: the one registry of the
twelve kinds, each a `context` (what its page shows) and a `submit` (what a POST does).

Views stay thin: they resolve the `Page`, then call `context` to render and `submit` on POST.
Everything a visitor sends is validated in the kind's module and answered with a message on
the same page. The modules go by what a step asks of the visitor: `reading` (content, video),
`optins` (optin, magnet), `questions` (quiz, poll, form), `sharing` (share), `time_and_money`
(event, booking, offer, checkout); `fields` asks for personal fields, `base` is shared.
"""

from yesladder.steps.kinds import optins, questions, reading, sharing, time_and_money
from yesladder.steps.kinds.base import Kind

KINDS: dict[str, Kind] = {
    "content": Kind(reading.content_context, reading.content_submit),
    "video": Kind(reading.video_context, reading.video_submit),
    "optin": Kind(optins.optin_context, optins.optin_submit),
    "magnet": Kind(optins.magnet_context, optins.magnet_submit),
    "quiz": Kind(questions.quiz_context, questions.quiz_submit),
    "poll": Kind(questions.poll_context, questions.poll_submit),
    "form": Kind(questions.form_context, questions.form_submit, questions.form_skips),
    "share": Kind(sharing.share_context, sharing.share_submit),
    "event": Kind(time_and_money.event_context, time_and_money.event_submit),
    "booking": Kind(
        questions.with_assessment(time_and_money.booking_context), time_and_money.booking_submit
    ),
    "offer": Kind(time_and_money.offer_context, time_and_money.offer_submit),
    "checkout": Kind(time_and_money.checkout_context, time_and_money.checkout_submit),
}
