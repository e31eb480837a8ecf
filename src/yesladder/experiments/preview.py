"""Staff preview of any variant's ladder by a signed link (the dashboard's experiments page
makes them): the link names a version, signed with the project's secret under a salt of its
own and good for PREVIEW_AGE. It only shows pages: it never makes a journey, an exposure or an
event, and nothing a visitor sends (a cookie, a query, a forged or old link) chooses a variant."""

from django.core import signing

from yesladder.funnels.models import FunnelVersion

SALT = "yesladder.experiments.preview"
PREVIEW_AGE = 24 * 3600  # seconds a preview link works


def token(version_id: int) -> str:
    return signing.dumps({"v": version_id}, salt=SALT)


def version_of(token: str) -> FunnelVersion | None:
    """The version a preview link shows; None when the link is forged, expired or names a
    version no experiment walks."""
    try:
        claim = signing.loads(token, salt=SALT, max_age=PREVIEW_AGE)
    except signing.BadSignature:  # an expired link too
        return None
    pk = claim.get("v") if isinstance(claim, dict) else None
    version = FunnelVersion.objects.select_related("funnel").filter(pk=pk).first()
    if version is None or not (version.variant or version.spec.experiments):
        return None
    return version
