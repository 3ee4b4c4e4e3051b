"""The original's model: an issue whose two users are foreign keys to auth_user.username."""
from django.contrib.auth.models import User
from django.db import models


class Issue(models.Model):
    STATUS = (("open", "open"), ("closed", "closed"))
    title = models.CharField(max_length=50)
    description = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=STATUS, default="open")
    assigned_to = models.ForeignKey(
        User, to_field="username", related_name="assigned", on_delete=models.CASCADE
    )
    created_by = models.ForeignKey(
        User, to_field="username", related_name="created", on_delete=models.CASCADE
    )

    class Meta:
        app_label = "issuetracker"
