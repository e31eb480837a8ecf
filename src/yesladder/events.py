"""The one place that defines event names. Pages, the tracking API and automation all use it."""

from enum import StrEnum


class EventName(StrEnum):
    STEP_VIEWED = "step_viewed"
    CTA_CLICKED = "cta_clicked"
    STEP_COMPLETED = "step_completed"
    OPTED_IN = "opted_in"
    OPTIN_CONFIRMED = "optin_confirmed"
    FIELDS_GIVEN = "fields_given"
    ANSWERED = "answered"
    QUIZ_COMPLETED = "quiz_completed"
    RESULT_EMAILED = "result_emailed"
    POLL_ANSWERED = "poll_answered"
    DOWNLOADED = "downloaded"
    VIDEO_PROGRESS = "video_progress"
    READ_PROGRESS = "read_progress"
    SHARED = "shared"
    REFERRAL_ARRIVED = "referral_arrived"
    # The steps that take time and money (issue 4).
    REGISTERED = "registered"
    ATTENDED = "attended"
    BOOKED = "booked"
    CANCELLED = "cancelled"
    CHECKOUT_STARTED = "checkout_started"
    PAID = "paid"
    INSTALMENT_PAID = "instalment_paid"
    REFUNDED = "refunded"
    TRIAL_CONVERTED = "trial_converted"
    # The buyer (or staff) stopped the later charges of an order (issue 31): during a trial,
    # or after it when the offer allows it.
    TRIAL_CANCELLED = "trial_cancelled"
    # A later charge failed (with the provider's reason; `final` after the last retry) and a
    # retry that paid it: the order is back on schedule.
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_RECOVERED = "payment_recovered"
    # Whether a booked call happened, as its host (or staff) marked it (issue 31).
    CALL_ATTENDED = "call_attended"
    CALL_NO_SHOW = "call_no_show"
    # A registered seat that stayed empty, as staff marked it after the session (attending
    # is `attended`, from the join link or staff's mark).
    WEBINAR_NO_SHOW = "webinar_no_show"
    CONVERTED = "converted"
    # A person's first sight of an experiment (issue 20): the denominator of its results,
    # recorded once per person as their journey starts in their variant's ladder.
    EXPOSED = "experiment_exposed"
    # The tracking API's own calls (Segment spec); a track call's name goes in Event.label.
    TRACKED = "tracked"
    PAGE_VIEWED = "page_viewed"
    SCREEN_VIEWED = "screen_viewed"
    IDENTIFIED = "identified"
    ALIASED = "aliased"
    GROUPED = "grouped"
