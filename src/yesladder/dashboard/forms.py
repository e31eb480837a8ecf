import datetime as dt

from django import forms
from django.http import QueryDict

from yesladder.analytics.report import FIRST_DAY, LAST_DAY, TOUCHES
from yesladder.analytics.store import DIMENSIONS
from yesladder.dashboard.reports import FunnelQuery
from yesladder.dashboard.services import LeadSearch, funnel_keys, segment_names
from yesladder.leads.models import Lead


class DayInput(forms.DateInput):
    input_type = "date"  # the browser's date picker; it sends YYYY-MM-DD

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


class LeadSearchForm(forms.Form):
    q = forms.CharField(label="Email contains", required=False, max_length=254)
    funnel = forms.ChoiceField(label="Funnel", required=False)
    segment = forms.ChoiceField(label="Segment", required=False)
    tag = forms.CharField(label="Tag", required=False, max_length=64)
    score_min = forms.FloatField(label="Score from", required=False, min_value=-1e9,
                                 max_value=1e9)  # fmt: skip
    score_max = forms.FloatField(label="to", required=False, min_value=-1e9, max_value=1e9)
    status = forms.ChoiceField(label="Consent", required=False,
                               choices=[("", "any"), *Lead.Status.choices])  # fmt: skip
    source = forms.CharField(label="First source", required=False, max_length=200)
    since = forms.DateField(label="Created from", required=False, widget=DayInput())
    until = forms.DateField(label="to", required=False, widget=DayInput())

    def __init__(self, *args, segments: list[str], funnels: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        # Only segments and funnels that exist can be asked for (the allow-list of threat 24).
        self.fields["segment"].choices = [("", "any"), *((name, name) for name in segments)]
        self.fields["funnel"].choices = [("", "any"), *((key, key) for key in funnels)]

    @classmethod
    def asked(cls, query) -> "LeadSearchForm":
        return cls(query or None, segments=segment_names(), funnels=funnel_keys())

    def search(self) -> LeadSearch:
        """The valid parts of what was asked; an invalid part filters nothing (and says why
        next to its field)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return LeadSearch(
            text=data.get("q", "").strip(), segment=data.get("segment", ""),
            tag=data.get("tag", "").strip(), funnel=data.get("funnel", ""),
            score_min=data.get("score_min"), score_max=data.get("score_max"),
            status=data.get("status", ""), source=data.get("source", "").strip(),
            since=data.get("since"), until=data.get("until"),
        )  # fmt: skip


class EraseForm(forms.Form):
    """Erasure cannot be undone: the operator types the address to say they mean this lead."""

    confirm = forms.CharField(label="Type the lead's email address to confirm", max_length=254)

    def __init__(self, *args, lead: Lead, **kwargs):
        super().__init__(*args, **kwargs)
        self.lead = lead

    def clean_confirm(self) -> str:
        typed = self.cleaned_data["confirm"].strip().lower()
        if typed != self.lead.email:
            raise forms.ValidationError("That is not this lead's address; nothing was erased.")
        return typed


class FunnelReportForm(forms.Form):
    """A funnel report's question, from the query string. Every part is optional: an empty
    form asks for all time, every version, first touch."""

    since = forms.DateField(label="Entered from", required=False, widget=DayInput())
    until = forms.DateField(label="to", required=False, widget=DayInput())
    by = forms.ChoiceField(label="Break down by", required=False,
                           choices=[("", "nothing"), *((d, d) for d in DIMENSIONS)])  # fmt: skip
    touch = forms.ChoiceField(label="Credit", required=False,
                              choices=[(t, f"{t} touch") for t in TOUCHES])  # fmt: skip
    version = forms.TypedChoiceField(label="Version", required=False, coerce=int,
                                     empty_value=None)  # fmt: skip

    def __init__(self, *args, versions: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        # Only the funnel's own versions and the allow-listed dimensions can be asked for.
        choices = [("", "all versions"), *((str(n), f"v{n}") for n in versions)]
        self.fields["version"].choices = choices

    def clean(self):
        data = super().clean()
        for name in ("since", "until"):
            day = data.get(name)
            if day and not FIRST_DAY <= day <= LAST_DAY:
                self.add_error(name, f"Choose a day from {FIRST_DAY} to {LAST_DAY}.")
        since, until = data.get("since"), data.get("until")
        if since and until and since > until and not self.errors:
            self.add_error("until", "The range ends before it starts.")
        return data

    def query(self) -> FunnelQuery:
        """The question asked; only for a valid form."""
        data = self.cleaned_data
        return FunnelQuery(version=data["version"], since=data["since"], until=data["until"],
                           by=data["by"] or None, touch=data["touch"] or "first")  # fmt: skip

    def query_string(self) -> str:
        """The valid question as "?since=…" (anything else asked is left out; "" for none), for
        the chart and the downloads to answer the same question."""
        params = QueryDict(mutable=True)
        for name, value in self.cleaned_data.items():
            if value not in (None, ""):
                params[name] = value.isoformat() if isinstance(value, dt.date) else str(value)
        return f"?{params.urlencode()}" if params else ""


class EditorForm(forms.Form):
    """What the ladder editor posts: the text, the version it was started from, and the
    person's answers to what a publish asked (confirm the warnings; publish over a newer
    version whose changes they read)."""

    text = forms.CharField(label="Spec (YAML)", strip=False, max_length=1_000_000,
                           widget=forms.Textarea)  # fmt: skip
    based_on = forms.IntegerField(required=False, min_value=1)
    confirm = forms.BooleanField(required=False, label="Publish even with warnings")
    over = forms.IntegerField(required=False, min_value=1)
    action = forms.ChoiceField(choices=[(a, a) for a in ("check", "publish", "discard")],
                               required=False)  # fmt: skip

    def started_from(self) -> int | None:
        """The version the text is based on: the one it was started from, or the newer one
        the person said they took into account."""
        data = self.cleaned_data
        return data["over"] or data["based_on"]


class RollbackForm(forms.Form):
    # The newest version when the page was shown: a rollback over a newer one is refused.
    current = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class CompareForm(forms.Form):
    a = forms.TypedChoiceField(label="From", coerce=int)
    b = forms.TypedChoiceField(label="to", coerce=int)

    def __init__(self, *args, numbers: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("a", "b"):
            self.fields[name].choices = [(str(n), f"version {n}") for n in numbers]


class ExperimentActionForm(forms.Form):
    variant = forms.ChoiceField(label="Variant", widget=forms.RadioSelect)

    def __init__(self, *args, variants: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["variant"].choices = [(v, v) for v in variants]


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file (UTF-8, a column named email)")
    consent = forms.CharField(
        label="Consent basis of this list", required=False, max_length=500,
        help_text="What these people agreed to, and where; recorded on each lead with the "
        "file's name and your name. Left empty: the leads are kept and get no marketing email.",
    )  # fmt: skip
    tag = forms.CharField(label="Tag every lead imported", required=False, max_length=64)


class ImportRunForm(forms.Form):
    """The second step: the staged file, what the person chose, one mapping per column."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=22)
    name = forms.CharField(widget=forms.HiddenInput, max_length=255)
    consent = forms.CharField(label="Consent basis", required=False, max_length=500)
    tag = forms.CharField(label="Tag", required=False, max_length=64)

    def __init__(self, *args, header: tuple[str, ...] = (), choices: list[str] = (),
                 mapping: list[str] = (), **kwargs):  # fmt: skip
        super().__init__(*args, **kwargs)
        for i, name in enumerate(header):
            self.fields[f"col{i}"] = forms.ChoiceField(
                label=name or f"column {i + 1}", choices=[(c, c) for c in choices],
                initial=mapping[i] if i < len(mapping) else "ignore",
            )  # fmt: skip

    def mapping(self) -> list[str]:
        return [value for name, value in self.cleaned_data.items() if name.startswith("col")]

    def columns(self):
        return [self[name] for name in self.fields if name.startswith("col")]


class BulkTagForm(forms.Form):
    tag = forms.CharField(label="Tag", max_length=64)
    change = forms.ChoiceField(choices=[("add", "add"), ("remove", "remove")])


class LeadActionForm(forms.Form):
    ACTIONS = ("tag", "untag", "unsubscribe", "suppress", "resend", "start", "stop")
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    tag = forms.CharField(required=False, max_length=64)
    automation = forms.CharField(required=False, max_length=200)  # "funnel/key"
    run = forms.IntegerField(required=False, min_value=1)
