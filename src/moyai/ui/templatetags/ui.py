"""Template helpers: widgets wired to their help text and error message (aria-describedby)."""

from __future__ import annotations

from django import forms, template
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def widget(field: forms.BoundField) -> SafeString:
    """The field's widget with ``aria-describedby`` (help, error) and ``aria-invalid``."""
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}_help")
    if field.errors:
        ids.append(f"{field.auto_id}_error")
    attrs: dict[str, str | bool] = {}
    if ids:
        attrs["aria-describedby"] = " ".join(ids)
    if field.errors:
        attrs["aria-invalid"] = "true"
    if field.field.required and not isinstance(field.field.widget, forms.CheckboxSelectMultiple | forms.RadioSelect):
        attrs["required"] = "required"
    return SafeString(field.as_widget(attrs=attrs))


@register.filter
def is_choice_group(field: forms.BoundField) -> bool:
    return isinstance(field.field.widget, forms.CheckboxSelectMultiple | forms.RadioSelect)


@register.filter
def is_checkbox(field: forms.BoundField) -> bool:
    return isinstance(field.field.widget, forms.CheckboxInput)
