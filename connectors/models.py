import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q

from . import passwords


def new_guid() -> str:
    return "{" + str(uuid.uuid4()).upper() + "}"


QBXML_VERSIONS = [(v, v) for v in ("13.0", "12.0", "11.0", "10.0", "8.0")]

# Lets both bare user names and e-mail-like ones through, and nothing QBWC would choke on.
username_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,149}$",
    "Use letters, digits and . _ @ + - only (no spaces).",
)


def same_company_file(a: str, b: str) -> bool:
    """Whether two company-file paths name the same file: Windows paths, so case-insensitive."""
    return a.strip().casefold() == b.strip().casefold()


class WebConnectorQuerySet(models.QuerySet):
    def naming_company_file(self, path: str):
        """Connectors whose company file is `path` (compared case-insensitively)."""
        return self.filter(company_file__iexact=path.strip())

    def default(self):
        """The default connector, or None when no connector exists yet."""
        return self.filter(is_default=True).first()

    def mappable(self):
        """Connectors an organization may be mapped to: active and not the default."""
        return self.filter(active=True, is_default=False)


class WebConnector(models.Model):
    """One QuickBooks Web Connector, tied to one QuickBooks company file."""

    name = models.CharField(max_length=100, unique=True)
    company_file = models.CharField(
        "QuickBooks company file",
        max_length=500,
        blank=True,
        help_text=r"Full path, e.g. C:\Users\Public\Documents\Intuit\QuickBooks\Acme.QBW. "
        "Leave blank to record the file QuickBooks has open when the Web Connector first "
        "connects.",
    )
    # A path QuickBooks reported that differs from company_file; nothing is sent until an admin
    # accepts it (a moved file) or QuickBooks opens the right one.
    pending_company_file = models.CharField(
        "reported company file", max_length=500, blank=True, editable=False
    )
    username = models.CharField(
        "QBWC user name", max_length=150, unique=True, validators=[username_validator]
    )
    password = models.CharField(max_length=256, editable=False)
    owner_id = models.CharField("OwnerID", max_length=38, default=new_guid, editable=False)
    file_id = models.CharField("FileID", max_length=38, default=new_guid, editable=False)
    run_every_minutes = models.PositiveSmallIntegerField(
        "run every (minutes)",
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
    )
    qbxml_version = models.CharField(
        "qbXML version", max_length=8, choices=QBXML_VERSIONS, default="13.0"
    )
    active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WebConnectorQuerySet.as_manager()

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="one_default_web_connector",
                violation_error_message="There can be only one default web connector.",
            )
        ]
        permissions = [("configure_quickbooks", "Can configure the QuickBooks Extension")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # The first connector becomes the default, in the model so every path (forms, admin,
        # scripts) gets it. Two first connectors created at once both try; the partial unique
        # constraint lets exactly one win and the other is saved as a plain connector.
        if self._state.adding and not self.is_default:
            if not WebConnector.objects.filter(is_default=True).exists():
                self.is_default = True
                try:
                    with transaction.atomic():
                        super().save(*args, **kwargs)
                    return
                except IntegrityError:
                    if WebConnector.objects.filter(is_default=True).exists():
                        self.is_default = False
                    else:
                        raise
        super().save(*args, **kwargs)

    def clean(self):
        # For a connector left blank, the path recorded at first contact counts: it is stored
        # in company_file, so this check covers it too.
        if self.company_file:
            other = (
                WebConnector.objects.naming_company_file(self.company_file)
                .exclude(pk=self.pk)
                .first()
            )
            if other is not None:
                raise ValidationError({"company_file": company_file_taken(other)})

    def delete(self, *args, **kwargs):
        from .services import check_connector_deletable

        check_connector_deletable(self)
        return super().delete(*args, **kwargs)

    def set_password(self, raw_password: str) -> None:
        """Store `raw_password` as a keyed hash (connectors/passwords.py); call save() after."""
        self.password = passwords.keyed_hash(raw_password)

    def check_password(self, raw_password: str) -> bool:
        """Whether `raw_password` is this connector's password. A hash from before keyed hashing
        (or under a retired key) that matches is re-stored under the current key at once."""
        ok, upgrade = passwords.matches(raw_password, self.password or "")
        if ok and upgrade and self.pk:
            self.set_password(raw_password)
            WebConnector.objects.filter(pk=self.pk).update(password=self.password)
        return ok


def company_file_taken(other: WebConnector) -> str:
    return (
        f"{other.name} already uses this QuickBooks company file. Associate each web connector "
        "with a different QuickBooks company file."
    )


class OrganizationConnectorMapping(models.Model):
    """An organization sent to a non-default connector. No row means: the default connector."""

    organization = models.OneToOneField(
        "organizations.Organization", on_delete=models.CASCADE, related_name="connector_mapping"
    )
    connector = models.ForeignKey(WebConnector, on_delete=models.PROTECT, related_name="mappings")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name"]
        verbose_name = "organization / web connector mapping"

    def __str__(self):
        return f"{self.organization} → {self.connector}"

    def clean(self):
        from .services import validate_mapping

        if self.organization_id and self.connector_id:
            validate_mapping(self.organization, self.connector)


class MappingChange(models.Model):
    """History: every change of the connector an organization is sent to."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="connector_changes"
    )
    old_connector = models.ForeignKey(
        WebConnector, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    new_connector = models.ForeignKey(
        WebConnector, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Names kept as text so history still reads right after a connector is renamed or deleted.
    old_connector_name = models.CharField(max_length=100)
    new_connector_name = models.CharField(max_length=100)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self):
        return f"{self.organization}: {self.old_connector_name} → {self.new_connector_name}"
