"""A scored, conditional assessment used by the scoring, page and browser tests: two paths
through it end in two tiers, with hand-computed scores (tests/test_quiz_scoring.py)."""

CHECKUP = """\
funnel: checkup
name: Pipeline checkup
steps:
  - key: guide
    kind: content
    title: The 5 leaks
    value: A short read
    cta: Take the checkup
    body: Five leaks, one page.
  - key: checkup
    kind: quiz
    title: How leaky is your pipeline?
    value: Your leak score and the one fix that pays off first
    cta: Continue
    categories:
      - key: speed
        title: Speed of follow-up
        fix: Answer every inbound lead within the hour.
      - key: habits
        title: Review habit
        fix: Review one lost deal a month.
        fix_by_tier: {leaky: Put a 30-minute lost-deal review in the calendar every Friday.}
    tiers:
      - key: leaky
        from: 0
        to: 50
        title: Your pipeline leaks
        body: Fix the first stage first.
        cta: Book the 15-minute fix call
      - {key: steady, from: 50, to: 80, title: Your pipeline holds, body: One soft spot left.}
      - {key: strong, from: 80, to: 100, title: Your pipeline is tight, body: Keep the habits.,
         cta: Read the playbook}
    questions:
      - key: follow-up
        text: How fast do you follow up on a new lead?
        category: speed
        options:
          - {key: minutes, label: Within minutes, points: 4}
          - {key: same-day, label: The same day, points: 2}
          - {key: days, label: A day or more, points: 0}
      - key: slow-why
        text: What keeps you from answering sooner?
        category: speed
        show_if: {question: follow-up, option: days}
        options:
          - {key: no-owner, label: Nobody owns new leads, points: 0}
          - {key: too-busy, label: We are too busy, points: 1}
      - key: channels
        text: Which channels do you answer on?
        type: multiple
        max_choices: 2
        category: speed
        options:
          - {key: email, label: Email, points: 1}
          - {key: phone, label: Phone, points: 2}
          - {key: chat, label: Chat, points: 1}
          - {key: none, label: None of these, points: 0}
      - key: review
        text: How well do you review lost deals (1 = never, 5 = every one)?
        type: scale
        scale: {min: 1, max: 5}
        category: habits
      - key: days
        text: How many days until a lost deal is reviewed?
        type: number
        category: habits
        ranges:
          - {min: 0, max: 7, points: 4}
          - {min: 8, max: 30, points: 2}
          - {min: 31, max: 365, points: 0}
    next:
      - when: {outcome: leaky}
        step: fix-call
      - step: playbook
  - key: fix-call
    kind: content
    title: The fix call
    value: What the call covers
    cta: Done
    body: The call.
    next: null
  - key: playbook
    kind: content
    title: The playbook
    value: The playbook
    cta: Done
    body: The playbook.
    next: null
"""

# Two ways through, with what they score by hand (see test_quiz_scoring).
STRONG = {"follow-up": "minutes", "channels": ["email"], "review": 4, "days": 3}
LEAKY = {"follow-up": "days", "slow-why": "too-busy", "channels": ["chat"], "review": 2, "days": 40}
