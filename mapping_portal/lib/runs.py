"""What every sync run records, whatever it syncs: who asked, when it was queued, started and
finished, how it ended, what it fetched and changed, and why it failed."""

from django.conf import settings
from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class RunQuerySet(models.QuerySet):
    def in_progress(self):
        """Runs queued or running."""
        return self.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])


class Run(models.Model):
    """The fields and properties a sync run shares; a subclass adds its trigger and its counts."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    pages_fetched = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField("updated", default=0)
    deactivated_count = models.PositiveIntegerField("deactivated", default=0)
    unchanged_count = models.PositiveIntegerField("unchanged", default=0)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["-queued_at", "-pk"]

    @property
    def in_progress(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None
