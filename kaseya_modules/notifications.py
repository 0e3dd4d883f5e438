"""The email after a sync: new module organizations yet to be mapped, to the Integrated Customer
Billing administrators who opted in."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .models import ModuleOrganization, SyncRun, SyncStatus

log = logging.getLogger(__name__)
PERMISSION = "kaseya_modules.manage_icb"


def new_unmapped(run: SyncRun):
    """Module organizations this run found for the first time that are still active, mapped to
    nobody and not ignored."""
    return ModuleOrganization.objects.filter(
        module_id=run.module_id,
        active=True,
        organization__isnull=True,
        ignored=False,
        first_seen_at__gte=run.started_at,
    )


def recipients() -> list[str]:
    """Email addresses of active users who opted in and still hold the ICB permission."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, sync_email_subscription__isnull=False)
        .exclude(email="")
        .filter(
            Q(is_superuser=True)
            | Q(user_permissions__codename="manage_icb")
            | Q(groups__permissions__codename="manage_icb")
        )
        .distinct()
    )
    return sorted(user.email for user in users if user.has_perm(PERMISSION))


def notify_after_sync(run_id: int) -> int:
    """Email the opted-in administrators about `run`'s new unmapped module organizations, once
    (the run is claimed with a conditional UPDATE). Returns how many addresses were mailed."""
    run = SyncRun.objects.select_related("module").filter(pk=run_id).first()
    if run is None or run.status != SyncStatus.SUCCEEDED or run.started_at is None:
        return 0
    count = new_unmapped(run).count()
    to = recipients()
    if not count or not to:
        return 0
    if not SyncRun.objects.filter(pk=run.pk, notified_at__isnull=True).update(
        notified_at=timezone.now()
    ):
        return 0
    module = run.module
    link = (
        settings.SITE_URL
        + reverse("kaseya_modules:map_by_module_organization")
        + f"?module={module.code}&status=unmapped"
    )
    waiting = ModuleOrganization.objects.mappable().filter(
        module=module, organization__isnull=True, ignored=False
    )
    noun = "organization" if count == 1 else "organizations"
    send_mail(
        subject=f"{module.name}: {count} new module {noun} to map",
        message=(
            f"The {module.name} sync of {timezone.localtime(run.started_at):%Y-%m-%d %H:%M} "
            f"found {count} new module {noun} that bill to nobody yet.\n"
            f"{waiting.count()} module organizations of {module.name} are yet to be mapped in "
            f"all.\n\nMap them: {link}\n\nYou get this email because you asked for it on the "
            f"Enable Integrated Customer Billing by Module page; untick it there to stop.\n"
        ),
        from_email=None,
        recipient_list=to,
    )
    log.info("Sync email for %s sent to %d addresses", module.code, len(to))
    return len(to)
