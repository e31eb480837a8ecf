from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def page_query(context, param: str, number: int) -> str:
    """The current query string with page parameter `param` set to `number`: a page with
    several listings pages each one on its own parameter and keeps the filters."""
    params = context.request.GET.copy()
    params[param] = number
    return f"?{params.urlencode()}"


@register.filter
def diff_class(line: str) -> str:
    """How a line of a unified diff is shown: added, removed, a hunk's header, or context."""
    if line.startswith(("+++", "---")):
        return "file"
    return {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
