from django import forms

from yesladder.dashboard.services import LeadSearch
from yesladder.leads.models import Lead


class LeadSearchForm(forms.Form):
    q = forms.CharField(label="Email contains", required=False, max_length=254)
    segment = forms.ChoiceField(label="Segment", required=False)
    tag = forms.CharField(label="Tag", required=False, max_length=64)

    def __init__(self, *args, segments: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        # Only segments that exist can be asked for (the allow-list of threat 24).
        self.fields["segment"].choices = [("", "any"), *((name, name) for name in segments)]

    def search(self) -> LeadSearch:
        """The valid parts of what was asked; an invalid part filters nothing."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return LeadSearch(
            text=data.get("q", "").strip(), segment=data.get("segment", ""), tag=data.get("tag", "")
        )


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
