from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """Look a key up in a dict from a template (form values and errors by field key)."""
    return (mapping or {}).get(key, "")
