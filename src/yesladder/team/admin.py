"""The admin's Users page, with role changes in the audit trail: a user's groups (or its
superuser flag, which makes an owner) changed there are recorded as the Team page's are, by
whoever saved the form, before -> after."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from yesladder.team import roles
from yesladder.team.audit import Actor

User = get_user_model()


class AuditedUserAdmin(UserAdmin):
    def save_model(self, request, obj, form, change):
        # The user as stored, before this form's changes reach the database.
        stored = User.objects.filter(pk=obj.pk).first() if change else None
        obj.role_before = roles.standing(stored)  # on the object: one admin serves every thread
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # the groups are saved here
        user = form.instance
        roles.record_change(user, getattr(user, "role_before", roles.standing(None)),
                            Actor.of(request.user))  # fmt: skip


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
