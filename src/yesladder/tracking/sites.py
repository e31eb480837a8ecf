"""Sites and their write keys: what the CLI and the admin both call."""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from yesladder.tracking.models import Site, WriteKey


class InvalidOrigin(ValueError):
    pass


def normalise_origin(text: str) -> str:
    """`https://blog.example.com` (scheme, host, port; no path), as browsers send Origin."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidOrigin(f"{text!r} is not an origin; write it like https://blog.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise InvalidOrigin(f"{text!r} has more than an origin: drop the path, like "
                            f"{parts.scheme}://{parts.netloc}")  # fmt: skip
    return f"{parts.scheme}://{parts.netloc}".lower()


def create_key(site_name: str, origins: list[str]) -> WriteKey:
    """A new write key for the site (made on first use), allowing these browser origins."""
    allowed = [normalise_origin(o) for o in origins]
    with transaction.atomic():
        site, _ = Site.objects.select_for_update().get_or_create(name=site_name.strip()[:100])
        add_origins(site, allowed)
        return WriteKey.objects.create(site=site)


def add_origins(site: Site, origins: list[str]) -> None:
    merged = list(dict.fromkeys([*site.origins, *(normalise_origin(o) for o in origins)]))
    if merged != site.origins:
        site.origins = merged
        site.save(update_fields=["origins"])


def remove_origins(site: Site, origins: list[str]) -> None:
    gone = {normalise_origin(o) for o in origins}
    site.origins = [o for o in site.origins if o not in gone]
    site.save(update_fields=["origins"])


def revoke_key(key: str) -> WriteKey | None:
    """Revoke; the key stops working in every process within a few seconds."""
    found = WriteKey.objects.filter(key=key.strip()).select_related("site").first()
    if found is not None and found.revoked_at is None:
        found.revoked_at = timezone.now()
        found.save(update_fields=["revoked_at"])
    return found


def snippet_tag(key: WriteKey, base_url: str = "") -> str:
    """What a site pastes into its pages."""
    base = (base_url or settings.BASE_URL or "http://127.0.0.1:8000").rstrip("/")
    return f'<script src="{base}/static/yesladder/yl.js" data-key="{key.key}" defer></script>'
